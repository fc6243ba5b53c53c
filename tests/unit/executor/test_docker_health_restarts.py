"""When the pool restarts a Docker performer for failed health checks: only the one in service (a new
performer still starting is given its health timeout, not restarted), once per `restart_after` (3)
failures in a row (not at every failure after the third), never a second time while a restart
runs, and again when it fails again after a restart."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.performers.base import Deployment, PerformerSpec
from hourglass_executor.performers.pool import DeployError, PerformerPool, PoolSettings
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import RestartableLocalBackend
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit


def spec(tag: str) -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag=tag)


class NoFixBackend(RestartableLocalBackend):
    """Restarts that do not cure the performer (it still answers NOT_SERVING); a restart waits for
    `gate` when one is given."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gate: asyncio.Event | None = None

    async def restart(self, performer_id: str) -> Deployment:
        self.restarts.append(performer_id)
        if self.gate is not None:
            await self.gate.wait()
        return self.performers[performer_id].deployment


def new_pool(backend: RestartableLocalBackend, **settings: float) -> PerformerPool:
    return PerformerPool(
        backend, MemoryStore(), {AVS: spec("v1")}, settings=PoolSettings(health_interval=0.02, **settings)
    )


async def failing_in_service(backend: RestartableLocalBackend) -> tuple[PerformerPool, object]:
    """A started pool whose in-service performer has begun to answer NOT_SERVING."""
    pool = new_pool(backend)
    await pool.start()
    live = pool.current(AVS)
    await backend.performers[live.performer_id].server.set_serving(False)
    return pool, live


def test_a_performer_still_failing_after_a_restart_is_restarted_once_per_three_more_failures():
    async def scenario():
        backend = NoFixBackend()
        pool, live = await failing_in_service(backend)
        try:
            await wait_for_async(
                lambda: live.monitor.consecutive_failures >= 8, timeout=10, what="eight failed checks"
            )
            await live.monitor.stop()
            failures = live.monitor.consecutive_failures
            # Once the restarts the checks asked for ran: one per three failures (the count goes on,
            # the restart did not cure the performer).
            await wait_for_async(
                lambda: len(backend.restarts) == failures // 3,
                timeout=5,
                what=f"{failures // 3} restarts after {failures} failures (got {backend.restarts})",
            )
            return failures, len(backend.restarts)
        finally:
            await pool.shutdown()
            await backend.destroy()

    failures, restarts = asyncio.run(scenario())
    assert failures >= 8 and restarts == failures // 3


def test_no_second_restart_while_one_is_running():
    async def scenario():
        backend = NoFixBackend()
        backend.gate = asyncio.Event()  # the first restart does not end until the checks below ran
        pool, live = await failing_in_service(backend)
        try:
            await wait_for_async(
                lambda: live.monitor.consecutive_failures >= 7, timeout=10, what="seven failed checks"
            )
            return list(backend.restarts), live.performer_id
        finally:
            backend.gate.set()
            await pool.shutdown()
            await backend.destroy()

    restarts, performer_id = asyncio.run(scenario())
    assert restarts == [performer_id]


def test_a_performer_that_fails_again_after_a_restart_cured_it_is_restarted_again():
    async def scenario():
        backend = RestartableLocalBackend()  # a restart makes the performer SERVING again
        pool, live = await failing_in_service(backend)
        server = backend.performers[live.performer_id].server
        try:
            await wait_for_async(
                lambda: backend.restarts and live.monitor.application_healthy, timeout=10, what="the cure"
            )
            await server.set_serving(False)
            await wait_for_async(
                lambda: len(backend.restarts) == 2 and live.monitor.application_healthy,
                timeout=10,
                what="a second restart",
            )
            return backend.restarts, live.performer_id
        finally:
            await pool.shutdown()
            await backend.destroy()

    restarts, performer_id = asyncio.run(scenario())
    assert restarts == [performer_id, performer_id]


def test_a_new_performer_slow_to_answer_serving_is_not_restarted_while_it_starts():
    async def scenario():
        backend = RestartableLocalBackend(unhealthy={"v2"})  # v2 never answers SERVING
        pool = new_pool(backend, health_timeout=1.0)  # several checks fail within the health timeout
        await pool.start()
        try:
            with pytest.raises(DeployError, match="did not answer its gRPC health check with SERVING"):
                await pool.deploy(spec("v2"))
            return backend.restarts
        finally:
            await pool.shutdown()
            await backend.destroy()

    assert asyncio.run(scenario()) == []
