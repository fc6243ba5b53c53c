"""Start-up asks the JSON-RPC endpoint its chain id (`startup.prepare`, step 8, through
`components.check_chain_id`): `run` refuses an endpoint of another chain, naming `l1Chain.chainId`
and `l1Chain.rpcUrl` but never the URL, and starts with a warning when it does not answer (an
outage must not keep the executor down after it); `validate` sends nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hourglass_executor.config import ExecutorConfig, validate_config
from hourglass_executor.server import startup
from hourglass_executor.server.components import StartupError

from tests.support.aggregator import CHAIN_ID
from tests.support.executor_harness import config_data
from tests.support.fake_rpc import serving

pytestmark = pytest.mark.unit

SECRET = "SECRET-API-KEY"


@contextlib.asynccontextmanager
async def endpoint(chain_id: int) -> AsyncIterator[tuple[str, list[str]]]:
    """(the URL of a node answering eth_chainId with `chain_id`, the methods it was asked)."""
    methods: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        methods.append(body["method"])
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": hex(chain_id)})

    async with serving(handle, f"/v2/{SECRET}") as url:
        yield url, methods


def rpc_config(url: str) -> ExecutorConfig:
    data = config_data(chain={"type": "rpc", "timeout": "2s", "retries": 1})
    data["l1Chain"]["rpcUrl"] = url
    return validate_config(data)


async def prepared(url: str, *, check_only: bool = False) -> startup.Parts:
    parts = await startup.prepare(rpc_config(url), {}, check_only=check_only)
    await startup._close(parts)
    return parts


def test_run_refuses_an_endpoint_of_another_chain():
    async def scenario():
        async with endpoint(1) as (url, methods):
            with pytest.raises(StartupError) as failed:
                await prepared(url)
            return failed.value, methods

    error, methods = asyncio.run(scenario())
    assert methods == ["eth_chainId"]
    assert error.problems == [
        f"l1Chain.rpcUrl: the endpoint serves chain id 1, not l1Chain.chainId {CHAIN_ID}"
    ]
    assert SECRET not in str(error) and "127.0.0.1" not in str(error)


def test_run_starts_with_an_endpoint_of_the_configured_chain():
    async def scenario():
        async with endpoint(CHAIN_ID) as (url, methods):
            parts = await prepared(url)
            return parts, methods

    parts, methods = asyncio.run(scenario())
    assert parts.chain is not None and methods == ["eth_chainId"]


def test_validate_does_not_ask_the_endpoint():
    async def scenario():
        async with endpoint(1) as (url, methods):
            await prepared(url, check_only=True)
            return methods

    assert asyncio.run(scenario()) == []


def test_run_starts_with_a_warning_when_the_endpoint_does_not_answer(caplog):
    async def scenario():
        async with endpoint(CHAIN_ID) as (url, _):
            pass  # nothing listens there any more
        return url, await prepared(url)

    with caplog.at_level("WARNING"):
        url, parts = asyncio.run(scenario())
    assert parts.chain is not None
    [warning] = [r for r in caplog.records if "cannot check the chain id" in r.getMessage()]
    assert "connection refused" in warning.reason and SECRET not in caplog.text and url not in caplog.text


def test_run_starts_with_a_warning_naming_no_url_when_the_endpoint_does_not_answer_in_http(caplog):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v2/{SECRET}"
        try:
            return await prepared(url)
        finally:
            server.close()

    with caplog.at_level("WARNING"):
        parts = asyncio.run(scenario())
    assert parts.chain is not None
    assert "cannot check the chain id" in caplog.text and SECRET not in caplog.text
