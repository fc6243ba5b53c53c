"""Once the executor is shutting down, the pool refuses a deploy (DeployArtifact) and a removal
(RemovePerformer): a deploy creates no performer that no one would track or remove, and a removal
does not delete the performer that a shutdown without `deletePerformersOnShutdown` keeps running for
the next start."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.pool import (
    DeployCancelledError,
    PerformerPool,
    PoolNotServingError,
)
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend, running_versions

pytestmark = pytest.mark.unit


def spec(tag: str) -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag=tag)


class ClosingGateBackend(LocalBackend):
    """A LocalBackend whose `close` (the last step of the pool's shutdown) waits for `release`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.closing, self.release = asyncio.Event(), asyncio.Event()

    async def close(self) -> None:
        self.closing.set()
        await self.release.wait()
        await super().close()


async def during_shutdown(attempt) -> tuple[BaseException | None, LocalBackend, str]:
    """Runs `attempt(pool, performer_id)` while the pool's shutdown (without delete) is under way;
    what it raised, the backend, and the id of the performer in service before."""
    backend = ClosingGateBackend()
    pool = PerformerPool(backend, MemoryStore(), {AVS: spec("v1")})
    await pool.start()
    v1 = pool.current(AVS).performer_id
    shutdown = asyncio.create_task(pool.shutdown())
    await backend.closing.wait()
    try:
        await attempt(pool, v1)
    except Exception as error:
        raised: BaseException | None = error
    else:
        raised = None
    finally:
        backend.release.set()
        await shutdown
    await backend.destroy()
    return raised, backend, v1


def test_a_deploy_during_shutdown_is_refused_and_creates_nothing():
    async def deploy(pool, _):
        await pool.deploy(spec("v2"))

    raised, backend, v1 = asyncio.run(during_shutdown(deploy))
    assert isinstance(raised, DeployCancelledError) and "shutting down" in str(raised)
    assert backend.created == [v1]
    assert running_versions(backend) == ["v1"]


def test_a_removal_during_shutdown_is_refused_and_the_performer_keeps_running_for_the_next_start():
    async def remove(pool, performer_id):
        await pool.remove(performer_id)

    raised, backend, v1 = asyncio.run(during_shutdown(remove))
    assert isinstance(raised, PoolNotServingError) and "shutting down" in str(raised)
    assert backend.removed == []
    assert list(backend.performers) == [v1]
