"""After a restart with a persistent store, the performer that replaces a remembered (DeployArtifact)
performer that did not become ready keeps the values that DeployArtifact gave: a variable it set
over a configured one of the same name keeps the deployed value, not the configured one."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.performers.base import EnvVar
from hourglass_executor.store.sqlite import SqliteStore

from tests.support.aggregator import AVS
from tests.unit.executor.test_pool_breaker_and_adoption import (
    StuckBackend,
    configured,
    new_pool,
    spec,
)

pytestmark = pytest.mark.unit

DEPLOYED_RPC = EnvVar("RPC_URL", value="http://rpc-from-deploy-artifact.example")


def test_a_variable_deploy_artifact_overrode_keeps_its_deployed_value_in_the_replacement(tmp_path):
    path = tmp_path / "executor.sqlite3"
    deployed = spec("v2", env=(DEPLOYED_RPC, EnvVar("MODE", value="fast")), service_account_name="v2")
    assert {var.name for var in configured().env} == {"RPC_URL"}  # the configured value differs

    async def scenario():
        backend = StuckBackend()
        store = SqliteStore(path)
        first = new_pool(backend, store)
        await first.start()
        old_v2 = (await first.deploy(deployed)).performer_id
        await first.shutdown()
        store.close()
        backend.stuck.add(old_v2)
        store = SqliteStore(path)
        second = new_pool(backend, store)
        try:
            problems = await second.start()
            new_v2 = second.current(AVS).performer_id
            return problems, old_v2, new_v2, backend.history[new_v2].deployment.spec
        finally:
            await second.shutdown()
            store.close()
            await backend.destroy()

    problems, old_v2, new_v2, replacement = asyncio.run(scenario())
    assert problems == {} and new_v2 != old_v2
    assert {var.name: var.value for var in replacement.env} == {
        "RPC_URL": DEPLOYED_RPC.value,
        "MODE": "fast",
    }
