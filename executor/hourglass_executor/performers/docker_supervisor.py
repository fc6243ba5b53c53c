"""Keeps Docker performers running: the liveness checks and restart policy of upstream container
mode (docs/upstream-contract.md §7).

`Supervisor` is told which performers to watch. Every `check_interval` it asks the backend whether
each one's container is running; a Docker `die`/`oom` event (streamed by `DockerEventWatcher`)
triggers the same check at once. A performer whose container is not running is recreated after a
back-off (2 s, doubling, at most 30 s); after `max_restarts` restarts without a quiet period of
`stable_after` in between, the supervisor gives up on it and reports it failed. The performer pool
asks for a restart through `restart()` when the application health check fails (3 times in a
row); such restarts share the same count and back-off. Listeners (`add_listener`) hear of each
restart ("restarted") and of giving up ("failed").

Events only make detection faster: the check decides, so an event for a container that was
already replaced (or stopped on purpose) does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hourglass_executor.performers.base import BackendError

log = logging.getLogger(__name__)

SupervisorEvent = Literal["restarted", "failed"]
Listener = Callable[[str, SupervisorEvent], None]  # (performer id, what happened); called on the loop


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    initial_backoff: float = 2.0  # seconds before the first restart, doubling for each further one
    max_backoff: float = 30.0
    check_interval: float = 5.0  # seconds between container state checks
    stable_after: float = 300.0  # running this long after a restart resets the restart count

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before restart number `attempt` (1-based)."""
        return min(self.initial_backoff * 2 ** (attempt - 1), self.max_backoff)


@dataclass
class _Watch:
    restarts: int = 0
    last_restart: float | None = None
    task: asyncio.Task[None] | None = None
    recreating: bool = False  # the restart task is past its back-off (cannot be cancelled safely)
    gave_up: bool = False
    generation: int = 0  # restarts begun; a check that saw an older generation is stale


