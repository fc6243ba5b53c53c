"""Application health of one performer: a periodic grpc.health.v1 check (every 15 s with a 1 s
timeout, as upstream). Its results feed ListPerformers' `application_healthy` and
`last_health_check`; `consecutive_failures` and the optional listener let the pool act on a
performer that stopped answering (Docker mode restarts it after 3).

The infrastructure's view (pod ready, container running) is the backend's `resource_healthy`; this
module only asks the performer itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

log = logging.getLogger(__name__)


class HealthCheckable(Protocol):
    async def health_check(self, timeout: float = 1.0) -> bool: ...


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC to the second, e.g. "2025-01-02T03:04:05Z" (Go's time.RFC3339 for UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HealthMonitor:
    """Checks `client` every `interval` seconds. Not healthy until a check succeeds."""

    def __init__(
        self,
        client: HealthCheckable,
        interval: float = 15.0,
        timeout: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        listener: Callable[[HealthMonitor], None] | None = None,
    ) -> None:
        self._client = client
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._listener = listener
        self.application_healthy = False
        self.last_check: datetime | None = None
        self.consecutive_failures = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def last_check_rfc3339(self) -> str:
        """`last_check` as RFC 3339, or "" before the first check (the proto field's default)."""
        return rfc3339(self.last_check) if self.last_check is not None else ""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Starts checking (the first check at once). Needs a running event loop; idempotent."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="performer-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check_now(self) -> bool:
        """Runs one check, records and returns its result."""
        try:
            healthy = await self._client.health_check(self.timeout)
        except Exception:
            # A client should answer False rather than raise; count a raise as a failed check.
            log.exception("health check raised")
            healthy = False
        self.last_check = self._clock()
        if healthy != self.application_healthy:
            log.info("performer application health: %s", "healthy" if healthy else "unhealthy")
        self.application_healthy = healthy
        self.consecutive_failures = 0 if healthy else self.consecutive_failures + 1
        if self._listener is not None:
            try:
                self._listener(self)
            except Exception:
                log.exception("health listener failed")
        return healthy

    async def _run(self) -> None:
        while True:
            await self.check_now()
            await asyncio.sleep(self.interval)
