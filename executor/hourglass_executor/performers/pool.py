"""Which performer serves each AVS, and switching performers without losing a task (blue-green).

Backend-agnostic: the backend (`performers.base.PerformerBackend`: Kubernetes or Docker) starts,
watches and removes performers; the pool decides which one gets tasks. Per AVS there is a `current`
performer (status InService, the one tasks go to) and, while a deploy runs, a `next` one (Staged).
Each live performer has a gRPC client, a circuit breaker, a health monitor and an in-flight count.

deploy(spec), serialized per AVS:
  backend.create → backend.wait_ready (the infrastructure says ready) → the performer answers its
  gRPC health check SERVING (retried for up to `health_timeout`) → promote: from this moment new
  tasks go to the new performer (one assignment on the event loop, so no task sees a mix) → drain:
  wait until the old performer's in-flight tasks finished (at most `drain_timeout`) → backend.remove
  (old) → close its client. A deploy that fails before promotion removes the new performer and
  leaves the old one serving. A deploy runs in a task of its own: a caller that goes away (an RPC
  cancelled by its client) does not abort it halfway.

run_task(avs, ...) sends the task to the current performer once (the client never re-sends a
task that may have reached the performer). No performer, or an open circuit → PerformerUnavailable.
The breaker counts transport failures and the performer's own INTERNAL/UNKNOWN errors, not a task
the performer rejected (INVALID_ARGUMENT says nothing about its health), and a DEADLINE_EXCEEDED
only when the executor's own task timeout set the deadline (`run_task`'s `task_timeout`), not when
a caller's shorter remaining time did.

remove(id) takes the performer out of service at once and then drains and removes it (a staged
one: its deploy is cancelled), in a task of its own like a deploy: a caller that goes away does not
leave it half removed, and a second remove of the same performer waits for the first one's end.

start() adopts what the backend says this executor owns (after a restart): per configured AVS it
keeps one performer — the one the store remembers as in service, else the newest ready one running
the configured image — and removes the others (and those of AVSs no longer configured); when none
fits, it deploys the configured image. It never creates a second performer next to one it keeps.
With the memory store a restart therefore returns to the configured image; with a persistent store
it keeps the image last deployed by DeployArtifact. When the performer the store remembers as in
service does not become ready, start deploys a new performer of that performer's spec instead (see
`_replacement_spec`) and removes the old one once the new one is in service; when the new one fails
too, start reports the AVS as without a performer and leaves the old one running with its record,
for the next start to try again: it never puts the configured image in place of the one a
DeployArtifact deployed. Until start() has finished, deploy and remove are refused
(PoolNotServingError): start decides from a list of the owned performers, which a deploy or a
removal running meanwhile would make stale.

shutdown(delete) cancels deploys and removals, stops health checks and closes clients; performers
keep running for the next start unless `delete` (config `kubernetes.deletePerformersOnShutdown`):
then every performer the pool still tracks is removed, including one a cancelled deploy staged and
one whose removal was cut short.

Docker mode (a backend with `restart`): an in-service performer whose health check failed
`restart_after` (3) times in a row is restarted by the backend. A backend with `add_listener` (Docker)
also restarts containers on its own and tells the pool, which then dials the performer's endpoint at
once if it changed (a restarted container may get a new host port).

Each performer moves through the states of `performers.lifecycle` (staged, adopting, in_service,
retiring, removed, released): every move is checked against its transition table and written to
the store (`save_performer` / `delete_performer`) before the pool goes on. The rule for which owned
performer to keep at start is `performers.adoption.choose`; a performer's client, breaker and
monitor are in `performers.live`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from hourglass_executor.performers.adoption import choose
from hourglass_executor.performers.base import (
    BackendError,
    Deployment,
    NotReadyError,
    PerformerBackend,
    PerformerSpec,
)
from hourglass_executor.performers.circuit import CircuitBreaker
from hourglass_executor.performers.client import PerformerCallError, PerformerClient
from hourglass_executor.performers.health import HealthMonitor
from hourglass_executor.performers.lifecycle import LISTED, Lifecycle, State
from hourglass_executor.performers.live import LivePerformer, image_of
from hourglass_executor.store import PerformerRecord, Store

log = logging.getLogger(__name__)

# States whose performer the pool may still call (so a new endpoint is worth following).
FOLLOWED_STATES = frozenset({State.STAGED, State.ADOPTING, State.IN_SERVICE, State.RETIRING})

# Outcomes that say something about the performer's health (the circuit breaker counts them).
# CANCELLED: a call cut by closing the performer's channel (the client's PerformerCallError).
BREAKER_CODES = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


class PoolError(Exception):
    """Base of the pool's errors."""


