"""`kubernetes.tls` reaches the performer clients of the pool `components.build_pool` builds: with
TLS enabled every performer is dialled over a secure channel with the configured settings, never
silently in plaintext."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.config import validate_config
from hourglass_executor.performers.client import TlsSettings
from hourglass_executor.server.components import build_pool
from hourglass_executor.store.memory import MemoryStore

from tests.support.executor_harness import config_data
from tests.support.local_backend import LocalBackend

pytestmark = pytest.mark.unit

SERVER_NAME = "performer.avs.svc"


def test_the_pool_dials_performers_with_the_configured_kubernetes_tls():
    data = config_data(kubernetes={"namespace": "avs", "tls": {"enabled": True, "serverName": SERVER_NAME}})
    for performer in data["avsPerformers"]:
        performer["deploymentMode"] = "kubernetes"
    config = validate_config(data)

    async def scenario():
        pool = build_pool(config, LocalBackend(), MemoryStore(), {})
        # The factory the pool makes each performer's client with (its endpoint reported later).
        client = pool._client_factory("10.0.0.7:8080")
        try:
            return client.tls
        finally:
            await client.close()
            await pool.shutdown()

    assert asyncio.run(scenario()) == TlsSettings(server_name=SERVER_NAME)
