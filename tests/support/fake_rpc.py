"""A tiny JSON-RPC server on 127.0.0.1 for the unit tests of the chain reader's error paths: it
answers `eth_call` through a function the test gives, and can fail, delay or refuse batches.

Only for error paths (what a real node cannot be made to do on demand: HTTP 503, a hang, a non-JSON
answer); the reader's real reads are tested against the devnet's Anvil.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from hourglass_executor.signing.keccak import keccak256

# answer(to, data, block_tag) -> "0x…" result, or {"code": …, "message": …, "data": …} for an error
Answer = Callable[[str, bytes, str], Any]


@dataclass
class FakeRpc:
    answer: Answer
    url: str = ""
    http_requests: list[Any] = field(default_factory=list)  # each request body (a dict or a list)
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer the next requests with
    delay: float = 0.0  # seconds before answering
    raw_body: bytes | None = None  # answer every request with these bytes (HTTP 200)
    refuse_batches: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every JSON-RPC call received, in order (batches flattened)."""
        flat = []
        for body in self.http_requests:
            flat += body if isinstance(body, list) else [body]
        return flat

    def _one(self, call: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": call.get("id")}
        if call.get("method") != "eth_call":
            response["error"] = {"code": -32601, "message": "method not found"}
            return response
        tx, tag = call["params"]
        outcome = self.answer(tx["to"], bytes.fromhex(tx["data"][2:]), tag)
        if isinstance(outcome, dict):
            response["error"] = outcome
        else:
            response["result"] = outcome
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.http_requests.append(body)
        if self.delay:
            with contextlib.suppress(TimeoutError):  # cut short when the server stops
                await asyncio.wait_for(self.released.wait(), self.delay)
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0), text="unavailable")
        if self.raw_body is not None:
            return web.Response(body=self.raw_body, content_type="application/json")
        if isinstance(body, list):
            if self.refuse_batches:
                return web.json_response(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32600, "message": "batches not supported"},
                    }
                )
            return web.json_response([self._one(call) for call in body])
        return web.json_response(self._one(body))


@contextlib.asynccontextmanager
async def fake_rpc(answer: Answer, path: str = "/v2/SECRET-API-KEY") -> AsyncIterator[FakeRpc]:
    """A running FakeRpc; `url` ends with `path` (an API key, to check that it is never shown)."""
    server = FakeRpc(answer)
    async with serving(server.handle, path) as server.url:
        try:
            yield server
        finally:
            server.released.set()


@contextlib.asynccontextmanager
async def serving(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]], path: str = "/v2/SECRET-API-KEY"
) -> AsyncIterator[str]:
    """`handle` answering every POST to `path` on a free loopback port; yields the URL."""
    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()


def answer_every_call(body: Any, result: str) -> web.Response:
    """Every call of `body` (one call or a batch) answered with `result`."""
    if isinstance(body, list):
        return web.json_response([{"jsonrpc": "2.0", "id": c["id"], "result": result} for c in body])
    return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})


def word(value: int | bytes | str) -> str:
    """One ABI word as the hex an eth_call returns."""
    if isinstance(value, str):
        value = bytes.fromhex(value.removeprefix("0x"))
    if isinstance(value, bytes):
        return "0x" + value.rjust(32, b"\0").hex()
    return "0x" + value.to_bytes(32, "big").hex()


# The contracts and answers the fake chains of the reader's tests share.
CONTRACTS = {
    "allocationManager": "0x" + "a1" * 20,
    "keyRegistrar": "0x" + "a2" * 20,
    "taskMailbox": "0x" + "a3" * 20,
    "bn254CertificateVerifier": "0x" + "a4" * 20,
    "ecdsaCertificateVerifier": "0x" + "a5" * 20,
}
INVALID_CURVE_TYPE = {  # the revert of the key read for the other curve
    "code": 3,
    "message": "execution reverted",
    "data": "0x" + keccak256(b"InvalidCurveType()")[:4].hex(),
}


def ecdsa_digest_bytes(separator: bytes, reference_timestamp: int, message_hash: bytes) -> bytes:
    """What ECDSACertificateVerifier.calculateCertificateDigestBytes returns (66 bytes)."""
    struct = keccak256(
        keccak256(b"ECDSACertificate(uint32 referenceTimestamp,bytes32 messageHash)")
        + reference_timestamp.to_bytes(32, "big")
        + message_hash
    )
    return b"\x19\x01" + separator + struct
