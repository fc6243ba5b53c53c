"""The Docker backend: runs performers as containers on a Docker engine, like upstream container
mode (docs/upstream-contract.md §7).

For each performer it runs one container:

- name and hostname `avs-performer-<h6>-<unix seconds>` (h6: the first 6 hex digits of the
  sha256 of the lower-cased AVS address); the performer id is `performer-<avs>-<uuid4>`;
- image `repository@digest` when a digest is given, else `repository:tag`, pulled when it is not
  present locally;
- environment `NAME=value`. Only literal values are accepted: the caller resolves `valueFromEnv`
  from the executor's own environment into `value` before deploying; Secret and ConfigMap
  references are a BackendError (they need kubernetes mode). Values may be secrets and are never
  logged;
- labels `hourglass.eigenlayer.io/executor=<owner id>` (what `owned()` adopts),
  `.../performer=<performer id>`, `.../avs=<avs address>` and `.../version=<tag>`;
- port 8080/tcp published on a random host port. With a network name, a bridge network of that
  name is created when missing, the container joins it and is dialled at `<hostname>:8080`;
  otherwise at `localhost:<host port>`;
- auto-remove on exit (which is why Docker's own restart policies cannot be used: restarts are
  done by `docker_supervisor.Supervisor`, which recreates the container).

A restarted performer keeps its id, container name and hostname, and asks for the same host
port, so its endpoint normally stays the same. If that port was taken meanwhile it gets a new one:
the backend updates its `Deployment` (the object `create`/`owned` returned) in place and tells its
listeners ("restarted"); a performer the supervisor gave up on is reported as "failed". Listeners are
the `listener` given to the constructor and those added by `add_listener` (the performer pool adds
one, to dial a restarted performer's new endpoint at once).

The Docker SDK blocks, so every call runs in a worker thread (`asyncio.to_thread`). When no client
is given, one is made from the environment (`DOCKER_HOST`, ...) on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container

from hourglass_executor.performers.base import (
    BackendError,
    Deployment,
    EnvVar,
    NotReadyError,
    PerformerSpec,
)
from hourglass_executor.performers.docker_supervisor import (
    DockerEventWatcher,
    EventStream,
    Listener,
    RestartPolicy,
    Supervisor,
)

log = logging.getLogger(__name__)

OWNER_LABEL = "hourglass.eigenlayer.io/executor"
PERFORMER_LABEL = "hourglass.eigenlayer.io/performer"
AVS_LABEL = "hourglass.eigenlayer.io/avs"
VERSION_LABEL = "hourglass.eigenlayer.io/version"
PERFORMER_PORT = 8080
CONTAINER_PORT = f"{PERFORMER_PORT}/tcp"
NAME_ATTEMPTS = 10  # names carry unix seconds; two performers of one AVS in one second collide
_CREATED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


def container_name(avs_address: str, unix_seconds: int) -> str:
    h6 = hashlib.sha256(avs_address.lower().encode()).hexdigest()[:6]
    return f"avs-performer-{h6}-{unix_seconds}"


def container_env(env: Sequence[EnvVar]) -> list[str]:
    """`NAME=value` entries; refuses what a container cannot have (messages name, never value)."""
    entries = []
    for var in env:
        if var.secret_key_ref or var.config_map_key_ref:
            raise BackendError(f"env {var.name}: kubernetes env references need kubernetes mode")
        if var.value is None:
            raise BackendError(f"env {var.name}: no value (valueFromEnv must be resolved before deploying)")
        if not var.name or "=" in var.name:
            raise BackendError(f"env {var.name!r}: not a valid variable name")
        entries.append(f"{var.name}={var.value}")
    return entries


def split_reference(image: str) -> tuple[str, str]:
    """(repository, tag or digest) of an image reference, as the pull API wants them."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    repository, _, last = image.rpartition("/")
    if ":" in last:
        name, tag = last.rsplit(":", 1)
        return (f"{repository}/{name}" if repository else name), tag
    return image, "latest"


@dataclass
class _Plan:
    """How to (re)create a performer's container."""

    name: str  # container name and hostname
    image: str
    env: list[str] = field(repr=False)  # values may be secrets
    labels: dict[str, str]
    host_port: str | None  # None: any free port


@dataclass
class _Managed:
    deployment: Deployment
    plan: _Plan


