"""A blue-green deploy waits for the old performer's in-flight tasks only up to the drain timeout: a
task that outlasts it (a performer stuck in a task) does not hold the deploy, nor the AVS's next
deploy or removal, forever; the old performer is then removed with that task still running."""

from __future__ import annotations

import asyncio
import json

import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.client import PerformerCallError
from hourglass_executor.performers.pool import PerformerPool, PoolSettings
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend, running_versions
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

STUCK = json.dumps({"op": "sleep", "ms": 60_000}).encode()  # far beyond the drain timeout below


def spec(tag: str) -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag=tag)


def test_a_task_outlasting_the_drain_timeout_does_not_hold_the_deploy_and_the_old_performer_goes():
    async def scenario():
        backend = LocalBackend()
        pool = PerformerPool(
            backend, MemoryStore(), {AVS: spec("v1")}, settings=PoolSettings(drain_timeout=0.2)
        )
        await pool.start()
        v1 = pool.current(AVS).performer_id
        stuck_id = new_task_id()
        stuck = asyncio.create_task(pool.run_task(AVS, stuck_id, STUCK, timeout=120))
        await wait_for_async(
            lambda: stuck_id.encode() in backend.worker(v1).started, what="the stuck task to run on v1"
        )
        try:
            async with asyncio.timeout(20):  # a bound for a failing run, far beyond the drain timeout
                deployed = await pool.deploy(spec("v2"))
            with pytest.raises(PerformerCallError) as cut:
                await stuck
            return backend, v1, deployed.performer_id, cut.value
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, v1, v2, cut = asyncio.run(scenario())
    assert backend.removed == [v1]
    assert backend.history[v1].in_flight_when_removed == 1  # removed with its task still running
    assert cut.maybe_executed
    assert running_versions(backend) == ["v2"] and backend.created[-1] == v2
