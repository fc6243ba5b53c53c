"""The Performer resource (hourglass.eigenlayer.io/v1alpha1) as the executor writes and reads it:
the body created for a PerformerSpec, the spec read back from a resource (adoption), readiness, and
the address to dial from the status the operator writes. Pure functions over raw dicts; the API
calls are in `backend`, the watch in `watch`.

The body is the one an upstream (Go) executor writes (upstream contract §3: name
`performer-<h6>-<u8>`, the three upstream labels, `spec.config` with grpcPort, environment and
environmentFrom) plus the label `hourglass.eigenlayer.io/executor: <owner id>`, which marks the
Performers one executor owns. One difference on purpose: upstream sets `imagePullPolicy: Never`
because it side-loads images into the nodes; here the policy is the backend's option.

The address to dial is the operator's `status.grpcEndpoint` (the Service's DNS name, without a
port) with the Performer's `spec.config.grpcPort`: the executor does not rebuild the DNS name.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from hourglass_executor.performers.base import BackendError, EnvVar, NotReadyError, PerformerSpec
from hourglass_executor.validation import is_label_value

Obj = dict[str, Any]

PLURAL = "performers"
KIND = "Performer"
LABEL_APP = "app"
APP = "hourglass-performer"
LABEL_AVS = "hourglass.eigenlayer.io/avs"
LABEL_PERFORMER = "hourglass.eigenlayer.io/performer"
LABEL_EXECUTOR = "hourglass.eigenlayer.io/executor"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_GRPC_PORT = 8080  # the operator's port when a Performer has no spec.config (upstream's fallback)


def performer_name(avs_address: str) -> str:
    """`performer-<h6>-<u8>` as upstream executors name Performers (25 characters)."""
    h6 = hashlib.sha256(avs_address.lower().encode()).hexdigest()[:6]
    return f"performer-{h6}-{uuid.uuid4().hex[:8]}"


def owner_selector(owner_id: str) -> str:
    """The label selector of the Performers the executor `owner_id` owns."""
    return f"{LABEL_EXECUTOR}={owner_id}"


def _environment(spec: PerformerSpec, grpc_port: int) -> tuple[dict[str, str], list[Obj]]:
    """`spec.config.environment` (literal values) and `spec.config.environmentFrom` (references)."""
    literal = {"AVS_ADDRESS": spec.avs_address, "GRPC_PORT": str(grpc_port)}
    references: list[Obj] = []
    for env in spec.env:
        if env.secret_key_ref and env.config_map_key_ref:
            raise BackendError(f"env {env.name}: set at most one of secret_key_ref, config_map_key_ref")
        if env.secret_key_ref or env.config_map_key_ref:
            kind, (name, key) = (
                ("secretKeyRef", env.secret_key_ref)
                if env.secret_key_ref
                else ("configMapKeyRef", env.config_map_key_ref)
            )
            references.append({"name": env.name, "valueFrom": {kind: {"name": name, "key": key}}})
        else:
            literal[env.name] = env.value or ""
    return literal, references


def performer_body(
    name: str, spec: PerformerSpec, *, api_version: str, owner_id: str, grpc_port: int, pull_policy: str
) -> Obj:
    """The Performer resource for `spec` (upstream contract §3 plus the owner label)."""
    environment, environment_from = _environment(spec, grpc_port)
    config: Obj = {"grpcPort": grpc_port, "environment": environment}
    if environment_from:
        config["environmentFrom"] = environment_from
    if spec.service_account_name:
        config["serviceAccountName"] = spec.service_account_name
    return {
        "apiVersion": api_version,
        "kind": KIND,
        "metadata": {
            "name": name,
            "labels": {
                LABEL_APP: APP,
                LABEL_AVS: spec.avs_address,
                LABEL_PERFORMER: name,
                LABEL_EXECUTOR: owner_id,
            },
        },
        "spec": {
            "avsAddress": spec.avs_address,
            "image": spec.image,
            "imagePullPolicy": pull_policy,
            "version": spec.tag,
            "config": config,
        },
    }


def _split_image(image: str, version: str) -> tuple[str, str, str | None]:
    """(repository, tag, digest) of an image reference; a digest reference's tag is `version`."""
    reference, _, digest = image.partition("@")
    name = reference.rsplit("/", 1)[-1]
    repository, tag = reference.rsplit(":", 1) if ":" in name else (reference, "")
    if digest:
        return repository, version or tag, digest
    return repository, tag or version or "latest", None


