"""The Kubernetes performer backend: runs each performer as a `Performer` resource
(hourglass.eigenlayer.io/v1alpha1) that the operator turns into a Pod and a Service.

`create` writes the Performer exactly as an upstream (Go) executor does (upstream contract §3:
name `performer-<h6>-<u8>`, the three upstream labels, `spec.config` with grpcPort, environment
and environmentFrom) plus the label `hourglass.eigenlayer.io/executor: <owner id>`, which marks the
Performers this executor owns so that it can adopt them after a restart (`owned`). One difference
on purpose: upstream sets `imagePullPolicy: Never` because it side-loads images into the nodes;
here the policy is a constructor option defaulting to `IfNotPresent`, so that performer images
are pulled from their registry (pass "Never" for side-loaded images).

Readiness is watched, never polled: one background thread lists and then watches this executor's
Performers in the namespace (label selector, bookmarks, resume from the last resourceVersion,
re-list on 410 Gone, back-off on errors) into a cache. `wait_ready`, `remove` and
`resource_healthy` read that cache; a waiter registers for one Performer name and the watch thread
wakes it (`loop.call_soon_threadsafe`) after every change of that Performer, so that the waiter
re-evaluates its condition on its own event loop. Blocking client calls other than the watch run
in threads (`asyncio.to_thread`) with `connectionTimeout` as their timeout.

TLS towards performers is not this module's concern (the client dials); `resolver` maps a
Deployment to a reachable address for out-of-cluster runs and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import kubernetes
import urllib3

from hourglass_executor.config import KubernetesConfig
from hourglass_executor.performers.base import (
    BackendError,
    Deployment,
    EnvVar,
    NotReadyError,
    PerformerSpec,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Obj = dict[str, Any]

PLURAL = "performers"
KIND = "Performer"
LABEL_APP = "app"
APP = "hourglass-performer"
LABEL_AVS = "hourglass.eigenlayer.io/avs"
LABEL_PERFORMER = "hourglass.eigenlayer.io/performer"
LABEL_EXECUTOR = "hourglass.eigenlayer.io/executor"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# The operator deletes pod and service and releases its finalizer in one ansible run (seconds), but
# a pod with a long termination grace period, or a busy operator, can take much longer.
REMOVE_TIMEOUT = 120.0
WATCH_SECONDS = 300  # server-side length of one watch request; the thread then resumes
TOMBSTONES = 4096  # deleted Performers remembered, so that a late waiter still learns of a deletion
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
_LABEL_VALUE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


# --- the Performer resource -------------------------------------------------------------------


def performer_name(avs_address: str) -> str:
    """`performer-<h6>-<u8>` as upstream executors name Performers (25 characters)."""
    h6 = hashlib.sha256(avs_address.lower().encode()).hexdigest()[:6]
    return f"performer-{h6}-{uuid.uuid4().hex[:8]}"


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
    port = str(config.get("grpcPort", 8080))
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


def _status_is_current(obj: Obj) -> bool:
    """Whether the status was written for the current spec (operators that do not write
    observedGeneration, like upstream's, are taken at their word)."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed is None or observed == obj["metadata"].get("generation")


def is_ready(obj: Obj) -> bool:
    status = obj.get("status") or {}
    return (
        status.get("ready") is True
        and not obj["metadata"].get("deletionTimestamp")
        and _status_is_current(obj)
    )


def describe_status(obj: Obj) -> str:
    """The phase and the messages of the Ready and Reconciled conditions, for error messages."""
    status = obj.get("status") or {}
    parts = [f"phase {status.get('phase') or 'not reported yet'}"]
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Ready", "Reconciled") and condition.get("message"):
            parts.append(f"{condition['type']}: {condition.get('reason', '')} {condition['message']}".strip())
    return "; ".join(parts)


def _readiness(obj: Obj, where: str) -> Obj | None:
    """The object when it is ready, None while it may still become ready; NotReadyError when it
    cannot (being deleted, or phase Failed for its current spec)."""
    if obj["metadata"].get("deletionTimestamp"):
        raise NotReadyError(f"Performer {where} is being deleted")
    if is_ready(obj):
        return obj
    if (obj.get("status") or {}).get("phase") == "Failed" and _status_is_current(obj):
        raise NotReadyError(f"Performer {where} failed: {describe_status(obj)}")
    return None


def api_message(error: kubernetes.client.ApiException) -> str:
    """The API server's own message (a 422's names the invalid field), with the HTTP status."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError):  # not a JSON Status
        message = json.loads(error.body or "{}").get("message", "")
    return f"{error.status} {error.reason}: {message}" if message else f"{error.status} {error.reason}"


def _check_label_value(what: str, value: str) -> None:
    if not value or len(value) > 63 or not set(value) <= _LABEL_VALUE_CHARS:
        raise ValueError(f"{what} must be a Kubernetes label value (1-63 of [A-Za-z0-9-_.]), got {value!r}")
    if not (value[0].isalnum() and value[-1].isalnum()):
        raise ValueError(f"{what} must start and end with a letter or digit, got {value!r}")


# --- the watch --------------------------------------------------------------------------------


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    poke: Callable[[], None]


class PerformerWatch:
    """List+watch of the Performers matching a label selector in one namespace, on a thread.

    Keeps the objects by name, remembers recently deleted ones (name → uid) and calls the waiters
    registered for a name on their own event loops whenever that Performer changes.
    """

    def __init__(
        self,
        custom: kubernetes.client.CustomObjectsApi,
        *,
        group: str,
        version: str,
        namespace: str,
        label_selector: str,
        connect_timeout: float,
    ) -> None:
        self._custom = custom
        self._where = (group, version, namespace, PLURAL)
        self._selector = label_selector
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._objects: dict[str, Obj] = {}
        self._deleted: OrderedDict[str, str] = OrderedDict()
        self._waiters: dict[str, dict[int, _Waiter]] = {}
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name=f"performer watch {namespace}", daemon=True)

    # --- used from the event loop -------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def get(self, name: str) -> Obj | None:
        with self._lock:
            return self._objects.get(name)

    def was_deleted(self, name: str, uid: str = "") -> bool:
        """Whether the watch saw Performer `name` (with `uid`, when given) deleted."""
        with self._lock:
            deleted_uid = self._deleted.get(name)
        return deleted_uid is not None and (not uid or deleted_uid == uid)

    def subscribe(self, name: str, waiter: _Waiter) -> int:
        token = id(waiter)
        with self._lock:
            self._waiters.setdefault(name, {})[token] = waiter
        return token

    def unsubscribe(self, name: str, token: int) -> None:
        with self._lock:
            waiters = self._waiters.get(name, {})
            waiters.pop(token, None)
            if not waiters:
                self._waiters.pop(name, None)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            response.shutdown()  # unblocks the thread's read
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        backoff, resource_version = BACKOFF_MIN, None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                resource_version = self._watch(resource_version)
                backoff = BACKOFF_MIN
            except _Expired:
                resource_version = None
            except Exception as error:  # API, network or decoding errors: back off, then resume
                if self._stop.is_set():
                    break
                self.last_error = (
                    api_message(error) if isinstance(error, kubernetes.client.ApiException) else str(error)
                )
                log.warning("watching Performers failed, retrying in %.1f s: %s", backoff, self.last_error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _list(self) -> str:
        body = self._custom.list_namespaced_custom_object(
            *self._where, label_selector=self._selector, _request_timeout=self._connect_timeout
        )
        objects = {item["metadata"]["name"]: item for item in body.get("items") or []}
        with self._lock:
            previous, self._objects = self._objects, objects
            for name in previous.keys() - objects.keys():
                self._remember_deleted(name, previous[name]["metadata"].get("uid", ""))
        self._synced.set()
        for name in previous.keys() | objects.keys():
            self._notify(name)
        return body["metadata"]["resourceVersion"]

    def _watch(self, resource_version: str) -> str:
        response = self._custom.list_namespaced_custom_object(
            *self._where,
            label_selector=self._selector,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=WATCH_SECONDS,
            _preload_content=False,
            _request_timeout=(self._connect_timeout, WATCH_SECONDS + 30),
        )
        with self._lock:
            self._response = response
        buffer = b""
        try:
            if self._stop.is_set():
                return resource_version
            for chunk in response.stream(65536, decode_content=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        resource_version = self._apply(json.loads(line), resource_version)
        finally:
            with self._lock:
                self._response = None
            response.release_conn()
        return resource_version

    def _apply(self, event: Obj, resource_version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired(obj.get("message", ""))
            raise kubernetes.client.ApiException(status=obj.get("code"), reason=obj.get("message"))
        metadata = obj.get("metadata") or {}
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            name = metadata["name"]
            with self._lock:
                if kind == "DELETED":
                    self._objects.pop(name, None)
                    self._remember_deleted(name, metadata.get("uid", ""))
                else:
                    self._objects[name] = obj
                    self._deleted.pop(name, None)
            self._notify(name)
        return metadata.get("resourceVersion") or resource_version

    def _remember_deleted(self, name: str, uid: str) -> None:
        self._deleted[name] = uid
        self._deleted.move_to_end(name)
        while len(self._deleted) > TOMBSTONES:
            self._deleted.popitem(last=False)

    def _notify(self, name: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(name, {}).values())
        for waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed; its waiter is gone with it
                waiter.loop.call_soon_threadsafe(waiter.poke)


# --- the backend ------------------------------------------------------------------------------


def _api_client(config: KubernetesConfig) -> kubernetes.client.ApiClient:
    if config.in_cluster:
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)
    return kubernetes.config.new_client_from_config(config_file=config.kube_config_path, persist_config=False)


class KubernetesBackend:
    """Performers as Performer resources in `config.namespace`, owned by `owner_id` (a label value
    that must stay the same across restarts of this executor, so that `owned` finds them again).

    `api_client` replaces the client built from `config` (`kubeConfigPath`, or in-cluster); only a
    client built here is closed by `close`. `resolver` maps a Deployment to the address to dial when
    its spec has no `endpoint_override` (default: the Service's cluster DNS name and `grpc_port`,
    which is also the port the Performer is given). `image_pull_policy` defaults to IfNotPresent
    (upstream: Never, for side-loaded images). `remove` waits at most `remove_timeout` seconds.
    """

    name = "kubernetes"

    def __init__(
        self,
        config: KubernetesConfig,
        owner_id: str,
        *,
        api_client: kubernetes.client.ApiClient | None = None,
        resolver: Callable[[Deployment], str] | None = None,
        grpc_port: int = 8080,
        image_pull_policy: str = "IfNotPresent",
        remove_timeout: float = REMOVE_TIMEOUT,
    ) -> None:
        _check_label_value("owner_id", owner_id)
        if image_pull_policy not in PULL_POLICIES:
            raise ValueError(f"image_pull_policy must be one of {', '.join(PULL_POLICIES)}")
        self._config = config
        self._owner_id = owner_id
        self._owns_client = api_client is None
        self._api = api_client or _api_client(config)
        self._custom = kubernetes.client.CustomObjectsApi(self._api)
        self._resolver = resolver
        self._grpc_port = grpc_port
        self._pull_policy = image_pull_policy
        self._remove_timeout = remove_timeout
        self._timeout = config.connection_timeout.total_seconds()
        self._namespace = config.namespace
        self._where = (config.crd_group, config.crd_version, config.namespace, PLURAL)
        self._watch: PerformerWatch | None = None
        self._watch_lock = threading.Lock()

    # --- PerformerBackend ---------------------------------------------------------------------

    async def create(self, spec: PerformerSpec) -> Deployment:
        name = performer_name(spec.avs_address)
        body = performer_body(
            name,
            spec,
            api_version=f"{self._config.crd_group}/{self._config.crd_version}",
            owner_id=self._owner_id,
            grpc_port=self._grpc_port,
            pull_policy=self._pull_policy,
        )
        created = await self._call(
            f"creating Performer {self._namespace}/{name}",
            self._custom.create_namespaced_custom_object,
            *self._where[:3],
            PLURAL,
            body,
        )
        log.info(
            "created Performer %s/%s for AVS %s (%s)", self._namespace, name, spec.avs_address, spec.image
        )
        return self._deployment(name, spec, created)

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        name, where = deployment.performer_id, f"{self._namespace}/{deployment.performer_id}"
        deadline = asyncio.get_running_loop().time() + timeout
        watch = await self._watching(timeout)
        current = await self._call(f"reading Performer {where}", self._get, name, missing_ok=True)
        if current is None:
            raise NotReadyError(f"Performer {where} does not exist")
        uid = deployment.resource_id or current["metadata"].get("uid", "")
        if _readiness(current, where) is not None:
            return self._ready(deployment, uid)

        def decide() -> Obj | None:
            obj = watch.get(name)
            if obj is None or obj["metadata"].get("uid") != uid:
                if watch.was_deleted(name, uid):
                    raise NotReadyError(f"Performer {where} was deleted before it became ready")
                return None
            return _readiness(obj, where)

        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        ready = await self._until(watch, name, decide, remaining)
        if ready is None:
            last = watch.get(name) or current
            raise NotReadyError(f"Performer {where} not ready after {timeout:g} s ({describe_status(last)})")
        return self._ready(deployment, uid)

    async def remove(self, performer_id: str) -> None:
        where = f"{self._namespace}/{performer_id}"
        watch = await self._watching(self._timeout)
        deleted = await self._call(
            f"deleting Performer {where}",
            self._custom.delete_namespaced_custom_object,
            *self._where,
            performer_id,
            missing_ok=True,
        )
        if deleted is None:
            return
        log.info("deleting Performer %s", where)
        metadata = deleted.get("metadata") or {}
        if metadata.get("labels", {}).get(LABEL_EXECUTOR) != self._owner_id:
            return  # not ours, so our watch does not see it go; the delete was accepted
        uid = metadata.get("uid", "")
        gone = await self._until(
            watch, performer_id, lambda: watch.was_deleted(performer_id, uid) or None, self._remove_timeout
        )
        if not gone and await self._call(
            f"reading Performer {where}", self._get, performer_id, missing_ok=True
        ):
            raise BackendError(
                f"Performer {where} still exists {self._remove_timeout:g} s after its deletion (is the "
                "operator running? it releases its finalizer once the pod and the service are gone)"
            )

    async def owned(self) -> list[Deployment]:
        body = await self._call(
            f"listing Performers in namespace {self._namespace}",
            self._custom.list_namespaced_custom_object,
            *self._where,
            label_selector=self._selector,
        )
        items = sorted(
            body.get("items") or [],
            key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]),
        )
        deployments = []
        for obj in items:
            deployment = self._deployment(obj["metadata"]["name"], spec_from_resource(obj), obj)
            deployment.ready = is_ready(obj)
            if phase := (obj.get("status") or {}).get("phase"):
                deployment.details["phase"] = phase
            deployments.append(deployment)
        return deployments

    async def resource_healthy(self, performer_id: str) -> bool:
        watch = await self._watching(self._timeout)
        obj = watch.get(performer_id)
        return obj is not None and is_ready(obj)

    async def close(self) -> None:
        with self._watch_lock:
            watch, self._watch = self._watch, None
        if watch is not None:
            await asyncio.to_thread(watch.stop)
        if self._owns_client:
            self._api.close()

    # --- helpers ------------------------------------------------------------------------------

    @property
    def _selector(self) -> str:
        return f"{LABEL_EXECUTOR}={self._owner_id}"

    def _endpoint(self, deployment: Deployment) -> str:
        if deployment.spec.endpoint_override:
            return deployment.spec.endpoint_override
        if self._resolver is not None:
            return self._resolver(deployment)
        return f"performer-{deployment.performer_id}.{self._namespace}.svc.cluster.local:{self._grpc_port}"

    def _deployment(self, name: str, spec: PerformerSpec, obj: Obj) -> Deployment:
        uid = obj["metadata"].get("uid", "")
        image = (obj.get("spec") or {}).get("image", spec.image)
        deployment = Deployment(
            performer_id=name, spec=spec, endpoint="", resource_id=uid, details={"image": image, "uid": uid}
        )
        deployment.endpoint = self._endpoint(deployment)
        return deployment

    @staticmethod
    def _ready(deployment: Deployment, uid: str) -> Deployment:
        deployment.ready = True
        deployment.resource_id = uid
        deployment.details["uid"] = uid
        return deployment

    def _get(self, name: str, **kwargs: Any) -> Obj:
        return self._custom.get_namespaced_custom_object(*self._where, name, **kwargs)

    async def _call(
        self, what: str, function: Callable[..., T], *args: Any, missing_ok: bool = False, **kwargs: Any
    ) -> T | None:
        """A blocking client call in a thread; API and network errors become BackendError (and a
        404 None when `missing_ok`)."""
        try:
            return await asyncio.to_thread(function, *args, _request_timeout=self._timeout, **kwargs)
        except kubernetes.client.ApiException as error:
            if missing_ok and error.status == 404:
                return None
            raise BackendError(f"{what}: {api_message(error)}") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise BackendError(f"{what}: cannot reach the Kubernetes API: {error}") from error

    async def _watching(self, timeout: float) -> PerformerWatch:
        """The watch of this executor's Performers, started on first use and synced (listed once)."""
        with self._watch_lock:
            if self._watch is None:
                self._watch = PerformerWatch(
                    self._custom,
                    group=self._config.crd_group,
                    version=self._config.crd_version,
                    namespace=self._namespace,
                    label_selector=self._selector,
                    connect_timeout=self._timeout,
                )
                self._watch.start()
            watch = self._watch
        if not watch.wait_synced(0) and not await asyncio.to_thread(watch.wait_synced, max(timeout, 1.0)):
            raise BackendError(
                f"cannot list Performers in namespace {self._namespace}: {watch.last_error or 'no answer'}"
            )
        return watch

    async def _until(
        self, watch: PerformerWatch, name: str, decide: Callable[[], T | None], timeout: float
    ) -> T | None:
        """Evaluates `decide` now and after every change of Performer `name` until it returns
        something other than None (returned) or raises (raised); None after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def poke() -> None:
            if future.done():
                return
            try:
                result = decide()
            except Exception as error:
                future.set_exception(error)
                return
            if result is not None:
                future.set_result(result)

        token = watch.subscribe(name, _Waiter(loop, poke))
        try:
            poke()
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            watch.unsubscribe(name, token)
