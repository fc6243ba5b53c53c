"""The JSON-RPC client's revert recognition, retried statuses and codes, size limit, and cache keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from hourglass_executor.chain import jsonrpc
from hourglass_executor.chain.jsonrpc import JsonRpcClient, RpcError

from tests.support.fake_rpc import FakeRpc, answer_every_call, fake_rpc, serving

pytestmark = pytest.mark.unit

AVS = "0x" + "ab" * 20
ONE = "0x" + (1).to_bytes(32, "big").hex()
REVERT_DATA = "0x08c379a0" + "00" * 4


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def answer_one(to: str, data: bytes, tag: str) -> Any:
    return ONE


async def reads(server: FakeRpc, steps: list[tuple[str, bytes, int]], cache_size: int = 10) -> int:
    """Reads each (to, data, block) in turn; the number of eth_calls the node received."""
    client = JsonRpcClient(server.url, timeout=5, retries=0, cache_size=cache_size)
    try:
        for to, data, block in steps:
            assert await client.eth_call(to, data, block) == bytes.fromhex(ONE[2:])
    finally:
        await client.close()
    return len(server.calls)


@pytest.mark.parametrize(
    ("error", "revert_data"),
    [
        # geth before 1.9.15 and some providers: code -32000 with "execution reverted" in the message.
        (
            {"code": -32000, "message": "execution reverted", "data": REVERT_DATA},
            bytes.fromhex(REVERT_DATA[2:]),
        ),
        # EIP-1474's code 3 whatever the message says.
        ({"code": 3, "message": "custom error", "data": REVERT_DATA}, bytes.fromhex(REVERT_DATA[2:])),
        # A revert without reason: still a revert, with empty data.
        ({"code": 3, "message": "execution reverted"}, b""),
    ],
)
def test_reverts_are_recognised_and_cached_at_a_numbered_block(
    error: dict[str, Any], revert_data: bytes
) -> None:
    async def scenario() -> tuple[list[RpcError], int]:
        async with fake_rpc(lambda to, data, tag: error) as server:
            client = JsonRpcClient(server.url, timeout=5, retries=0, cache_size=10)
            failures = []
            for _ in range(2):
                with pytest.raises(RpcError) as failed:
                    await client.eth_call(AVS, b"call", 9)
                failures.append(failed.value)
            await client.close()
            return failures, len(server.calls)

    failures, calls = run(scenario)
    assert [failure.revert_data for failure in failures] == [revert_data, revert_data]
    assert not failures[0].transient
    assert calls == 1, "a revert at a numbered block is answered from the cache the second time"


def test_latest_block_reads_take_no_cache_slot() -> None:
    async def scenario() -> int:
        async with fake_rpc(answer_one) as server:
            return await reads(server, [(AVS, b"a", 5), (AVS, b"a", 0), (AVS, b"b", 0), (AVS, b"a", 5)], 1)

    assert run(scenario) == 3, "the block-5 answer is still cached after two latest-block reads"


def test_the_cache_drops_the_least_recently_used_answer() -> None:
    async def scenario() -> int:
        async with fake_rpc(answer_one) as server:
            steps = [(AVS, b"a", 1), (AVS, b"b", 1), (AVS, b"a", 1), (AVS, b"c", 1), (AVS, b"a", 1)]
            return await reads(server, steps, 2)

    assert run(scenario) == 3, "a (used again) outlives b; c evicts b, so the last read of a is cached"


def test_an_address_spelt_in_any_case_is_one_cache_key_and_sent_lower_case() -> None:
    async def scenario() -> tuple[int, list[str]]:
        async with fake_rpc(answer_one) as server:
            count = await reads(server, [(AVS.upper().replace("0X", "0x"), b"a", 3), (AVS, b"a", 3)])
            return count, [call["params"][0]["to"] for call in server.calls]

    count, destinations = run(scenario)
    assert count == 1 and destinations == [AVS]


@pytest.mark.parametrize("status", [504, 507, 520, 522, 524, 599])
def test_http_5xx_is_retried(status: int) -> None:
    # 520-524: a CDN in front of the node could not reach it, or timed out, for a moment.
    async def scenario() -> tuple[bytes, int]:
        async with fake_rpc(answer_one) as server:
            server.fail_next.append(status)
            client = JsonRpcClient(server.url, timeout=5, retries=1, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, len(server.http_requests)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 2)


@pytest.mark.parametrize("status", [501, 505])
def test_http_5xx_that_says_never_fails_at_once(status: int) -> None:
    async def scenario() -> tuple[RpcError, int]:
        async with fake_rpc(answer_one) as server:
            server.fail_next.append(status)
            client = JsonRpcClient(server.url, timeout=5, retries=3, cache_size=10)
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 0)
            await client.close()
            return failed.value, len(server.http_requests)

    error, requests = run(scenario)
    assert str(error) == f"HTTP {status}" and not error.transient
    assert requests == 1


def test_json_rpc_error_code_429_is_a_rate_limit_and_retried() -> None:
    outcomes: list[Any] = [{"code": 429, "message": "slow down"}]

    async def scenario() -> tuple[bytes, int]:
        async with fake_rpc(lambda to, data, tag: outcomes.pop(0) if outcomes else ONE) as server:
            client = JsonRpcClient(server.url, timeout=5, retries=1, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, len(server.http_requests)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 2)


Handler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def node(handler: Handler) -> AsyncIterator[tuple[str, list[Any]]]:
    """A node answering every POST with `handler(request, body)`; its URL and the bodies received."""
    bodies: list[Any] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        bodies.append(body)
        return await handler(request, body)

    async with serving(handle, "/") as url:
        yield url, bodies


def single_answers(body: Any) -> web.Response:
    return answer_every_call(body, ONE)


def batches_refused_with(error: dict[str, Any]) -> Handler:
    async def handler(request: web.Request, body: Any) -> web.StreamResponse:
        if isinstance(body, list):
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": error})
        return single_answers(body)

    return handler


@pytest.mark.parametrize(
    "error",
    [
        {"code": -32601, "message": "method not found"},  # no batch method at all
        {"code": -32000, "message": "Batch requests are disabled on this endpoint"},  # said in words
    ],
)
def test_a_batch_refusal_by_code_or_by_message_turns_batching_off(error: dict[str, Any]) -> None:
    async def scenario() -> list[int]:
        async with node(batches_refused_with(error)) as (url, bodies):
            client = JsonRpcClient(url, timeout=5, retries=0, cache_size=10)
            for _ in range(2):
                await asyncio.gather(*(client.eth_call(AVS, bytes([i]), 0) for i in range(3)))
            await client.close()
            return [len(body) if isinstance(body, list) else 1 for body in bodies]

    assert run(scenario) == [3, 1, 1, 1, 1, 1, 1]


def test_a_batch_answered_with_too_few_responses_fails_every_call() -> None:
    async def handler(request: web.Request, body: Any) -> web.StreamResponse:
        if isinstance(body, list):
            return web.json_response(
                [{"jsonrpc": "2.0", "id": call["id"], "result": ONE} for call in body[:2]]
            )
        return single_answers(body)

    async def scenario() -> list[Any]:
        async with node(handler) as (url, _):
            client = JsonRpcClient(url, timeout=5, retries=0, cache_size=10)
            async with asyncio.timeout(10):
                outcomes = await asyncio.gather(
                    *(client.eth_call(AVS, bytes([i]), 4) for i in range(3)), return_exceptions=True
                )
            await client.close()
            return outcomes

    outcomes = run(scenario)
    assert [str(outcome) for outcome in outcomes] == ["the node answered 2 of 3 batched calls"] * 3
    assert all(isinstance(outcome, RpcError) for outcome in outcomes)


def test_retry_after_on_http_500_is_not_a_wait() -> None:
    # Retry-After is defined for 429 and 503 (RFC 9110, RFC 6585); a 500 is retried with the back-off.
    async def handler(request: web.Request, body: Any) -> web.StreamResponse:
        if len(seen) == 0:
            seen.append(body)
            return web.Response(status=500, headers={"Retry-After": "3600"}, text="oops")
        return single_answers(body)

    seen: list[Any] = []

    async def scenario() -> tuple[bytes, int]:
        async with node(handler) as (url, bodies):
            client = JsonRpcClient(url, timeout=5, retries=1, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, len(bodies)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 2)


def test_a_streamed_answer_just_over_the_size_limit_is_refused() -> None:
    # No Content-Length: the limit applies to the bytes as they arrive, not at twice the limit.
    async def handler(request: web.Request, body: Any) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(b'{"jsonrpc":"2.0","id":%d,"result":"0x' % body["id"])
            await response.write(b"00" * (jsonrpc.MAX_RESPONSE_BYTES // 2 + 1024))
            await response.write(b'"}')
        return response

    async def scenario() -> RpcError:
        async with node(handler) as (url, _):
            client = JsonRpcClient(url, timeout=5, retries=0, cache_size=10)
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 0)
            await client.close()
            return failed.value

    assert "larger than the 4 MiB limit" in str(run(scenario))


def test_a_slow_answer_within_the_time_limit_is_read_in_one_attempt() -> None:
    # The node takes 1.8 s of a 3 s time limit: the one attempt may use all of it (no earlier cut-off).
    async def scenario() -> tuple[bytes, int]:
        async with fake_rpc(answer_one) as server:
            server.delay = 1.8
            client = JsonRpcClient(server.url, timeout=3, retries=0, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, len(server.http_requests)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 1)