class Supervisor:
    def __init__(
        self,
        *,
        is_running: Callable[[str], Awaitable[bool]],
        recreate: Callable[[str], Awaitable[None]],
        policy: RestartPolicy | None = None,
        backoff_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        listener: Listener | None = None,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._is_running = is_running
        self._recreate = recreate
        self._backoff_sleep = backoff_sleep
        self._monotonic = monotonic
        self._listeners: list[Listener] = [listener] if listener is not None else []
        self._watches: dict[str, _Watch] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._checks: set[asyncio.Task[None]] = set()
        self._closed = False

    def add_listener(self, listener: Listener) -> None:
        """Tells `listener` too of every restart and give-up from now on."""
        self._listeners.append(listener)

    def watch(self, performer_id: str) -> None:
        """Starts supervising a performer (and the periodic checks, on first use)."""
        if self._closed:
            return
        self._watches.setdefault(performer_id, _Watch())
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._check_periodically(), name="docker-supervisor")

    async def forget(self, performer_id: str) -> None:
        """Stops supervising a performer. A restart waiting out its back-off is cancelled; one
        already recreating the container is waited for, so that the caller sees its container."""
        watch = self._watches.pop(performer_id, None)
        if watch is not None and watch.task is not None:
            await self._settle(watch)

    def watching(self, performer_id: str) -> bool:
        return performer_id in self._watches

    def gave_up(self, performer_id: str) -> bool:
        watch = self._watches.get(performer_id)
        return watch is not None and watch.gave_up

    def restarts(self, performer_id: str) -> int:
        watch = self._watches.get(performer_id)
        return watch.restarts if watch else 0

    def check_soon(self, performer_id: str) -> None:
        """Checks a performer now (a Docker event said its container died or ran out of memory)."""
        if performer_id in self._watches and not self._closed:
            task = asyncio.create_task(self._check(performer_id))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def restart(self, performer_id: str, reason: str) -> None:
        """Restarts a performer (after the back-off for its restart count) and returns when its new
        container runs; joins a restart already under way. Raises BackendError when the performer is
        not supervised or the supervisor gave up on it."""
        watch = self._watches.get(performer_id)
        if watch is None:
            raise BackendError(f"performer {performer_id} is not managed by this executor")
        if not watch.gave_up:
            task = watch.task or self._start_restart(performer_id, watch, reason)
            await asyncio.wait({task})  # never cancels the restart, even if our caller is cancelled
        if watch.gave_up:
            raise BackendError(
                f"performer {performer_id} was restarted {watch.restarts} times and keeps failing; "
                "not restarting it again"
            )
        if self._watches.get(performer_id) is not watch:
            raise BackendError(f"performer {performer_id} was removed while restarting")

    async def close(self) -> None:
        self._closed = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)
        watches = list(self._watches.values())
        self._watches.clear()
        for watch in watches:
            await self._settle(watch)

    # --- internals ------------------------------------------------------------------------

    async def _settle(self, watch: _Watch) -> None:
        task = watch.task
        if task is None:
            return
        if not watch.recreating:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.policy.check_interval)
            for performer_id in list(self._watches):
                await self._check(performer_id)

    async def _check(self, performer_id: str) -> None:
        watch = self._watches.get(performer_id)
        if watch is None or watch.gave_up or watch.task is not None:
            return
        generation = watch.generation
        try:
            running = await self._is_running(performer_id)
        except Exception as exc:  # the engine is unreachable: no evidence the performer failed
            log.warning("cannot check performer %s: %s", performer_id, exc)
            return
        if self._watches.get(performer_id) is not watch or watch.generation != generation:
            return  # removed, or restarted while we were asking: the answer is stale
        if running:
            if (
                watch.restarts
                and watch.last_restart is not None
                and self._monotonic() - watch.last_restart >= self.policy.stable_after
            ):
                watch.restarts = 0
            return
        self._start_restart(performer_id, watch, "its container is not running")

    def _start_restart(self, performer_id: str, watch: _Watch, reason: str) -> asyncio.Task[None]:
        watch.generation += 1
        task = asyncio.create_task(self._restart(performer_id, watch, reason), name=f"restart-{performer_id}")
        watch.task = task
        return task

    async def _restart(self, performer_id: str, watch: _Watch, reason: str) -> None:
        try:
            while True:
                if watch.restarts >= self.policy.max_restarts:
                    watch.gave_up = True
                    log.error(
                        "performer %s: %s; giving up after %d restarts",
                        performer_id,
                        reason,
                        watch.restarts,
                    )
                    self._notify(performer_id, "failed")
                    return
                watch.restarts += 1
                delay = self.policy.backoff(watch.restarts)
                log.warning(
                    "performer %s: %s; restart %d of %d in %.1f s",
                    performer_id,
                    reason,
                    watch.restarts,
                    self.policy.max_restarts,
                    delay,
                )
                await self._backoff_sleep(delay)
                watch.recreating = True
                try:
                    await self._recreate(performer_id)
                except Exception as exc:
                    log.warning("performer %s: restart %d failed: %s", performer_id, watch.restarts, exc)
                    reason = f"restart failed ({exc})"
                    continue
                finally:
                    watch.recreating = False
                watch.last_restart = self._monotonic()
                log.info("performer %s restarted", performer_id)
                self._notify(performer_id, "restarted")
                return
        finally:
            watch.task = None

    def _notify(self, performer_id: str, event: SupervisorEvent) -> None:
        if self._watches.get(performer_id) is None:
            return
        for listener in list(self._listeners):
            try:
                listener(performer_id, event)
            except Exception:
                log.exception("supervisor listener failed for performer %s (%s)", performer_id, event)


class EventStream(Protocol):
    """What `DockerClient.events(decode=True)` returns: decoded events, closable from any thread."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class DockerEventWatcher:
    """Reads a Docker event stream on a thread (the SDK blocks) and hands each event to `on_event`
    on the event loop; reconnects after `retry_interval` when the stream ends or fails."""

    def __init__(
        self,
        open_stream: Callable[[], EventStream],
        on_event: Callable[[dict[str, Any]], None],
        *,
        retry_interval: float = 5.0,
    ) -> None:
        self._open_stream = open_stream
        self._on_event = on_event
        self._retry_interval = retry_interval
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._stream: EventStream | None = None
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._thread is None and not self._closed.is_set():
            self._thread = threading.Thread(target=self._run, args=(loop,), name="docker-events", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stops the thread (blocking up to `timeout`; call it from a worker thread in async code)."""
        self._closed.set()
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._closed.is_set():
            try:
                stream = self._open_stream()
            except Exception as exc:
                log.warning("cannot watch Docker events: %s", exc)
                self._closed.wait(self._retry_interval)
                continue
            with self._lock:
                if self._closed.is_set():
                    with contextlib.suppress(Exception):
                        stream.close()
                    return
                self._stream = stream
            try:
                for event in stream:
                    loop.call_soon_threadsafe(self._on_event, event)
            except RuntimeError:  # the event loop was closed
                return
            except Exception as exc:
                if not self._closed.is_set():
                    log.warning("the Docker event stream failed: %s", exc)
            with self._lock:
                self._stream = None
            self._closed.wait(self._retry_interval)
