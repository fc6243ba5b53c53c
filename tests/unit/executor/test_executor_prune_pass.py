"""One prune pass of the running executor forgets every task id older than the retention, batch
after batch, not one batch per `PRUNE_INTERVAL` (under load more ids expire each minute than one
batch holds: the store would grow for good)."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.server import app
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.support.clock import ManualClock
from tests.support.executor_harness import executor_config, running_executor
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit


def test_the_prune_at_start_forgets_every_expired_task_id_not_just_one_batch():
    clock = ManualClock()
    store = MemoryStore(retention=3600, clock=clock)
    expired = 3 * app.PRUNE_BATCH + 1
    for index in range(expired):
        store.claim_task(f"old-{index}", AVS)
    clock.now += 3600.5
    store.claim_task("recent", AVS)
    assert app.PRUNE_INTERVAL >= 60  # a single pass runs within this test: the one at start

    async def scenario() -> list[str | None]:
        async with running_executor(executor_config(), store=store):
            last = f"old-{expired - 1}"
            await wait_for_async(lambda: store.task_status(last) is None, timeout=10, what=f"{last} pruned")
            return [store.task_status(f"old-{index}") for index in range(expired)] + [
                store.task_status("recent")
            ]

    statuses = asyncio.run(scenario())
    assert set(statuses[:-1]) == {None}
    assert statuses[-1] == "claimed"
