"""Building Performer objects and reading the API server's answers to them."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from tests.support.waiting import wait_for

# The Performer's names, from the contract (the tests import them from here).
GROUP, VERSION, PLURAL = contract.GROUP, contract.VERSION, contract.PLURAL
AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
# kwok runs no containers, so any reference works locally; on a cluster with real kubelets use an
# image that serves gRPC health (grpc.health.v1) on the performer port.
IMAGE = os.environ.get("HOURGLASS_TEST_PERFORMER_IMAGE", "ghcr.io/example/performer:v1.0.0")


def performer(name: str, **spec: object) -> dict:
    """A valid Performer with the required fields, plus or overriding `spec` keys."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Performer",
        "metadata": {"name": name},
        "spec": {"avsAddress": AVS, "image": IMAGE, **spec},
    }


def create_performer(custom: kubernetes.client.CustomObjectsApi, namespace: str, body: dict) -> dict:
    return custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def get_performer(custom: kubernetes.client.CustomObjectsApi, namespace: str, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def list_performers(custom: kubernetes.client.CustomObjectsApi, namespace: str) -> list[dict]:
    return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]


def condition(cr: dict, kind: str) -> dict:
    """The status condition of type `kind` ({} when there is none)."""
    return next((c for c in (cr.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def wait_performer_ready(
    custom: kubernetes.client.CustomObjectsApi, namespace: str, name: str, timeout: float = 60
) -> dict:
    """Waits until the Performer is ready with a status written for its current spec."""

    def ready() -> dict | None:
        cr = get_performer(custom, namespace, name)
        status = cr.get("status") or {}
        current = status.get("observedGeneration") == cr["metadata"]["generation"]
        return cr if current and status.get("ready") else None

    return wait_for(ready, timeout=timeout, what=f"Performer {namespace}/{name} to be ready")


def upstream_executor_performer(avs: str, repository: str, tag: str) -> dict:
    """The Performer an upstream (Go) executor creates (upstream contract §3)."""
    name = f"performer-{hashlib.sha256(avs.lower().encode()).hexdigest()[:6]}-{uuid.uuid4().hex[:8]}"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Performer",
        "metadata": {
            "name": name,
            "labels": {
                "app": "hourglass-performer",
                "hourglass.eigenlayer.io/avs": avs,
                "hourglass.eigenlayer.io/performer": name,
            },
        },
        "spec": {
            "avsAddress": avs,
            "image": f"{repository}:{tag}",
            "imagePullPolicy": "Never",
            "version": tag,
            "config": {
                "grpcPort": 8080,
                "environment": {"AVS_ADDRESS": avs, "GRPC_PORT": "8080", "LOG_LEVEL": "debug"},
                "environmentFrom": [
                    {
                        "name": "PRIVATE_RPC",
                        "valueFrom": {"secretKeyRef": {"name": "avs-secrets", "key": "rpc"}},
                    },
                    {
                        "name": "CHAIN_ID",
                        "valueFrom": {"configMapKeyRef": {"name": "avs-config", "key": "chain-id"}},
                    },
                ],
                "serviceAccountName": "avs-performer",
            },
        },
    }


def with_changes(base: dict, changes: dict) -> dict:
    """A deep copy of `base` with `changes` merged in; a value of None deletes the key."""
    result = copy.deepcopy(base)

    def merge(target: dict, patch: dict) -> None:
        for key, value in patch.items():
            if value is None:
                target.pop(key, None)
            elif isinstance(value, dict) and isinstance(target.get(key), dict):
                merge(target[key], value)
            else:
                target[key] = value

    merge(result, changes)
    return result


def rejection_causes(error: kubernetes.client.ApiException) -> list[dict]:
    """The field-level causes of a 422 Invalid answer."""
    assert error.status == 422, f"expected 422 Invalid, got {error.status}: {error.body}"
    return json.loads(error.body)["details"]["causes"]


def set_pod_ready(core, namespace: str, pod_name: str, ready: bool) -> None:
    """Sets the pod's Ready condition as a kubelet would (kwok leaves it alone afterwards)."""
    pod = core.read_namespaced_pod(pod_name, namespace)
    conditions = [
        {"type": c.type, "status": c.status, "lastTransitionTime": c.last_transition_time}
        for c in pod.status.conditions or []
        if c.type != "Ready"
    ]
    conditions.append({"type": "Ready", "status": "True" if ready else "False",
                       "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
    core.patch_namespaced_pod_status(pod_name, namespace, {"status": {"conditions": conditions}})


# A finalizer of the tests' and the benchmark's: a pod carrying it stays terminating until it is removed.
HOLD = "hourglass.eigenlayer.io/test-hold"


@contextlib.contextmanager
def pod_held(core, namespace: str, pod_name: str) -> Iterator[None]:
    """While inside, the pod stays terminating once deleted (as one whose performer ignores SIGTERM
    does on a real kubelet, for its grace period; kwok removes a deleted pod at once)."""
    core.patch_namespaced_pod(pod_name, namespace, {"metadata": {"finalizers": [HOLD]}})
    try:
        yield
    finally:
        with contextlib.suppress(kubernetes.client.ApiException):  # gone already
            core.patch_namespaced_pod(pod_name, namespace, {"metadata": {"finalizers": None}})


EVICTION_MESSAGE = "The node was low on resource: memory."


def evict_pod(core, namespace: str, pod_name: str) -> None:
    """Writes the status a kubelet writes when it evicts the pod under node pressure (phase Failed,
    reason Evicted, and it never starts the pod again); kwok never evicts."""
    eviction = {"phase": "Failed", "reason": "Evicted", "message": EVICTION_MESSAGE}
    core.patch_namespaced_pod_status(pod_name, namespace, {"status": eviction})


REJECTION_MESSAGE = "Pod Node didn't have enough resource: cpu, requested: 500, used: 3800, capacity: 4000"


def reject_pod(core, namespace: str, pod_name: str) -> None:
    """Writes the status a kubelet writes when it rejects the pod as it arrives (its admission failed:
    phase Failed, reason OutOfcpu, never started); kwok never rejects."""
    rejection = {"phase": "Failed", "reason": "OutOfcpu", "message": REJECTION_MESSAGE}
    core.patch_namespaced_pod_status(pod_name, namespace, {"status": rejection})


def delete_performers(
    custom, namespace: str, *, timeout: float, what: str = "the Performers to be deleted"
) -> None:
    """Deletes every Performer of `namespace` and waits until they are gone (their finalizers need a
    running operator)."""
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    wait_for(
        lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
        timeout=timeout,
        what=what,
    )