class DockerBackend:
    name = "docker"

    def __init__(
        self,
        owner_id: str,
        *,
        client: docker.DockerClient | None = None,
        network_name: str | None = None,
        clock: Callable[[], float] = time.time,
        policy: RestartPolicy | None = None,
        listener: Listener | None = None,
        stop_timeout: int = 10,
        poll_interval: float = 0.5,
        event_retry_interval: float = 5.0,
        backoff_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`owner_id` identifies this executor's containers (use a value stable across restarts,
        e.g. the operator address). `client` is not closed by `close()` when given."""
        self.owner_id = owner_id
        self.network_name = network_name
        self._client = client
        self._owns_client = client is None
        self._client_lock = asyncio.Lock()
        self._network_lock = asyncio.Lock()
        self._network_ready = False
        self._clock = clock
        self._stop_timeout = stop_timeout
        self._poll_interval = poll_interval
        self._performers: dict[str, _Managed] = {}
        self._supervisor = Supervisor(
            is_running=self._is_running,
            recreate=self._recreate,
            policy=policy,
            backoff_sleep=backoff_sleep,
            listener=listener,
        )
        self._events = DockerEventWatcher(
            self._open_events, self._on_event, retry_interval=event_retry_interval
        )

    # --- PerformerBackend -----------------------------------------------------------------

    async def create(self, spec: PerformerSpec) -> Deployment:
        env = container_env(spec.env)
        client = await self._docker()
        await self._ensure_image(client, spec.image)
        await self._ensure_network(client)
        performer_id = f"performer-{spec.avs_address}-{uuid.uuid4()}"
        labels = {
            OWNER_LABEL: self.owner_id,
            PERFORMER_LABEL: performer_id,
            AVS_LABEL: spec.avs_address,
            VERSION_LABEL: spec.tag,
        }
        plan = _Plan(name="", image=spec.image, env=env, labels=labels, host_port=None)
        container = await _thread("cannot start a container", self._run_new, client, plan, spec.avs_address)
        deployment = Deployment(performer_id=performer_id, spec=spec, endpoint="")
        managed = _Managed(deployment, plan)
        self._apply(managed, container)
        if not deployment.endpoint:
            await _thread("cannot remove a container", self._discard, container)
            raise BackendError(f"container {plan.name} has no host port for {CONTAINER_PORT}")
        deployment.ready = False  # wait_ready decides
        self._performers[performer_id] = managed
        self._supervise(performer_id)
        log.info(
            "started performer %s for AVS %s: container %s, image %s, endpoint %s",
            performer_id,
            spec.avs_address,
            plan.name,
            plan.image,
            deployment.endpoint,
        )
        return deployment

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        """Ready means the container is running (infrastructure only: the pool checks gRPC health)."""
        managed = self._managed(deployment.performer_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._supervisor.gave_up(deployment.performer_id):
                raise NotReadyError(
                    f"performer {deployment.performer_id} keeps failing; gave up restarting it"
                )
            try:
                state = _state(await self._current_container(managed))
            except BackendError as exc:  # the engine may answer again before the deadline
                state = f"unknown: {exc}"
            if state == "running":
                managed.deployment.ready = True
                return managed.deployment
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NotReadyError(
                    f"performer {deployment.performer_id} (container {managed.plan.name}) is not running "
                    f"after {timeout:g} s (container state: {state})"
                )
            await asyncio.sleep(min(self._poll_interval, remaining))

    async def remove(self, performer_id: str) -> None:
        await self._supervisor.forget(performer_id)
        self._performers.pop(performer_id, None)
        client = await self._docker()
        containers = await _thread(
            "cannot list containers",
            client.containers.list,
            all=True,
            filters={"label": [f"{OWNER_LABEL}={self.owner_id}", f"{PERFORMER_LABEL}={performer_id}"]},
            ignore_removed=True,
        )
        for container in containers:
            await _thread(f"cannot remove container {container.name}", self._discard, container)
        log.info("removed performer %s", performer_id)

    async def owned(self) -> list[Deployment]:
        """This executor's containers (by owner label); each is supervised from now on."""
        client = await self._docker()
        containers = await _thread(
            "cannot list containers",
            client.containers.list,
            all=True,
            filters={"label": [f"{OWNER_LABEL}={self.owner_id}"]},
            ignore_removed=True,
        )
        found = []
        # Oldest first, as the pool expects (the engine lists the newest first).
        for container in sorted(containers, key=_created):
            labels = container.labels
            performer_id = labels.get(PERFORMER_LABEL)
            if not performer_id:
                continue
            managed = self._performers.get(performer_id)
            if managed is None:
                managed = self._adopt(performer_id, container)
                self._performers[performer_id] = managed
                log.info("adopted performer %s (container %s)", performer_id, managed.plan.name)
            if managed.deployment.resource_id == container.id:
                self._apply(managed, container)
            self._supervise(performer_id)
            found.append(managed.deployment)
        return found

    async def resource_healthy(self, performer_id: str) -> bool:
        managed = self._performers.get(performer_id)
        if managed is None or self._supervisor.gave_up(performer_id):
            return False
        try:
            return _state(await self._current_container(managed)) == "running"
        except BackendError:
            return False

    async def close(self) -> None:
        await self._supervisor.close()
        await asyncio.to_thread(self._events.close)
        if self._owns_client and self._client is not None:
            await asyncio.to_thread(self._client.close)

    # --- supervision ------------------------------------------------------------------------

    async def restart(self, performer_id: str) -> Deployment:
        """Restarts a performer (the pool calls this when its gRPC health checks keep failing);
        the back-off and the restart limit apply. Returns the updated deployment."""
        self._managed(performer_id)
        await self._supervisor.restart(performer_id, "restart requested")
        return self._managed(performer_id).deployment

    def restarts(self, performer_id: str) -> int:
        """How many times the performer was restarted since it last ran stably."""
        return self._supervisor.restarts(performer_id)

    def add_listener(self, listener: Listener) -> None:
        """Tells `listener(performer id, "restarted" | "failed")` of the supervisor's restarts and
        give-ups, on the event loop, once the restarted performer's Deployment is updated."""
        self._supervisor.add_listener(listener)

    def _supervise(self, performer_id: str) -> None:
        self._supervisor.watch(performer_id)
        self._events.start(asyncio.get_running_loop())

    async def _is_running(self, performer_id: str) -> bool:
        managed = self._managed(performer_id)
        return _state(await self._current_container(managed)) == "running"

    async def _recreate(self, performer_id: str) -> None:
        managed = self._managed(performer_id)
        client = await self._docker()
        plan = managed.plan
        await _thread(
            f"cannot remove container {plan.name}", self._discard_named, client, plan.name, performer_id
        )
        await self._ensure_image(client, plan.image)
        self._network_ready = False  # the network may have been removed meanwhile
        await self._ensure_network(client)
        container = await _thread(f"cannot start container {plan.name}", self._run_again, client, plan)
        self._apply(managed, container)

    def _open_events(self) -> EventStream:
        if self._client is None:
            raise BackendError("no Docker client yet")
        return self._client.events(
            decode=True,
            filters={"type": "container", "event": ["die", "oom"], "label": f"{OWNER_LABEL}={self.owner_id}"},
        )

    def _on_event(self, event: dict[str, Any]) -> None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        performer_id = attributes.get(PERFORMER_LABEL)
        if performer_id:
            log.info(
                "performer %s: Docker reported %s", performer_id, event.get("Action") or event.get("status")
            )
            self._supervisor.check_soon(performer_id)

    # --- Docker calls (blocking ones run in worker threads) ---------------------------------

    async def _docker(self) -> docker.DockerClient:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    try:
                        self._client = await asyncio.to_thread(docker.from_env)
                    except docker.errors.DockerException as exc:
                        raise BackendError(f"cannot reach the Docker engine: {exc}") from exc
        return self._client

    async def _ensure_image(self, client: docker.DockerClient, image: str) -> None:
        await _thread(f"image {image} is not present and cannot be pulled", _ensure_image, client, image)

    async def _ensure_network(self, client: docker.DockerClient) -> None:
        if self.network_name is None or self._network_ready:
            return
        async with self._network_lock:
            if not self._network_ready:
                failure = f"cannot create Docker network {self.network_name}"
                await _thread(failure, _ensure_network, client, self.network_name)
                self._network_ready = True

    def _run_new(self, client: docker.DockerClient, plan: _Plan, avs_address: str) -> Container:
        """Runs a new container under a fresh name (the next second's name if one is taken)."""
        seconds = int(self._clock())
        for attempt in range(NAME_ATTEMPTS):
            plan.name = container_name(avs_address, seconds + attempt)
            try:
                return self._run(client, plan)
            except docker.errors.APIError as exc:
                if exc.status_code != 409 or attempt == NAME_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _run_again(self, client: docker.DockerClient, plan: _Plan) -> Container:
        """Runs a performer's container again, on its previous host port if that is still free."""
        try:
            return self._run(client, plan)
        except docker.errors.APIError:
            if plan.host_port is None:
                raise
            log.warning("container %s: host port %s unavailable, taking another", plan.name, plan.host_port)
        return self._run(client, replace(plan, host_port=None))

    def _run(self, client: docker.DockerClient, plan: _Plan) -> Container:
        container = client.containers.create(
            image=plan.image,
            name=plan.name,
            hostname=plan.name,
            environment=plan.env,
            labels=plan.labels,
            ports={CONTAINER_PORT: plan.host_port},
            auto_remove=True,
            network=self.network_name,
        )
        try:
            container.start()
            container.reload()
        except docker.errors.DockerException:
            with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                self._discard(container)
            raise
        return container

    def _discard(self, container: Container) -> None:
        """Stops and removes a container; one that is already gone (or going) is fine."""
        try:
            container.stop(timeout=self._stop_timeout)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            log.warning("cannot stop container %s: %s", container.name, exc.explanation or exc)
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: auto-removal already in progress
                raise

    def _discard_named(self, client: docker.DockerClient, name: str, performer_id: str) -> None:
        """Removes the container holding a performer's name, and waits until the name is free."""
        deadline = time.monotonic() + self._stop_timeout + 10
        while True:
            try:
                container = client.containers.get(name)
            except docker.errors.NotFound:
                return
            if container.labels.get(PERFORMER_LABEL) != performer_id:
                raise BackendError(f"container {name} exists and does not belong to performer {performer_id}")
            self._discard(container)
            if time.monotonic() > deadline:
                raise BackendError(f"container {name} is still being removed")
            time.sleep(0.1)

    async def _current_container(self, managed: _Managed) -> Container | None:
        client = await self._docker()
        return await _thread(
            f"cannot inspect container {managed.plan.name}",
            _get_container,
            client,
            managed.deployment.resource_id,
        )

    # --- model ------------------------------------------------------------------------------

    def _managed(self, performer_id: str) -> _Managed:
        managed = self._performers.get(performer_id)
        if managed is None:
            raise BackendError(f"performer {performer_id} is not managed by this executor")
        return managed

    def _apply(self, managed: _Managed, container: Container) -> None:
        """Records what Docker says about the performer's (new) container."""
        attrs = container.attrs
        plan, deployment = managed.plan, managed.deployment
        plan.host_port = _host_port(attrs) or plan.host_port
        if deployment.spec.endpoint_override:
            deployment.endpoint = deployment.spec.endpoint_override
        elif self.network_name:
            deployment.endpoint = f"{plan.name}:{PERFORMER_PORT}"
        elif plan.host_port:
            deployment.endpoint = f"localhost:{plan.host_port}"
        deployment.resource_id = container.id or ""
        deployment.ready = _state(container) == "running"
        deployment.details = {
            "container_name": plan.name,
            "container_id": deployment.resource_id,
            "image": plan.image,
            "host_port": plan.host_port or "",
            "network": self.network_name or "",
        }

    def _adopt(self, performer_id: str, container: Container) -> _Managed:
        attrs = container.attrs
        config = attrs.get("Config") or {}
        labels = dict(config.get("Labels") or {})
        image = config.get("Image") or ""
        repository, tag_or_digest = split_reference(image)
        digest = tag_or_digest if "@" in image else None
        spec = PerformerSpec(
            avs_address=labels.get(AVS_LABEL, ""),
            repository=repository,
            tag=labels.get(VERSION_LABEL) or ("" if digest else tag_or_digest),
            digest=digest,
        )
        # The container's environment also holds the image's defaults; re-passing them on a
        # restart is harmless. It is not copied into spec.env (values may be secrets).
        plan = _Plan(
            name=(attrs.get("Name") or container.name or "").lstrip("/"),
            image=image,
            env=list(config.get("Env") or []),
            labels=labels,
            host_port=_host_port(attrs),
        )
        managed = _Managed(Deployment(performer_id=performer_id, spec=spec, endpoint=""), plan)
        self._apply(managed, container)
        return managed