def spec_from_resource(obj: Obj) -> PerformerSpec:
    """The PerformerSpec a Performer resource was created from (as far as the resource tells)."""
    spec = obj.get("spec") or {}
    config = spec.get("config") or {}
    avs = spec.get("avsAddress", "")
    port = str(config.get("grpcPort", DEFAULT_GRPC_PORT))
    generated = {"AVS_ADDRESS": avs, "GRPC_PORT": port}
    env = [
        EnvVar(name, value=value)
        for name, value in (config.get("environment") or {}).items()
        if generated.get(name) != value
    ]
    for entry in config.get("environmentFrom") or []:
        source = entry.get("valueFrom") or {}
        if ref := source.get("secretKeyRef"):
            env.append(EnvVar(entry["name"], secret_key_ref=(ref.get("name", ""), ref.get("key", ""))))
        elif ref := source.get("configMapKeyRef"):
            env.append(EnvVar(entry["name"], config_map_key_ref=(ref.get("name", ""), ref.get("key", ""))))
    repository, tag, digest = _split_image(spec.get("image", ""), spec.get("version") or "")
    return PerformerSpec(
        avs_address=avs,
        repository=repository,
        tag=tag,
        digest=digest,
        env=tuple(env),
        service_account_name=config.get("serviceAccountName"),
    )


def status_endpoint(obj: Obj) -> str:
    """The address to dial, "host:port": the operator's status.grpcEndpoint and the Performer's
    grpcPort; "" while the status has no endpoint."""
    host = (obj.get("status") or {}).get("grpcEndpoint") or ""
    if not host:
        return ""
    port = ((obj.get("spec") or {}).get("config") or {}).get("grpcPort") or DEFAULT_GRPC_PORT
    return f"{host}:{port}"


def _status_is_current(obj: Obj) -> bool:
    """Whether the status was written for the current spec (operators that do not write
    observedGeneration, like upstream's, are taken at their word)."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed is None or observed == obj["metadata"].get("generation")


def is_ready(obj: Obj) -> bool:
    """Whether the operator reports the Performer ready for its current spec (its pod Running and
    Ready), and it is not being deleted."""
    status = obj.get("status") or {}
    return (
        status.get("ready") is True
        and not obj["metadata"].get("deletionTimestamp")
        and _status_is_current(obj)
    )


def describe_status(obj: Obj, *, needs_endpoint: bool = False) -> str:
    """The phase and the messages of the Ready and Reconciled conditions, for error messages (and,
    when the address comes from the status, that it has none yet)."""
    status = obj.get("status") or {}
    parts = [f"phase {status.get('phase') or 'not reported yet'}"]
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Ready", "Reconciled") and condition.get("message"):
            parts.append(f"{condition['type']}: {condition.get('reason', '')} {condition['message']}".strip())
    if needs_endpoint and is_ready(obj) and not status_endpoint(obj):
        parts.append("ready, but status.grpcEndpoint is not reported yet")
    return "; ".join(parts)


def _pod_being_replaced(obj: Obj) -> bool:
    """Whether a Failed Performer only waits for the operator to replace its pod, which ended
    (evicted, rejected by its node): the Ready condition says `PodFailed` while the Reconciled
    condition says the reconcile succeeded. An operator that writes no conditions (upstream's, which
    never replaces an ended pod) is taken at its word: Failed."""
    conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    return (conditions.get("Ready") or {}).get("reason") == "PodFailed" and (
        conditions.get("Reconciled") or {}
    ).get("status") == "True"


# What the API server's ResourceQuota admission says when it refuses a pod or Service.
QUOTA_REFUSALS = ("exceeded quota", "failed quota", "status unknown for quota")


def _waiting_for_quota(obj: Obj) -> bool:
    """Whether a Failed Performer only waits for room in a ResourceQuota: its Reconciled condition
    says a quota refused its pod or Service. The operator retries it as soon as a quota of its
    namespace makes room (a deploy beside another one's, sharing the quota, gets it once that one's
    old performer goes)."""
    conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    reconciled = conditions.get("Reconciled") or {}
    message = reconciled.get("message") or ""
    return reconciled.get("status") == "False" and any(refusal in message for refusal in QUOTA_REFUSALS)


def readiness(obj: Obj, where: str, *, needs_endpoint: bool) -> Obj | None:
    """The object when it is ready (with a status.grpcEndpoint, when `needs_endpoint`: the address
    to dial comes from there), None while it may still become so; NotReadyError when it cannot
    (being deleted, or going with its namespace: phase Terminating; or phase Failed for its current
    spec, unless only its pod ended, which the operator replaces, or a quota refused it, which the
    operator retries once the quota makes room)."""
    status = obj.get("status") or {}
    if obj["metadata"].get("deletionTimestamp"):
        raise NotReadyError(f"Performer {where} is being deleted")
    if status.get("phase") == "Terminating":
        raise NotReadyError(f"Performer {where} is being deleted: {describe_status(obj)}")
    if is_ready(obj) and (not needs_endpoint or status_endpoint(obj)):
        return obj
    failed = status.get("phase") == "Failed" and _status_is_current(obj)
    if failed and not _pod_being_replaced(obj) and not _waiting_for_quota(obj):
        raise NotReadyError(f"Performer {where} failed: {describe_status(obj)}")
    return None


def check_label_value(what: str, value: str) -> None:
    """Raises ValueError naming `what` unless `value` is a Kubernetes label value."""
    if not is_label_value(value):
        raise ValueError(
            f"{what} must be a Kubernetes label value (1-63 of [A-Za-z0-9-_.], a letter or digit at both "
            f"ends), got {value!r}"
        )