class UnknownAvsError(PoolError, LookupError):
    """The AVS is not configured on this executor."""


class UnknownPerformerError(PoolError, LookupError):
    """No performer with that id is in service or staged."""


class PoolNotServingError(PoolError):
    """The pool is starting (start() has not finished) or shutting down; nothing was changed."""


class PerformerUnavailableError(PoolError):
    """No performer can take the task now (none ready, or its circuit is open); it was not sent."""


class DeployError(PoolError):
    """A deploy failed; the previous performer (if any) keeps serving."""


class DeployCancelledError(DeployError):
    """The deploy was cancelled: its staged performer was removed, or the executor is stopping."""


@dataclass(frozen=True)
class PoolSettings:
    ready_timeout: float = 300.0  # backend.wait_ready
    health_timeout: float = 60.0  # first SERVING health check after ready (upstream: 1 min)
    drain_timeout: float = 35.0  # in-flight tasks of a replaced performer
    health_interval: float = 15.0
    health_check_timeout: float = 1.0
    breaker_failures: int = 5
    breaker_reset: float = 30.0
    restart_after: int = 3  # consecutive failed health checks before a Docker restart


@dataclass(frozen=True)
class PerformerInfo:
    """One entry of ListPerformers."""

    performer_id: str
    avs_address: str
    status: str  # InService | Staged
    artifact_registry: str
    artifact_digest: str
    artifact_tag: str
    resource_healthy: bool
    application_healthy: bool
    last_health_check: str  # RFC 3339, "" before the first check
    container_id: str