def _created(container: Container) -> tuple[str, str]:
    """When the container was made, comparable: "Created" is RFC 3339 in UTC with up to nine digits
    of fraction, trailing zeros cut (so the strings alone do not sort)."""
    match = _CREATED.match(str(container.attrs.get("Created") or ""))
    return (match.group(1), (match.group(2) or "").ljust(9, "0")) if match else ("", "")


async def _thread(failure: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs a blocking Docker call in a worker thread; its errors become BackendError."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except BackendError:
        raise
    except docker.errors.APIError as exc:
        raise BackendError(f"{failure}: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise BackendError(f"{failure}: {exc}") from exc


def _ensure_image(client: docker.DockerClient, image: str) -> None:
    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    repository, tag = split_reference(image)
    log.info("pulling image %s", image)
    client.images.pull(repository, tag=tag)


def _ensure_network(client: docker.DockerClient, name: str) -> None:
    try:
        client.networks.get(name)
        return
    except docker.errors.NotFound:
        pass
    log.info("creating Docker network %s", name)
    try:
        client.networks.create(name, driver="bridge")
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: created by someone else meanwhile
            raise


def _get_container(client: docker.DockerClient, container_id: str) -> Container | None:
    if not container_id:
        return None
    try:
        return client.containers.get(container_id)
    except docker.errors.NotFound:
        return None


def _state(container: Container | None) -> str:
    if container is None:
        return "removed"
    return str(((container.attrs.get("State") or {}).get("Status")) or "unknown")


def _host_port(attrs: dict[str, Any]) -> str | None:
    bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(CONTAINER_PORT) or []
    return next((b["HostPort"] for b in bindings if b.get("HostPort")), None)
