"""`eth_call` over JSON-RPC for the chain reader: batching, caching, time limits and retries.

Built on web3.py's `AsyncHTTPProvider` (its own retry is switched off: the rules below are ours):

- **Batching.** Calls issued in the same event-loop turn (for example by `asyncio.gather`) go out
  as one JSON-RPC batch, one HTTP request. A node that refuses batches gets single requests from
  then on.
- **Caching.** A result read at a numbered block is kept (least recently used first out, at most
  `cache_size` results) under (contract, call data, block); so is a revert. Not an empty result
  ("0x"): besides "no contract there", some nodes answer so for a block beyond their head, and the
  next read must ask again. Reads at the latest block (block 0) are not cached. The caller drops
  answers it finds negative (`forget`): the key is the block number, not its hash, so a block near
  the head can still be reorganised. Identical reads in flight share one request.
- **Time limit.** One call, retries included, takes at most `timeout` seconds; then it fails.
- **Retries** with exponential back-off (0.05 s doubling, at most 1 s) on transport errors only:
  connection refused or reset, a timed-out attempt, HTTP 5xx or 429. Never on a revert, a JSON-RPC
  error or an answer that does not decode: those fail at once.

Failures are `RpcError`s (a `ChainReaderError`) whose message says what went wrong without the
URL (it can embed an API key): the reader adds the contract and function. web3's provider logs the
URL at debug and info level, so its loggers are kept at WARNING or above.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from web3 import AsyncHTTPProvider

from hourglass_executor.chain import ChainReaderError

BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0
_RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})

for _name in ("web3.providers.AsyncHTTPProvider", "web3._utils.http_session_manager.HTTPSessionManager"):
    logging.getLogger(_name).setLevel(logging.WARNING)  # their debug and info lines carry the URL


class RpcError(ChainReaderError):
    """An eth_call that failed; `transient` when the chain was unreachable (not a revert)."""

    def __init__(self, message: str, *, transient: bool = False, revert_data: bytes | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.revert_data = revert_data


class _TransportError(Exception):
    """One attempt failed in a way worth retrying; `reason` has no URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RpcStats:
    """Counters for tests and the benchmark."""

    http_requests: int = 0  # HTTP requests sent (a batch is one), retries included
    calls: int = 0  # eth_calls sent (not answered from the cache)
    cache_hits: int = 0


@dataclass(frozen=True)
class _Call:
    to: str
    data: bytes
    block: int


class JsonRpcClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        retries: int,
        cache_size: int,
        provider: AsyncHTTPProvider | None = None,
    ) -> None:
        self._provider = provider or AsyncHTTPProvider(
            url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout + 1)},
            exception_retry_configuration=None,
        )
        self._timeout = timeout
        self._retries = retries
        self._cache: OrderedDict[_Call, bytes | RpcError] = OrderedDict()
        self._cache_size = cache_size
        self._in_flight: dict[_Call, asyncio.Future[bytes]] = {}
        self._pending: list[tuple[_Call, asyncio.Future[bytes]]] = []
        self._flush_scheduled = False
        self._batching = True
        self._session: aiohttp.ClientSession | None = None
        self._senders: set[asyncio.Task[None]] = set()
        self.stats = RpcStats()

    async def eth_call(self, to: str, data: bytes, block: int) -> bytes:
        """The return data of calling `to` with `data` at `block` (0: latest). RpcError on failure."""
        call = _Call(to.lower(), bytes(data), block)
        if block:
            cached = self._cache.get(call)
            if cached is not None:
                self._cache.move_to_end(call)
                self.stats.cache_hits += 1
                if isinstance(cached, RpcError):
                    raise RpcError(str(cached), revert_data=cached.revert_data)
                return cached
        shared = self._in_flight.get(call)
        if shared is None:
            shared = self._enqueue(call)
            self._in_flight[call] = shared
            shared.add_done_callback(lambda _, call=call: self._settle(call))
        return await asyncio.shield(shared)

    def forget(self, to: str, data: bytes, block: int) -> None:
        """Drops the cached answer of this call, if any: the next one asks the node again."""
        self._cache.pop(_Call(to.lower(), bytes(data), block), None)

    def _settle(self, call: _Call) -> None:
        # Runs before the callers are woken (registered before their shield), so that a caller's
        # `forget` comes after the answer is cached.
        future = self._in_flight.pop(call, None)
        if not call.block or future is None or future.cancelled():
            return
        error = future.exception()
        if error is None:
            answer: bytes | RpcError = future.result()
            if not answer:
                return  # "0x": maybe a node behind this block (see the module docstring)
        elif isinstance(error, RpcError) and error.revert_data is not None:
            answer = error
        else:
            return
        self._cache[call] = answer
        self._cache.move_to_end(call)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _enqueue(self, call: _Call) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending.append((call, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        batch, self._pending, self._flush_scheduled = self._pending, [], False
        if not batch:
            return
        sender = asyncio.get_running_loop().create_task(self._send(batch))
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def _send(self, batch: list[tuple[_Call, asyncio.Future[bytes]]]) -> None:
        self.stats.calls += len(batch)
        try:
            answers = await self._post_with_retries([call for call, _ in batch])
        except RpcError as error:
            answers = [error] * len(batch)
        except Exception as error:  # never leave a caller waiting
            answers = [RpcError(f"unexpected {type(error).__name__}")] * len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _post_with_retries(self, calls: Sequence[_Call]) -> list[bytes | RpcError]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(remaining):
                    return await self._post(calls)
            except TimeoutError:
                reason = f"no answer within {self._timeout:g} s"
                if loop.time() >= deadline:
                    raise RpcError(
                        f"{reason} ({attempt} attempt{'s' if attempt > 1 else ''})", transient=True
                    ) from None
            except _TransportError as error:
                reason = error.reason
            delay = min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX)
            if attempt > self._retries or loop.time() + delay >= deadline:
                raise RpcError(f"{reason} ({attempt} attempt{'s' if attempt > 1 else ''})", transient=True)
            await asyncio.sleep(delay)

    async def _post(self, calls: Sequence[_Call]) -> list[bytes | RpcError]:
        await self._ensure_session()
        requests = [
            ("eth_call", [{"to": call.to, "data": "0x" + call.data.hex()}, _block_tag(call.block)])
            for call in calls
        ]
        self.stats.http_requests += 1
        try:
            if len(requests) == 1 or not self._batching:
                responses = await asyncio.gather(*(self._provider.make_request(*r) for r in requests))
                self.stats.http_requests += len(requests) - 1
            else:
                answer = await self._provider.make_batch_request(requests)
                if not isinstance(answer, list):  # one error object: the node refuses batches
                    self._batching = False
                    responses = await asyncio.gather(*(self._provider.make_request(*r) for r in requests))
                    self.stats.http_requests += len(requests)
                else:
                    responses = answer
        except aiohttp.ClientResponseError as error:
            if error.status in _RETRYABLE_HTTP:
                raise _TransportError(f"HTTP {error.status}") from None
            raise RpcError(f"HTTP {error.status}") from None
        except TimeoutError:
            raise  # the attempt's time is up (our deadline, or aiohttp's own limit just after it)
        except (aiohttp.ClientConnectionError, ConnectionError, OSError) as error:
            raise _TransportError(_connection_reason(error)) from None
        except (ValueError, TypeError, KeyError) as error:  # not JSON, or not JSON-RPC
            raise RpcError(f"undecodable JSON-RPC answer ({type(error).__name__})") from None
        if len(responses) != len(requests):
            raise RpcError(f"the node answered {len(responses)} of {len(requests)} batched calls")
        return [_result(response) for response in responses]

    async def _ensure_session(self) -> None:
        # web3's default session closes the connection after every request; keep it alive.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(raise_for_status=True)
            await self._provider.cache_async_session(self._session)

    async def close(self) -> None:
        for sender in list(self._senders):
            sender.cancel()
        if self._session is not None:
            await self._session.close()
        await self._provider.disconnect()


def _block_tag(block: int) -> str:
    return hex(block) if block else "latest"


def _connection_reason(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "cannot connect to the RPC endpoint (connection refused or unreachable)"
    if isinstance(error, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "the RPC endpoint closed the connection"
    return f"connection to the RPC endpoint failed ({type(error).__name__})"


def _result(response: Any) -> bytes | RpcError:
    if not isinstance(response, dict):
        return RpcError("undecodable JSON-RPC answer (not an object)")
    error = response.get("error")
    if error is not None:
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        data = error.get("data") if isinstance(error, dict) else None
        revert = _hex_bytes(data) if isinstance(data, str) else None
        code = error.get("code") if isinstance(error, dict) else None
        if code == 3 or "revert" in message.lower():
            return RpcError(f"reverted: {message[:200]}", revert_data=revert or b"")
        return RpcError(f"JSON-RPC error {code}: {message[:200]}")
    result = response.get("result")
    if not isinstance(result, str):
        return RpcError("undecodable JSON-RPC answer (no result)")
    data = _hex_bytes(result)
    if data is None:
        return RpcError("undecodable JSON-RPC answer (result is not hex)")
    return data


def _hex_bytes(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        return None