class PerformerPool:
    def __init__(
        self,
        backend: PerformerBackend,
        store: Store,
        configured: Mapping[str, PerformerSpec | None],
        *,
        settings: PoolSettings | None = None,
        client_factory: Callable[[str], PerformerClient] = PerformerClient,
        clock: Callable[[], float] = time.time,
        on_deploy: Callable[[str, str], None] | None = None,
    ) -> None:
        """`configured` maps each AVS this executor serves to the performer configured for it
        (None: no image configured; the AVS waits for DeployArtifact). `client_factory` makes the
        client for an endpoint (TLS settings go there). `on_deploy(avs, result)` is called when a
        deploy ends, with result `succeeded`, `failed` or `cancelled` (the executor's metrics)."""
        self._backend = backend
        self._store = store
        self._lifecycle = Lifecycle(store)
        self._configured = {avs.lower(): spec for avs, spec in configured.items()}
        self._settings = settings or PoolSettings()
        self._client_factory = client_factory
        self._clock = clock
        self._current: dict[str, LivePerformer] = {}
        self._next: dict[str, LivePerformer] = {}
        # Every performer tracked and not removed (released ones too): what shutdown lets go or removes.
        self._lives: set[LivePerformer] = set()
        self._locks = {avs: asyncio.Lock() for avs in self._configured}
        self._deploying: dict[str, asyncio.Task[Any]] = {}
        self._removals: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._closing = False
        self._can_restart = callable(getattr(backend, "restart", None))
        self._on_deploy = on_deploy
        add_listener = getattr(backend, "add_listener", None)
        if callable(add_listener):
            add_listener(self._on_backend_event)

    # --- what the pool serves ----------------------------------------------------------------

    def serves(self, avs: str) -> bool:
        return avs.lower() in self._configured

    def configured_spec(self, avs: str) -> PerformerSpec | None:
        return self._configured.get(avs.lower())

    def current(self, avs: str) -> LivePerformer | None:
        """The performer `run_task` sends the AVS's next task to (read it right before calling
        `run_task`, without an await between, to know which performer ran a task)."""
        return self._current.get(avs.lower())

    def health_report(self) -> list[tuple[str, str, str, bool]]:
        """(avs, performer id, "in_service" or "staged", last gRPC health check SERVING) of the
        in-service and staged performers."""
        lives = [(live, "in_service") for live in self._current.values()]
        lives += [(live, "staged") for live in self._next.values()]
        return [
            (live.avs, live.performer_id, state, live.monitor.application_healthy) for live, state in lives
        ]

    # --- tasks ---------------------------------------------------------------------------------

    async def run_task(
        self, avs: str, task_id: str, payload: bytes, timeout: float, *, task_timeout: float | None = None
    ) -> bytes:
        """The performer's result for the task; raises PerformerUnavailableError (not sent) or
        PerformerCallError (its `maybe_executed` says whether it may have run). `task_timeout` is the
        executor's own limit for a task: when `timeout` is shorter (the caller's remaining time set
        it), a DEADLINE_EXCEEDED is not held against the performer. None: `timeout` is that limit."""
        live = self._current.get(avs.lower())
        if live is None:
            raise PerformerUnavailableError(f"no performer is serving AVS {avs}")
        if not live.breaker.allow():
            raise PerformerUnavailableError(
                f"performer {live.performer_id} of AVS {avs} is failing (circuit open); try again later"
            )
        live.in_flight += 1
        live.idle.clear()
        try:
            assert live.client is not None  # in service only once ready, with its address
            result = await live.client.execute_task(task_id.encode(), payload, timeout=timeout)
        except PerformerCallError as error:
            self._record_call_error(live, error, own_deadline=task_timeout is None or timeout >= task_timeout)
            raise
        else:
            live.breaker.record_success()
            return result
        finally:
            live.in_flight -= 1
            if not live.in_flight:
                live.idle.set()

    @staticmethod
    def _record_call_error(live: LivePerformer, error: PerformerCallError, *, own_deadline: bool) -> None:
        """Tells the breaker what a failed call says about the performer."""
        if error.code is grpc.StatusCode.DEADLINE_EXCEEDED and not own_deadline:
            # The caller allowed less time than a task may take: neither a failure nor a success.
            return
        if error.code in BREAKER_CODES:
            live.breaker.record_failure()
        else:
            live.breaker.record_success()

    # --- deploys -------------------------------------------------------------------------------

    async def deploy(self, spec: PerformerSpec) -> LivePerformer:
        """Blue-green deploy of `spec` (see the module docstring); returns the new performer once
        it is in service and the old one is removed. Raises UnknownAvsError, PoolNotServingError
        (before start() finished) or DeployError."""
        avs = spec.avs_address.lower()
        if avs not in self._configured:
            raise UnknownAvsError(f"AVS {spec.avs_address} is not served by this executor")
        if self._closing:
            raise DeployCancelledError("the executor is shutting down")
        self._check_started()
        task = self._spawn(self._deploy(spec))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and not (caller is not None and caller.cancelling()):
                raise DeployCancelledError(
                    "the deploy was cancelled (its performer was removed, or the executor is stopping)"
                ) from None
            raise

    async def _deploy(self, spec: PerformerSpec) -> LivePerformer:
        avs = spec.avs_address.lower()
        async with self._locks[avs]:
            self._deploying[avs] = asyncio.current_task()  # type: ignore[assignment]
            try:
                return await self._deploy_locked(spec)
            finally:
                self._deploying.pop(avs, None)

    async def _deploy_locked(self, spec: PerformerSpec) -> LivePerformer:
        """A deploy (at start or by `deploy`), its end reported to `on_deploy`."""
        result = "cancelled"
        try:
            live = await self._deploy_steps(spec)
        except Exception:
            result = "failed"
            raise
        else:
            result = "succeeded"
            return live
        finally:
            if self._on_deploy is not None:
                self._on_deploy(spec.avs_address.lower(), result)

    async def _deploy_steps(self, spec: PerformerSpec) -> LivePerformer:
        avs = spec.avs_address.lower()
        started = time.monotonic()
        try:
            deployment = await self._backend.create(spec)
        except BackendError as error:
            raise DeployError(f"cannot create a performer for AVS {spec.avs_address}: {error}") from error
        live = self._track(deployment, State.STAGED)
        self._next[avs] = live
        log.info(
            "deploying performer",
            extra={"avs": avs, "performer_id": live.performer_id, "image": spec.image},
        )
        error = await self._ready_or_let_go(live, "deploy failed; removing the new performer")
        if error is not None:
            kept = self._current.get(avs)
            keeps = f"; performer {kept.performer_id} keeps serving" if kept else ""
            raise DeployError(
                f"performer {live.performer_id} for AVS {avs} failed: {error}{keeps}"
            ) from error
        old = self._promote(live)
        log.info(
            "performer in service",
            extra={
                "avs": avs,
                "performer_id": live.performer_id,
                "replaces": old.performer_id if old else None,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        if old is not None:
            await self._retire(old)
        return live

    async def _make_ready(self, live: LivePerformer) -> None:
        """Infrastructure ready, then the performer answers SERVING; raises otherwise."""
        live.deployment = await self._backend.wait_ready(live.deployment, self._settings.ready_timeout)
        self._follow_endpoint(live)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.health_timeout
        pause = 0.05
        while not await live.monitor.check_now():
            if loop.time() + pause > deadline:
                raise NotReadyError(
                    f"performer {live.performer_id} at {live.endpoint} did not answer its gRPC "
                    f"health check with SERVING within {self._settings.health_timeout:g} s"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _promote(self, live: LivePerformer) -> LivePerformer | None:
        """Makes `live` the AVS's current performer; returns the one it replaces (now retiring).
        No await in here: tasks see either the old or the new performer, never neither."""
        avs = live.avs
        old = self._current.get(avs)
        self._lifecycle.move(live, State.IN_SERVICE)
        if old is not None:
            self._lifecycle.move(old, State.RETIRING)
        self._current[avs] = live
        self._untrack_staged(live)
        live.monitor.start()
        return old

    async def _retire(self, old: LivePerformer) -> None:
        """Waits (bounded) for the old performer's in-flight tasks, then removes it."""
        try:
            if old.in_flight:
                log.info(
                    "draining performer",
                    extra={"avs": old.avs, "performer_id": old.performer_id, "in_flight": old.in_flight},
                )
            async with asyncio.timeout(self._settings.drain_timeout):
                await old.idle.wait()
        except TimeoutError:
            log.warning(
                "drain timed out; removing the performer with tasks still running",
                extra={"avs": old.avs, "performer_id": old.performer_id, "in_flight": old.in_flight},
            )
        await self._discard(old)

    # --- start, list, remove, shutdown -----------------------------------------------------------

    async def start(self) -> dict[str, str]:
        """Adopts owned performers and deploys what is missing (see the module docstring). Returns
        the AVSs that have no performer afterwards, with the reason (an empty dict when all do).
        Raises PoolError when the backend cannot list what it owns."""
        try:
            owned = await self._backend.owned()
        except BackendError as error:
            raise PoolError(f"cannot list the performers this executor owns: {error}") from error
        records = {record.performer_id: record for record in self._store.performers()}
        owned_ids = {deployment.performer_id for deployment in owned}
        for performer_id in records.keys() - owned_ids:
            self._lifecycle.forget(performer_id)
        by_avs: dict[str, list[Deployment]] = {}
        for deployment in owned:
            by_avs.setdefault(deployment.spec.avs_address.lower(), []).append(deployment)
        strays = [d for avs, found in by_avs.items() if avs not in self._configured for d in found]
        await self._remove_all(strays, "its AVS is not configured")
        avss = list(self._configured)
        outcomes = await asyncio.gather(
            *(self._spawn(self._start_avs(avs, by_avs.get(avs, []), records)) for avs in avss),
            return_exceptions=True,
        )
        self._started = True
        problems = {}
        for avs, outcome in zip(avss, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                problems[avs] = str(outcome)
                log.error("no performer for AVS", extra={"avs": avs, "reason": str(outcome)})
            elif avs not in self._current:
                problems[avs] = "no image configured; waiting for DeployArtifact"
                log.info("no performer for AVS: no image configured", extra={"avs": avs})
        return problems

    async def _start_avs(
        self, avs: str, candidates: list[Deployment], records: Mapping[str, PerformerRecord]
    ) -> None:
        spec = self._configured[avs]
        async with self._locks[avs]:
            self._deploying[avs] = asyncio.current_task()  # type: ignore[assignment]
            try:
                keep = choose(candidates, records, spec)
                await self._remove_all([d for d in candidates if d is not keep], "superseded")
                if keep is not None and spec is not None and spec.endpoint_override:
                    # The resource does not remember the override; the AVS's configuration does.
                    keep.spec = dataclasses.replace(keep.spec, endpoint_override=spec.endpoint_override)
                    keep.endpoint = spec.endpoint_override
                record = records.get(keep.performer_id) if keep is not None else None
                if keep is not None and record is not None and record.status == "in_service":
                    await self._adopt_remembered(keep, record, spec)
                elif (keep is None or not await self._adopt(keep, record)) and spec is not None:
                    await self._deploy_locked(spec)
            finally:
                self._deploying.pop(avs, None)

    async def _ready_or_let_go(
        self, live: LivePerformer, failure: str, *, keep: bool = False
    ) -> Exception | None:
        """Makes a staged or adopting performer ready; when that fails it is untracked and removed
        (`keep`: released, left running with its record), logged with `failure`, and the error is
        returned. Cancelled, it is only untracked and released: remove() removes it itself,
        shutdown(delete=True) removes it, else the next start adopts or removes it."""
        try:
            await self._make_ready(live)
        except asyncio.CancelledError:
            self._untrack_staged(live)
            await self._release(live)
            raise
        except Exception as error:
            self._untrack_staged(live)
            log.warning(
                failure, extra={"avs": live.avs, "performer_id": live.performer_id, "reason": str(error)}
            )
            await (self._release(live) if keep else self._discard(live))
            return error
        return None

    def _adopting(self, deployment: Deployment, record: PerformerRecord | None) -> LivePerformer:
        # Adopting: until it is promoted, its record (if any) keeps saying what it said.
        live = self._track(deployment, State.ADOPTING, created_at=record.created_at if record else None)
        self._next[live.avs] = live
        return live

    async def _adopt(self, deployment: Deployment, record: PerformerRecord | None) -> bool:
        live = self._adopting(deployment, record)
        if await self._ready_or_let_go(live, "cannot adopt performer; removing it") is not None:
            return False
        await self._put_adopted_in_service(live)
        return True

    async def _adopt_remembered(
        self, deployment: Deployment, record: PerformerRecord, configured: PerformerSpec | None
    ) -> None:
        """Adopts the performer the store remembers in service, else replaces it with a new one of
        its spec; raises DeployError when that fails too (the old one is then left running, with its
        record)."""
        live = self._adopting(deployment, record)
        failure = "cannot adopt the performer in service before the restart; deploying its image anew"
        error = await self._ready_or_let_go(live, failure, keep=True)
        if error is None:
            await self._put_adopted_in_service(live)
            return
        try:
            await self._deploy_locked(_replacement_spec(deployment.spec, configured))
        except DeployError as deploy_error:
            raise DeployError(
                f"performer {live.performer_id} (image {record.image}), in service before the restart, "
                f"did not become ready ({error}) and a new performer of that image failed too "
                f"({deploy_error}); the configured image was not deployed in its place, and the next "
                "start tries again"
            ) from deploy_error
        await self._discard(live)

    async def _put_adopted_in_service(self, live: LivePerformer) -> None:
        old = self._promote(live)
        log.info(
            "adopted performer",
            extra={"avs": live.avs, "performer_id": live.performer_id, "image": image_of(live.deployment)},
        )
        if old is not None:
            # Not expected (deploys wait for start() to finish); a replaced performer never runs on.
            await self._retire(old)

    async def list(self, avs: str | None = None) -> list[PerformerInfo]:
        """InService and Staged performers (of `avs` only, when given)."""
        lives = [*self._current.values(), *self._next.values()]
        if avs:
            lives = [live for live in lives if live.avs == avs.lower()]
        # Their states before the await: a deploy may retire one meanwhile (RETIRING is not listed).
        states = [LISTED[live.state] for live in lives]  # type: ignore[index]
        healthy = await asyncio.gather(*(self._resource_healthy(live) for live in lives))
        return [
            PerformerInfo(
                performer_id=live.performer_id,
                avs_address=live.avs,
                status=status,
                artifact_registry=live.deployment.spec.repository,
                artifact_digest=live.deployment.spec.digest or "",
                artifact_tag=live.deployment.spec.tag,
                resource_healthy=resource,
                application_healthy=live.monitor.application_healthy,
                last_health_check=live.monitor.last_check_rfc3339,
                container_id=live.deployment.resource_id,
            )
            for live, status, resource in zip(lives, states, healthy, strict=True)
        ]

    async def remove(self, performer_id: str) -> None:
        """Takes a performer out of service (after its in-flight tasks, bounded) and removes it;
        a staged one's deploy is cancelled. Returns once it is removed; the removal runs on when the
        caller goes away, and a second call for a performer being removed waits for the same end.
        Raises UnknownPerformerError, or PoolNotServingError (starting or shutting down)."""
        if self._closing:
            raise PoolNotServingError("the executor is shutting down")
        self._check_started()
        removal = self._removals.get(performer_id) or self._begin_removal(performer_id)
        try:
            await asyncio.shield(removal)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if removal.cancelled() and not (caller is not None and caller.cancelling()):
                raise PoolNotServingError(
                    f"the executor is shutting down: performer {performer_id} is left to the shutdown"
                ) from None
            raise

    def _begin_removal(self, performer_id: str) -> asyncio.Task[None]:
        """Starts removing the performer in a task of its own; raises UnknownPerformerError. No await
        in here: a second remove() finds the removal in `_removals`."""
        staged = next((live for live in self._next.values() if live.performer_id == performer_id), None)
        if staged is not None:
            deploying = self._deploying.get(staged.avs)
            if deploying is not None:
                deploying.cancel()
            log.info("removing staged performer", extra={"avs": staged.avs, "performer_id": performer_id})
            removal = self._spawn(self._remove_staged(staged, deploying))
        else:
            live = next((live for live in self._current.values() if live.performer_id == performer_id), None)
            if live is None:
                raise UnknownPerformerError(f"no performer {performer_id} is in service or staged here")
            self._lifecycle.move(live, State.RETIRING)
            del self._current[live.avs]
            log.info("removing performer", extra={"avs": live.avs, "performer_id": performer_id})
            removal = self._spawn(self._retire(live))
        self._removals[performer_id] = removal
        removal.add_done_callback(lambda _: self._removals.pop(performer_id, None))
        return removal

    async def _remove_staged(self, live: LivePerformer, deploying: asyncio.Task[Any] | None) -> None:
        """Waits for the cancelled deploy to let its staged performer go, then removes it."""
        if deploying is not None:
            await asyncio.wait([deploying])
        self._untrack_staged(live)
        await self._discard(live)

    async def shutdown(self, *, delete: bool = False) -> None:
        """Stops deploys, removals and health checks and closes clients; removes the performers
        only when `delete` (every one still tracked, whatever its state). Closes the backend."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Cancelled deploys released their staged performers, cut removals left theirs retiring.
        lives = list(self._lives)
        if delete:
            await asyncio.gather(*(self._discard(live) for live in lives))
            self._current.clear()
        else:
            await asyncio.gather(*(self._release(live) for live in lives if live.state is not State.RELEASED))
        self._next.clear()
        self._lives.clear()
        await self._backend.close()

    # --- helpers -------------------------------------------------------------------------------

    def _check_started(self) -> None:
        if not self._started:
            raise PoolNotServingError(
                "the executor is starting (adopting or deploying its performers); try again once its "
                "health is SERVING"
            )

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled():
                finished.exception()  # retrieved: a caller that went away must not cause a warning

        task.add_done_callback(done)
        return task

    def _track(self, deployment: Deployment, state: State, created_at: float | None = None) -> LivePerformer:
        settings = self._settings
        live = LivePerformer(
            deployment=deployment,
            client=self._client_factory(deployment.endpoint) if deployment.endpoint else None,
            breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_reset),
            backend=self._backend.name,
            created_at=created_at if created_at is not None else self._clock(),
        )
        live.monitor = HealthMonitor(
            live,
            interval=settings.health_interval,
            timeout=settings.health_check_timeout,
            listener=lambda monitor: self._on_health(live, monitor),
        )
        self._lifecycle.move(live, state)
        self._lives.add(live)
        return live

    def _untrack_staged(self, live: LivePerformer) -> None:
        if self._next.get(live.avs) is live:
            del self._next[live.avs]

    def _follow_endpoint(self, live: LivePerformer) -> None:
        """Dials the deployment's endpoint when it is new (a Kubernetes performer's once the operator
        reported it) or changed (a restarted Docker container may get a new host port)."""
        endpoint = live.deployment.endpoint
        if not endpoint:
            raise NotReadyError(f"performer {live.performer_id} is ready but its backend gave no address")
        if live.client is None or endpoint != live.client.endpoint:
            old, live.client = live.client, self._client_factory(endpoint)
            if old is not None:
                self._spawn(old.close())
            self._lifecycle.refresh(live)

    async def _close(self, live: LivePerformer) -> None:
        await live.monitor.stop()
        if live.restarting is not None:
            live.restarting.cancel()
        if live.client is not None:
            await live.client.close()

    async def _release(self, live: LivePerformer) -> None:
        """Lets the performer go without removing it (the next start adopts or removes it)."""
        self._lifecycle.move(live, State.RELEASED)
        await self._close(live)

    async def _discard(self, live: LivePerformer) -> None:
        """Removes the performer from the backend and forgets it (removal errors are logged)."""
        await live.monitor.stop()
        try:
            await self._backend.remove(live.performer_id)
        except BackendError as error:
            log.warning(
                "cannot remove performer",
                extra={"avs": live.avs, "performer_id": live.performer_id, "reason": str(error)},
            )
        else:
            log.info("removed performer", extra={"avs": live.avs, "performer_id": live.performer_id})
        self._lifecycle.move(live, State.REMOVED)
        self._lives.discard(live)
        await self._close(live)

    async def _remove_all(self, deployments: Iterable[Deployment], reason: str) -> None:
        async def remove(deployment: Deployment) -> None:
            log.info(
                "removing performer",
                extra={
                    "avs": deployment.spec.avs_address.lower(),
                    "performer_id": deployment.performer_id,
                    "reason": reason,
                },
            )
            try:
                await self._backend.remove(deployment.performer_id)
            except BackendError as error:
                log.warning(
                    "cannot remove performer",
                    extra={"performer_id": deployment.performer_id, "reason": str(error)},
                )
            self._lifecycle.forget(deployment.performer_id)

        await asyncio.gather(*(remove(d) for d in deployments))

    async def _resource_healthy(self, live: LivePerformer) -> bool:
        try:
            return await self._backend.resource_healthy(live.performer_id)
        except BackendError:
            return False

    def _on_health(self, live: LivePerformer, monitor: HealthMonitor) -> None:
        failures = monitor.consecutive_failures
        if (
            not self._can_restart
            or live.state is not State.IN_SERVICE
            or live.restarting is not None
            or not failures
            or failures % self._settings.restart_after
        ):
            return
        log.warning(
            "performer fails its health checks; restarting it",
            extra={"avs": live.avs, "performer_id": live.performer_id, "failures": failures},
        )
        live.restarting = self._spawn(self._restart(live))

    def _on_backend_event(self, performer_id: str, event: str) -> None:
        """The backend restarted a performer on its own (or for `_restart`): dial its new endpoint
        now, rather than after `restart_after` failed health checks and a needless second restart."""
        if event != "restarted" or self._closing:
            return
        live = next((live for live in self._lives if live.performer_id == performer_id), None)
        if live is None or live.state not in FOLLOWED_STATES or not live.deployment.endpoint:
            return
        if live.client is not None and live.client.endpoint == live.deployment.endpoint:
            return
        log.info(
            "performer restarted on a new endpoint",
            extra={"avs": live.avs, "performer_id": performer_id, "endpoint": live.deployment.endpoint},
        )
        self._follow_endpoint(live)

    async def _restart(self, live: LivePerformer) -> None:
        try:
            live.deployment = await self._backend.restart(live.performer_id)  # type: ignore[attr-defined]
            self._follow_endpoint(live)
        except BackendError as error:
            log.error(
                "cannot restart performer",
                extra={"avs": live.avs, "performer_id": live.performer_id, "reason": str(error)},
            )
        finally:
            live.restarting = None


def _replacement_spec(remembered: PerformerSpec, configured: PerformerSpec | None) -> PerformerSpec:
    """What to deploy in place of a remembered performer that cannot be adopted: its spec as the
    backend reads it back (the image, and on Kubernetes the env and service account a DeployArtifact
    set) over the configured env and service account, which a DeployArtifact starts from too (Docker
    does not read a container's env back: values may be secrets)."""
    if configured is None:
        return remembered
    env = {var.name: var for var in (*configured.env, *remembered.env)}
    return dataclasses.replace(
        remembered,
        env=tuple(env.values()),
        service_account_name=remembered.service_account_name or configured.service_account_name,
    )
