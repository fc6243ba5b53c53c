"""The JSON-RPC client (`chain/jsonrpc.py`) against local nodes that misbehave on purpose: an answer
too large to hold, a rate limit answered to a batch, HTTP 429/503 with `Retry-After`, a connection
dropped in the middle of an answer. Each node is an aiohttp server in the test's event loop that
records when each request arrived."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from hourglass_executor.chain.jsonrpc import MAX_RESPONSE_BYTES, JsonRpcClient, RpcError

from tests.support.fake_rpc import answer_every_call, serving

pytestmark = pytest.mark.unit

AVS = "0x" + "ab" * 20
ONE = "0x" + (1).to_bytes(32, "big").hex()
Handler = Callable[["Node", web.Request, Any], Awaitable[web.StreamResponse]]


@dataclass
class Node:
    """What a test's node received: each request's body and the loop time it arrived."""

    url: str = ""
    bodies: list[Any] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)


@contextlib.asynccontextmanager
async def node(handler: Handler) -> AsyncIterator[Node]:
    """A running node answering every POST with `handler(node, request, body)`."""
    state = Node()

    async def handle(request: web.Request) -> web.StreamResponse:
        state.arrivals.append(asyncio.get_running_loop().time())
        body = await request.json()
        state.bodies.append(body)
        return await handler(state, request, body)

    async with serving(handle) as state.url:
        yield state


def answer(body: Any) -> web.Response:
    """Every eth_call of `body` (one or a batch) answered with ONE."""
    return answer_every_call(body, ONE)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


# --- the size limit ------------------------------------------------------------------------------


async def endless(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
    """The first request: a 200 whose result never ends (chunked, no Content-Length); then ONE."""
    if len(state.bodies) > 1:
        return answer(body)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"jsonrpc":"2.0","id":1,"result":"0x')
    chunk = b"00" * (1 << 20)
    with contextlib.suppress(ConnectionError):  # the client hung up, as it should
        while True:
            await response.write(chunk)
    return response


async def declared_huge(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
    """A 200 whose Content-Length announces 100 MiB (only its start is sent)."""
    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "Content-Length": str(100 << 20)}
    )
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await response.write(b'{"jsonrpc":"2.0","id":1,"result":"0x')
    return response


@pytest.mark.parametrize("handler", [endless, declared_huge], ids=["streamed", "content-length"])
def test_an_answer_over_the_size_limit_is_refused_at_once_and_not_cached(handler):
    async def scenario():
        async with node(handler) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=3, cache_size=10)
            started = time.monotonic()
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"call", 7)
            took = time.monotonic() - started
            await client.close()
            return failed.value, took, len(state.bodies)

    error, took, requests = run(scenario)
    assert str(error) == f"the answer to eth_call is larger than the {MAX_RESPONSE_BYTES >> 20} MiB limit"
    assert not error.transient and requests == 1  # the same node would send it again: not retried
    assert took < 3, "refused at the limit, not read until the time limit"


def test_a_refused_oversized_answer_is_asked_again_by_the_next_read():
    async def scenario():
        async with node(endless) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=0, cache_size=10)
            with pytest.raises(RpcError):
                await client.eth_call(AVS, b"call", 7)
            again = await client.eth_call(AVS, b"call", 7)
            await client.close()
            return again, len(state.bodies)

    again, requests = run(scenario)
    assert again == bytes.fromhex(ONE[2:]) and requests == 2


# --- batches and rate limits ---------------------------------------------------------------------


def first_batch_answered_with(error: dict[str, Any]) -> Handler:
    async def handler(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
        if isinstance(body, list) and len(state.bodies) == 1:
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": error})
        return answer(body)

    return handler


async def gather_twice(client: JsonRpcClient) -> list[bytes]:
    first = await asyncio.gather(*(client.eth_call(AVS, bytes([i]), 0) for i in range(3)))
    second = await asyncio.gather(*(client.eth_call(AVS, bytes([i]), 0) for i in range(3)))
    return [*first, *second]


@pytest.mark.parametrize(
    "error",
    [{"code": -32005, "message": "rate limit exceeded"}, {"code": -32000, "message": "Too Many Requests"}],
)
def test_a_rate_limit_answered_to_a_batch_is_retried_and_batching_stays_on(error):
    async def scenario():
        async with node(first_batch_answered_with(error)) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=2, cache_size=10)
            answers = await gather_twice(client)
            await client.close()
            return answers, [len(body) if isinstance(body, list) else 1 for body in state.bodies]

    answers, sizes = run(scenario)
    assert answers == [bytes.fromhex(ONE[2:])] * 6
    assert sizes == [3, 3, 3], "the rate-limited batch is sent again, then the next one is a batch too"


def test_a_node_that_says_it_refuses_batches_gets_single_requests_and_the_reason_is_logged(caplog):
    refusal = {"code": -32600, "message": "batch requests are not supported"}

    async def scenario():
        async with node(first_batch_answered_with(refusal)) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=0, cache_size=10)
            await gather_twice(client)
            await client.close()
            return [len(body) if isinstance(body, list) else 1 for body in state.bodies]

    with caplog.at_level(logging.WARNING, logger="hourglass_executor.chain.jsonrpc"):
        sizes = run(scenario)
    assert sizes == [3, 1, 1, 1, 1, 1, 1]
    [record] = caplog.records
    assert "refuses batches" in record.getMessage()
    assert record.reason == "JSON-RPC error -32600: batch requests are not supported"


def test_another_error_answered_to_a_batch_sends_its_calls_singly_once():
    async def scenario():
        error = {"code": -32000, "message": "internal error"}
        async with node(first_batch_answered_with(error)) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=0, cache_size=10)
            await gather_twice(client)
            await client.close()
            return [len(body) if isinstance(body, list) else 1 for body in state.bodies]

    assert run(scenario) == [3, 1, 1, 1, 3]


def test_a_rate_limit_answered_to_a_single_call_is_retried():
    async def handler(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
        if len(state.bodies) == 1:
            error = {"code": -32005, "message": "rate limit exceeded"}
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})
        return answer(body)

    async def scenario():
        async with node(handler) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=1, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, len(state.bodies)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 2)


# --- Retry-After ---------------------------------------------------------------------------------


def busy_once(status: int, retry_after: Callable[[], str]) -> Handler:
    async def handler(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
        if len(state.bodies) == 1:
            return web.Response(status=status, headers={"Retry-After": retry_after()}, text="slow down")
        return answer(body)

    return handler


@pytest.mark.parametrize(
    ("status", "retry_after", "at_least"),
    [
        (429, lambda: "1", 1.0),
        (503, lambda: email.utils.formatdate(time.time() + 2, usegmt=True), 0.9),  # whole seconds
    ],
    ids=["429 seconds", "503 http-date"],
)
def test_retry_after_is_waited_for_within_the_time_limit(status, retry_after, at_least):
    async def scenario():
        async with node(busy_once(status, retry_after)) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=3, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, state.arrivals

    result, arrivals = run(scenario)
    assert result == bytes.fromhex(ONE[2:]) and len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= at_least, "asked again before the node's Retry-After"


def test_a_retry_after_beyond_the_time_limit_fails_at_once_saying_so():
    async def scenario():
        async with node(busy_once(429, lambda: "30")) as state:
            client = JsonRpcClient(state.url, timeout=2, retries=3, cache_size=10)
            started = time.monotonic()
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 0)
            took = time.monotonic() - started
            await client.close()
            return failed.value, took, len(state.bodies)

    error, took, requests = run(scenario)
    assert str(error) == "HTTP 429; the node asks to retry after 30 s, beyond the 2 s time limit (1 attempt)"
    assert error.transient and requests == 1 and took < 1


# --- a connection dropped mid-answer -------------------------------------------------------------


async def truncated_once(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
    """The first answer announces 1000 bytes, sends 16, and closes the connection."""
    if len(state.bodies) > 1:
        return answer(body)
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"jsonrpc":"2.0"')
    assert request.transport is not None
    request.transport.close()
    return response


def test_a_connection_dropped_in_the_middle_of_an_answer_is_retried():
    async def scenario():
        async with node(truncated_once) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=2, cache_size=10)
            result = await client.eth_call(AVS, b"x", 3)
            await client.close()
            return result, len(state.bodies)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 2)


def test_a_connection_dropped_every_time_names_the_cause():
    async def always(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
        state.bodies.clear()  # every request is "the first"
        state.bodies.append(body)
        return await truncated_once(state, request, body)

    async def scenario():
        async with node(always) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=1, cache_size=10)
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 3)
            await client.close()
            return failed.value, len(state.arrivals)

    error, requests = run(scenario)
    assert requests == 2 and error.transient
    assert str(error) == "the RPC endpoint closed the connection in the middle of an answer (2 attempts)"


def test_batched_answers_are_matched_by_id_not_position():
    async def reversed_answer(state: Node, request: web.Request, body: Any) -> web.StreamResponse:
        results = [
            {
                "jsonrpc": "2.0",
                "id": call["id"],
                "result": "0x" + call["params"][0]["data"][2:].rjust(64, "0"),
            }
            for call in body
        ]
        return web.Response(text=json.dumps(results[::-1]), content_type="application/json")

    async def scenario():
        async with node(reversed_answer) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=0, cache_size=10)
            answers = await asyncio.gather(*(client.eth_call(AVS, bytes([i]), 0) for i in range(4)))
            await client.close()
            return [int.from_bytes(a, "big") for a in answers]

    assert run(scenario) == [0, 1, 2, 3]


# --- an answer that is not HTTP ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def not_http(reply: bytes) -> AsyncIterator[str]:
    """The URL of a TCP server answering every request with `reply` (a bad status line, a bad header)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v2/SECRET-API-KEY"
    finally:
        server.close()


