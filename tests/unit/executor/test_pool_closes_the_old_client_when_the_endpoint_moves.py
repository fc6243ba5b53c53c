"""When the backend reports a performer restarted on another endpoint, the pool dials the new one
and closes the client (and so the gRPC channel) of the old one: no channel is left open."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.client import PerformerClient
from hourglass_executor.performers.pool import PerformerPool, PoolSettings
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.unit.executor.test_pool_follows_restarts import MovingBackend

pytestmark = pytest.mark.unit

REPOSITORY = "ghcr.io/example/echo-performer"


class ClosingClient(PerformerClient):
    """A PerformerClient that says when it was closed."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        self.closed = asyncio.Event()

    async def close(self) -> None:
        await super().close()
        self.closed.set()


def test_the_old_client_is_closed_when_a_performer_moves_to_a_new_endpoint():
    async def scenario() -> tuple[str, str, bool]:
        backend = MovingBackend()
        spec = PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag="v1")
        pool = PerformerPool(
            backend,
            MemoryStore(),
            {AVS: spec},
            settings=PoolSettings(health_interval=600),
            client_factory=ClosingClient,
        )
        try:
            await pool.start()
            live = pool.current(AVS)
            old = live.client
            backend.moved(live.performer_id, "127.0.0.1:1")
            assert live.client is not old and live.client.endpoint == "127.0.0.1:1"
            await asyncio.wait_for(old.closed.wait(), 5)
            return old.endpoint, live.client.endpoint, live.client.closed.is_set()
        finally:
            await pool.shutdown(delete=True)
            await backend.destroy()

    old_endpoint, new_endpoint, new_closed = asyncio.run(scenario())
    assert old_endpoint != new_endpoint and not new_closed
