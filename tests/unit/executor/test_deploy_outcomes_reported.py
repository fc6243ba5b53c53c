"""Each deploy's end is reported for the executor's deploys metric with what happened to it: a deploy
whose staged performer was removed (RemovePerformer) is `cancelled`, not `failed`."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.performers.pool import DeployCancelledError, PerformerPool
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.support.local_backend import LocalBackend
from tests.unit.executor.test_performer_pool import deploy_held_staged, spec

pytestmark = pytest.mark.unit


def test_a_deploy_cancelled_by_removing_its_staged_performer_is_reported_cancelled():
    async def scenario():
        backend, reported = LocalBackend(), []
        pool = PerformerPool(
            backend, MemoryStore(), {AVS: spec()}, on_deploy=lambda *end: reported.append(end)
        )
        await pool.start()
        try:
            deploying, staged = await deploy_held_staged(pool, backend)
            await pool.remove(staged)
            with pytest.raises(DeployCancelledError):
                await deploying
            return reported
        finally:
            await pool.shutdown()
            await backend.destroy()

    assert asyncio.run(scenario()) == [(AVS.lower(), "succeeded"), (AVS.lower(), "cancelled")]
