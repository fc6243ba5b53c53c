"""The Kubernetes performer backend (`performers.base.PerformerBackend`): runs each performer as a
Performer resource that the operator turns into a Pod and a Service, and dials the address the
operator reports in the Performer's status.

`create` writes the Performer (`resource.performer_body`) with this executor's owner label, so that
`owned` finds it again after a restart. A create that gets no clear answer (a timeout, a network
error, a 5xx, or the caller cancelled) may still have been stored, under a name nobody else knows:
`create` then deletes that name (best effort) before it raises, so that a failed deploy, or each
retry of one, leaves no Performer behind. A create the API server refused (4xx) stored nothing,
except a 409 (AlreadyExists) answering a create sent again (after a 5xx with Retry-After): an
earlier attempt was stored, and the name, with its random suffix, is this create's alone, so that
Performer is deleted too.

Readiness is watched, never polled (`watch.PerformerWatch`, started on first use): `wait_ready`
returns once the operator reports the Performer ready for its current spec and, unless the address
comes from an `endpoint_override` or the resolver, has written `status.grpcEndpoint` (a status that
is ready without an endpoint is waited out like one that is not ready yet). `remove` deletes the
Performer and waits until the watch sees it gone (the operator releases its finalizer once the pod
and the service are gone). API calls have `connectionTimeout` as their timeout; API and network
errors become BackendError with the API server's message.

TLS towards performers is not this module's concern (the client dials); `resolver` maps a
Deployment to a reachable address for out-of-cluster runs and tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApiException, CustomObjectsApi

from hourglass_executor.config import KubernetesConfig
from hourglass_executor.kubernetes_api import ApiSource, ApiSourceError, api_message, retry_after
from hourglass_executor.performers.base import BackendError, Deployment, NotReadyError, PerformerSpec
from hourglass_executor.performers.kubernetes.access import AccessError, check_access
from hourglass_executor.performers.kubernetes.resource import (
    LABEL_EXECUTOR,
    PLURAL,
    PULL_POLICIES,
    Obj,
    check_label_value,
    describe_status,
    is_ready,
    owner_selector,
    performer_body,
    performer_name,
    readiness,
    spec_from_resource,
    status_endpoint,
)
from hourglass_executor.performers.kubernetes.watch import PerformerWatch

log = logging.getLogger(__name__)

T = TypeVar("T")

# The operator deletes pod and service and releases its finalizer in one ansible run (seconds), but
# a pod with a long termination grace period, or a busy operator, can take much longer.
REMOVE_TIMEOUT = 120.0


class KubernetesBackend:
    """Performers as Performer resources in `config.namespace`, owned by `owner_id` (a label value
    that must stay the same across restarts of this executor, so that `owned` finds them again).

    `api_client` replaces the client opened from `config` (`kubeConfigPath`, or in-cluster; see
    `kubernetes_api.ApiSource`, whose credentials are checked here); only a client opened here is
    closed by `close`. `resolver` maps a Deployment to the address to dial when its spec has no
    `endpoint_override` (default: the Performer's status.grpcEndpoint with its gRPC port).
    `grpc_port` is the port the Performer is given; `image_pull_policy` defaults to IfNotPresent
    (upstream: Never, for side-loaded images). `remove` waits at most `remove_timeout` seconds.
    """

    name = "kubernetes"

    def __init__(
        self,
        config: KubernetesConfig,
        owner_id: str,
        *,
        api_client: ApiClient | None = None,
        resolver: Callable[[Deployment], str] | None = None,
        grpc_port: int = 8080,
        image_pull_policy: str = "IfNotPresent",
        remove_timeout: float = REMOVE_TIMEOUT,
    ) -> None:
        check_label_value("owner_id", owner_id)
        if image_pull_policy not in PULL_POLICIES:
            raise ValueError(f"image_pull_policy must be one of {', '.join(PULL_POLICIES)}")
        self._source = ApiSource.from_config(config)
        if api_client is None:
            self._source.check()
        self._config = config
        self._owner_id = owner_id
        self._owns_client = api_client is None
        self._api = api_client
        self._custom = CustomObjectsApi(api_client) if api_client is not None else None
        self._resolver = resolver
        self._grpc_port = grpc_port
        self._pull_policy = image_pull_policy
        self._remove_timeout = remove_timeout
        self._timeout = config.connection_timeout.total_seconds()
        self._namespace = config.namespace
        self._where = (config.crd_group, config.crd_version, config.namespace, PLURAL)
        self._watch: PerformerWatch | None = None

    # --- PerformerBackend ---------------------------------------------------------------------

    async def create(self, spec: PerformerSpec) -> Deployment:
        custom = await self._connect()
        name = performer_name(spec.avs_address)
        body = performer_body(
            name,
            spec,
            api_version=f"{self._config.crd_group}/{self._config.crd_version}",
            owner_id=self._owner_id,
            grpc_port=self._grpc_port,
            pull_policy=self._pull_policy,
        )
        sent = 0

        async def send(*args: Any, **kwargs: Any) -> Obj:
            nonlocal sent
            sent += 1
            return await custom.create_namespaced_custom_object(*args, **kwargs)

        try:
            created = await self._call(
                f"creating Performer {self._namespace}/{name}", send, *self._where[:3], PLURAL, body
            )
        except BaseException as error:  # a cancelled create too: the API server may have stored it
            if not _refused(error) or (sent > 1 and _already_exists(error)):
                await self._abandon(name)
            raise
        log.info(
            "created Performer %s/%s for AVS %s (%s)", self._namespace, name, spec.avs_address, spec.image
        )
        return self._deployment(name, spec, created)

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        name, where = deployment.performer_id, f"{self._namespace}/{deployment.performer_id}"
        needs_endpoint = self._endpoint_from_status(deployment)
        deadline = asyncio.get_running_loop().time() + timeout
        watch = await self._watching(timeout)
        current = await self._call(f"reading Performer {where}", self._get, name, missing_ok=True)
        if current is None:
            raise NotReadyError(f"Performer {where} does not exist")
        uid = deployment.resource_id or current["metadata"].get("uid", "")
        if readiness(current, where, needs_endpoint=needs_endpoint) is not None:
            return self._ready(deployment, uid, current)

        def decide() -> Obj | None:
            obj = watch.get(name)
            if obj is None or obj["metadata"].get("uid") != uid:
                if watch.was_deleted(name, uid):
                    raise NotReadyError(f"Performer {where} was deleted before it became ready")
                return None
            return readiness(obj, where, needs_endpoint=needs_endpoint)

        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        ready = await watch.until(name, decide, remaining)
        if ready is None:
            last = watch.get(name) or current
            raise NotReadyError(
                f"Performer {where} not ready after {timeout:g} s "
                f"({describe_status(last, needs_endpoint=needs_endpoint)})"
            )
        return self._ready(deployment, uid, ready)

    async def remove(self, performer_id: str) -> None:
        where = f"{self._namespace}/{performer_id}"
        watch = await self._watching(self._timeout)
        deleted = await self._delete(performer_id)
        if deleted is None:
            return
        log.info("deleting Performer %s", where)
        metadata = deleted.get("metadata") or {}
        if metadata.get("labels", {}).get(LABEL_EXECUTOR) != self._owner_id:
            return  # not ours, so our watch does not see it go; the delete was accepted
        uid = metadata.get("uid", "")
        gone = await watch.until(
            performer_id, lambda: watch.was_deleted(performer_id, uid) or None, self._remove_timeout
        )
        if not gone and await self._call(
            f"reading Performer {where}", self._get, performer_id, missing_ok=True
        ):
            raise BackendError(
                f"Performer {where} still exists {self._remove_timeout:g} s after its deletion (is the "
                "operator running? it releases its finalizer once the pod and the service are gone)"
            )

    async def owned(self) -> list[Deployment]:
        custom = await self._connect()
        body = await self._call(
            f"listing Performers in namespace {self._namespace}",
            custom.list_namespaced_custom_object,
            *self._where,
            label_selector=owner_selector(self._owner_id),
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

    async def check_access(self) -> None:
        """BackendError unless the API server answers, serves Performers and lets these credentials
        make the backend's calls in its namespace (`access.check_access`)."""
        await self._connect()
        assert self._api is not None
        try:
            await check_access(self._api, self._config, self._timeout)
        except AccessError as error:
            raise BackendError(str(error)) from None

    async def close(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.stop()
        if self._owns_client and self._api is not None:
            api, self._api, self._custom = self._api, None, None
            await api.close()

    # --- helpers ------------------------------------------------------------------------------

    async def _connect(self) -> CustomObjectsApi:
        """The API, opened on first use (on the running event loop)."""
        if self._custom is None:
            try:
                api = await self._source.open()
            except ApiSourceError as error:
                raise BackendError(f"cannot create the Kubernetes client: {error}") from None
            if self._custom is None:  # no other coroutine opened one meanwhile
                self._api, self._custom = api, CustomObjectsApi(api)
            else:
                await api.close()
        return self._custom

    def _endpoint_from_status(self, deployment: Deployment) -> bool:
        return not deployment.spec.endpoint_override and self._resolver is None

    def _endpoint(self, deployment: Deployment, obj: Obj) -> str:
        """The address to dial: the spec's override, else the resolver's answer, else the status's
        (empty until the operator wrote it)."""
        if deployment.spec.endpoint_override:
            return deployment.spec.endpoint_override
        if self._resolver is not None:
            return self._resolver(deployment)
        return status_endpoint(obj)

    def _deployment(self, name: str, spec: PerformerSpec, obj: Obj) -> Deployment:
        uid = obj["metadata"].get("uid", "")
        image = (obj.get("spec") or {}).get("image", spec.image)
        deployment = Deployment(
            performer_id=name, spec=spec, endpoint="", resource_id=uid, details={"image": image, "uid": uid}
        )
        deployment.endpoint = self._endpoint(deployment, obj)
        return deployment

    def _ready(self, deployment: Deployment, uid: str, obj: Obj) -> Deployment:
        deployment.ready = True
        deployment.resource_id = uid
        deployment.details["uid"] = uid
        if self._endpoint_from_status(deployment):
            deployment.endpoint = status_endpoint(obj)
        return deployment

    async def _get(self, name: str, **kwargs: Any) -> Obj:
        custom = await self._connect()
        return await custom.get_namespaced_custom_object(*self._where, name, **kwargs)

    async def _call(
        self,
        what: str,
        function: Callable[..., Awaitable[T]],
        *args: Any,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> T | None:
        """An API call with `connectionTimeout`; API and network errors become BackendError (and a
        404 None when `missing_ok`). A call the API server asks to make again later is, after the
        wait it asks for (kubernetes_api.retry_after)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await function(*args, _request_timeout=self._timeout, **kwargs)
            except ApiException as error:
                if missing_ok and error.status == 404:
                    return None
                wait = retry_after(error, attempt)
                if wait is None:
                    raise BackendError(f"{what}: {api_message(error)}") from error
                log.info("%s: the API server asked to retry in %.0f s (%s)", what, wait, error.status)
                await asyncio.sleep(wait)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                reason = str(error) or (
                    f"no answer within {self._timeout:g} s (connectionTimeout)"
                    if isinstance(error, TimeoutError)
                    else repr(error)
                )
                raise BackendError(f"{what}: cannot reach the Kubernetes API: {reason}") from error

    async def _delete(self, name: str) -> Any:
        """Deletes Performer `name`: what the API server answered, None when it was not there."""
        custom = await self._connect()
        return await self._call(
            f"deleting Performer {self._namespace}/{name}",
            custom.delete_namespaced_custom_object,
            *self._where,
            name,
            missing_ok=True,
        )

    async def _abandon(self, name: str) -> None:
        """Deletes, best effort, Performer `name` whose create got no clear answer (not waited for:
        the operator removes its pod and service). A create the API server stores only after this
        delete is found by the next start like any Performer this executor owns (adopted or removed)."""
        where = f"{self._namespace}/{name}"
        try:
            deleted = await self._delete(name)
        except BackendError as error:
            log.warning("cannot delete Performer %s whose create failed: %s", where, error)
            return
        if deleted is not None:
            log.info("deleted Performer %s: its create failed, but the API server had stored it", where)

    async def _watching(self, timeout: float) -> PerformerWatch:
        """The watch of this executor's Performers, started on first use and synced (listed once)."""
        custom = await self._connect()
        if self._watch is None:
            self._watch = PerformerWatch(
                custom,
                group=self._config.crd_group,
                version=self._config.crd_version,
                namespace=self._namespace,
                label_selector=owner_selector(self._owner_id),
                connect_timeout=self._timeout,
            )
            self._watch.start()
        watch = self._watch
        if not await watch.wait_synced(max(timeout, 1.0)):
            raise BackendError(
                f"cannot list Performers in namespace {self._namespace}: {watch.last_error or 'no answer'}"
            )
        return watch


def _refused(error: BaseException) -> bool:
    """Whether a create's error is the API server's refusal (4xx: that attempt stored nothing)."""
    cause = error.__cause__ if isinstance(error, BackendError) else None
    return isinstance(cause, ApiException) and 400 <= (cause.status or 0) < 500


def _already_exists(error: BaseException) -> bool:
    """Whether a create's error is a 409: an object of that name exists."""
    cause = error.__cause__ if isinstance(error, BackendError) else None
    return isinstance(cause, ApiException) and cause.status == 409
