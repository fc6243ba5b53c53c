"""`LocalBackend`: an in-process `PerformerBackend` for unit tests and the benchmark.

It plays the infrastructure layer honestly instead of mocking it: `create` starts a real performer
(the SDK's `PerformerServer` serving a `RecordingWorker`, the example echo worker that also records
what it ran) on a free loopback port, `remove` stops that server at once (so a performer removed
while tasks still run on it makes those tasks fail, as a deleted pod would), and `owned` lists the
servers still running, so a second pool over the same backend "restarts" the executor. Knobs:

- `fail_ready`: tags whose performers never become ready (`wait_ready` raises NotReadyError);
- `unhealthy`: tags whose performers run but answer their health check NOT_SERVING;
- `ready_delay`: seconds `wait_ready` takes;
- `ready_gate`: an asyncio.Event `wait_ready` waits for (unset: the performer stays not ready, so a
  test looks at the moment before it is, for as long as it needs, then sets it);
- a spec with `endpoint_override` starts nothing and points at that address (the benchmark's
  performer process).

Performers outlive the backend's `close()` like pods outlive an executor; `destroy()` stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hourglass_executor.examples.echo_performer import EchoWorker, parse_payload
from hourglass_executor.performers.base import Deployment, NotReadyError, PerformerSpec
from hourglass_executor.sdk import PerformerServer

FAIL = b'{"op": "fail"}'  # RecordingWorker raises for this payload (the performer answers INTERNAL)


class RecordingWorker(EchoWorker):
    """The echo worker; `version` answers the performer's tag and FAIL raises; records the task
    ids it started and finished and how many run at once."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.started: list[bytes] = []
        self.finished: list[bytes] = []
        self.in_flight = 0

    async def validate_task(self, task_id: bytes, payload: bytes) -> None:
        if payload != FAIL:
            await super().validate_task(task_id, payload)

    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        self.started.append(task_id)
        self.in_flight += 1
        try:
            if payload == FAIL:
                raise RuntimeError("the performer broke")
            if parse_payload(payload)["op"] == "version":
                result = self.version.encode()
            else:
                result = await super().handle_task(task_id, payload)
        finally:
            self.in_flight -= 1
        self.finished.append(task_id)
        return result


@dataclass
class LocalPerformer:
    deployment: Deployment
    worker: RecordingWorker
    server: PerformerServer | None
    removed_at: float | None = None
    in_flight_when_removed: int | None = None


@dataclass
class LocalBackend:
    fail_ready: set[str] = field(default_factory=set)
    unhealthy: set[str] = field(default_factory=set)
    ready_delay: float = 0.0
    ready_gate: asyncio.Event | None = None
    host: str = "127.0.0.1"
    name: str = "local"

    def __post_init__(self) -> None:
        self.performers: dict[str, LocalPerformer] = {}  # running, in creation order
        self.history: dict[str, LocalPerformer] = {}  # every performer ever created
        self.created: list[str] = []
        self.removed: list[str] = []
        self.closed = False
        self.max_running = 0
        self._ids = itertools.count(1)

    # --- PerformerBackend ---------------------------------------------------------------------

    async def create(self, spec: PerformerSpec) -> Deployment:
        performer_id = f"performer-local-{next(self._ids)}-{spec.tag or 'digest'}"
        worker = RecordingWorker(spec.tag)
        server = None
        if spec.endpoint_override:
            endpoint = spec.endpoint_override
        else:
            server = PerformerServer(worker, 0, self.host)
            await server.start()
            if spec.tag in self.unhealthy:
                await server.set_serving(False)
            endpoint = f"{self.host}:{server.bound_port}"
        deployment = Deployment(
            performer_id=performer_id,
            spec=spec,
            endpoint=endpoint,
            resource_id=f"local-{performer_id}",
            details={"image": spec.image},
        )
        performer = LocalPerformer(deployment, worker, server)
        self.performers[performer_id] = self.history[performer_id] = performer
        self.created.append(performer_id)
        self.max_running = max(self.max_running, len(self.performers))
        return deployment

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        await asyncio.sleep(min(self.ready_delay, timeout))
        if self.ready_gate is not None:
            await self.ready_gate.wait()
        if deployment.performer_id not in self.performers:
            raise NotReadyError(f"performer {deployment.performer_id} was removed")
        if deployment.spec.tag in self.fail_ready:
            raise NotReadyError(
                f"performer {deployment.performer_id} failed to start (image {deployment.spec.tag})"
            )
        deployment.ready = True
        return deployment

    async def remove(self, performer_id: str) -> None:
        performer = self.performers.pop(performer_id, None)
        if performer is None:
            return
        performer.removed_at = time.monotonic()
        performer.in_flight_when_removed = performer.worker.in_flight
        performer.deployment.ready = False
        self.removed.append(performer_id)
        if performer.server is not None:
            await performer.server.stop(0)

    async def owned(self) -> list[Deployment]:
        return [performer.deployment for performer in self.performers.values()]

    async def resource_healthy(self, performer_id: str) -> bool:
        performer = self.performers.get(performer_id)
        return performer is not None and performer.deployment.ready

    async def close(self) -> None:
        self.closed = True

    # --- for tests ----------------------------------------------------------------------------

    def worker(self, performer_id: str) -> RecordingWorker:
        return self.history[performer_id].worker

    def tasks_started(self) -> list[bytes]:
        return [task for performer in self.history.values() for task in performer.worker.started]

    async def destroy(self) -> None:
        """Stops the servers of the performers still running (test clean-up; not recorded as
        removals, and `performers` still lists them)."""
        for performer in self.performers.values():
            if performer.server is not None:
                with contextlib.suppress(Exception):
                    await performer.server.stop(0)


class RestartableLocalBackend(LocalBackend):
    """A LocalBackend with Docker's `restart` (what the pool calls after failed health checks)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.restarts: list[str] = []

    async def restart(self, performer_id: str) -> Deployment:
        performer = self.performers[performer_id]
        self.restarts.append(performer_id)
        if performer.server is not None:
            await performer.server.set_serving(True)
        return performer.deployment


def running_versions(backend: LocalBackend) -> list[str]:
    return [performer.deployment.spec.tag for performer in backend.performers.values()]


def ids(performers: Iterable[Deployment]) -> list[str]:
    return [deployment.performer_id for deployment in performers]
