"""HealthMonitor against a real SDK performer: healthy while it serves, unhealthy once it stops,
RFC 3339 timestamps, consecutive failures and the listener."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, timezone

from hourglass_executor.performers.client import PerformerClient
from hourglass_executor.performers.health import HealthMonitor, rfc3339
from hourglass_executor.sdk import PerformerServer, Worker

from tests.support.waiting import wait_for_async


class EchoWorker(Worker):
    def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        return payload


def test_check_now_follows_the_performer_up_and_down():
    async def scenario():
        server = PerformerServer(EchoWorker(), 0, "127.0.0.1")
        await server.start()
        moments = iter(
            [datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2025, 1, 2, 3, 4, 20, tzinfo=UTC)]
        )
        seen: list[tuple[bool, int]] = []
        async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
            monitor = HealthMonitor(
                client,
                timeout=0.5,
                clock=lambda: next(moments),
                listener=lambda m: seen.append((m.application_healthy, m.consecutive_failures)),
            )
            assert not monitor.application_healthy
            assert (monitor.last_check, monitor.last_check_rfc3339) == (None, "")
            assert await monitor.check_now()
            assert monitor.last_check_rfc3339 == "2025-01-02T03:04:05Z"
            await server.stop(0)
            assert not await monitor.check_now()
            assert monitor.last_check_rfc3339 == "2025-01-02T03:04:20Z"
        return seen

    assert asyncio.run(scenario()) == [(True, 0), (False, 1)]


def test_the_periodic_loop_marks_a_stopped_performer_unhealthy():
    async def scenario():
        server = PerformerServer(EchoWorker(), 0, "127.0.0.1")
        await server.start()
        async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
            monitor = HealthMonitor(client, interval=0.05, timeout=0.3)
            monitor.start()
            try:
                await wait_for_async(lambda: monitor.application_healthy, timeout=1.5)
                assert monitor.consecutive_failures == 0
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", monitor.last_check_rfc3339)
                await server.stop(0)
                await wait_for_async(lambda: monitor.consecutive_failures >= 2, timeout=1.5)
                assert not monitor.application_healthy
            finally:
                await monitor.stop()
            assert not monitor.running

    asyncio.run(scenario())


def test_a_raising_client_counts_as_a_failed_check():
    class Broken:
        async def health_check(self, timeout: float = 1.0) -> bool:
            raise RuntimeError("broken")

    async def scenario():
        monitor = HealthMonitor(Broken())
        assert not await monitor.check_now()
        assert not await monitor.check_now()
        return monitor

    monitor = asyncio.run(scenario())
    assert (monitor.application_healthy, monitor.consecutive_failures) == (False, 2)
    assert monitor.last_check is not None


def test_rfc3339_is_utc_to_the_second():
    eastern = timezone(timedelta(hours=-5))
    assert rfc3339(datetime(2025, 6, 30, 19, 0, 1, 999999, tzinfo=eastern)) == "2025-07-01T00:00:01Z"
