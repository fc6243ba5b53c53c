"""When asking `l1Chain.rpcUrl` its chain id at start-up fails with an unexpected error (one that is
not the chain reader's own, and whose message may quote the URL with its API key), the executor
starts with a warning that names only the error's type: never the URL or its key."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hourglass_executor.config import validate_config
from hourglass_executor.server.components import build_chain, check_chain_id

from tests.support.executor_harness import config_data

pytestmark = pytest.mark.unit

SECRET = "SECRETKEY"
URL = f"https://rpc.example/v2/{SECRET}"


def test_an_unexpected_chain_id_error_is_logged_by_its_type_without_the_url(caplog):
    data = config_data(chain={"type": "rpc", "timeout": "2s", "retries": 1})
    data["l1Chain"]["rpcUrl"] = URL
    config = validate_config(data)

    async def scenario() -> None:
        chain = build_chain(config)

        async def endpoint_chain_id() -> int:
            raise RuntimeError(f"cannot reach {URL}: boom")

        chain.endpoint_chain_id = endpoint_chain_id  # type: ignore[method-assign]
        try:
            await check_chain_id(config, chain)  # starts anyway
        finally:
            await chain.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    [warning] = [r for r in caplog.records if "cannot check the chain id" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.reason == "unexpected RuntimeError"
    for record in caplog.records:
        logged = record.getMessage() + " " + " ".join(map(str, vars(record).values()))
        assert SECRET not in logged and "rpc.example" not in logged