@pytest.mark.parametrize(
    "reply",
    [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"],
    ids=["status line", "content-length"],
)
def test_an_answer_that_is_not_http_is_a_transport_error_that_never_names_the_url(reply):
    """aiohttp's error for it holds the URL (an API key in it): it was a traceback at start-up."""

    async def scenario():
        async with not_http(reply) as url:
            client = JsonRpcClient(url, timeout=2, retries=1, cache_size=10)
            try:
                with pytest.raises(RpcError) as failed:
                    await client.eth_call(AVS, b"x", 0)
                with pytest.raises(RpcError) as chain_id:
                    await client.chain_id()
            finally:
                await client.close()
            return failed.value, chain_id.value

    for error in run(scenario):
        assert "is not valid HTTP" in str(error) and error.transient
        assert "SECRET" not in str(error) and "127.0.0.1" not in str(error)


def test_a_retry_after_of_other_digits_than_ascii_ones_is_not_a_wait():
    """'²'.isdigit() is true, float('²') fails: it ended the call with a ValueError."""

    async def scenario():
        async with node(busy_once(429, lambda: "²")) as state:
            client = JsonRpcClient(state.url, timeout=5, retries=3, cache_size=10)
            result = await client.eth_call(AVS, b"x", 0)
            await client.close()
            return result, len(state.bodies)

    assert run(scenario) == (bytes.fromhex(ONE[2:]), 2)
