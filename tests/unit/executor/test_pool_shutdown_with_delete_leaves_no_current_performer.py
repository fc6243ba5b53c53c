"""After `shutdown(delete=True)` the pool's performers are removed and none is current for its AVS
any more: nothing would send a task to a removed performer."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.pool import PerformerPool, PoolSettings
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.support.local_backend import LocalBackend

pytestmark = pytest.mark.unit

REPOSITORY = "ghcr.io/example/echo-performer"


def test_no_performer_is_current_after_a_shutdown_that_deletes_them():
    async def scenario() -> tuple[LocalBackend, str, object]:
        backend = LocalBackend()
        spec = PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag="v1")
        pool = PerformerPool(backend, MemoryStore(), {AVS: spec}, settings=PoolSettings(health_interval=600))
        try:
            await pool.start()
            live = pool.current(AVS)
            assert live is not None
            await pool.shutdown(delete=True)
            return backend, live.performer_id, pool.current(AVS)
        finally:
            await backend.destroy()

    backend, performer_id, current = asyncio.run(scenario())
    assert backend.removed == [performer_id] and backend.performers == {}
    assert current is None
