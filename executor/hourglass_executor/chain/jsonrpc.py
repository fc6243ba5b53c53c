"""`eth_call` over JSON-RPC for the chain reader: batching, caching, time limits and retries.

Posts JSON-RPC over its own aiohttp session (not web3.py's HTTP provider, which reads a whole answer
into memory however large it is):

- **Size limit.** An answer (HTTP body) larger than `MAX_RESPONSE_BYTES` is refused once that many
  bytes have arrived, or at once when its Content-Length says so: these reads return a few kB, so a
  larger answer is a faulty or hostile node, and a retry would read it again (not retried, not
  cached).
- **Batching.** Calls issued in the same event-loop turn (for example by `asyncio.gather`) go out
  as one JSON-RPC batch, one HTTP request. A node that answers a batch with one error saying that it
  refuses batches (invalid request -32600, method not found -32601, or a message about batches) gets
  single requests from then on (logged with the node's reason); a rate limit in that error is
  retried as a transport error; any other error sends that batch's calls singly, batching stays on.
- **Caching.** A result read at a numbered block is kept (least recently used first out, at most
  `cache_size` results) under (contract, call data, block); so is a revert. Not an empty result
  ("0x"): besides "no contract there", some nodes answer so for a block beyond their head, and the
  next read must ask again. Reads at the latest block (block 0) are not cached. The caller drops
  answers it finds negative (`forget`): the key is the block number, not its hash, so a block near
  the head can still be reorganised. Identical reads in flight share one request.
- **Time limit.** One call, retries included, takes at most `timeout` seconds; then it fails.
- **Retries** with exponential back-off (0.05 s doubling, at most 1 s) on transport errors only:
  connection refused, reset or dropped in the middle of an answer, a timed-out attempt, HTTP 429 or
  5xx (but 501 and 505, which say the request will never work), a JSON-RPC rate-limit error
  (-32005, or a message saying so). A `Retry-After` of HTTP 429/503 (seconds or a date) replaces
  the back-off; when it is beyond the call's time limit the call fails at once, saying so. Never on
  a revert, another JSON-RPC error or an answer that does not decode: those fail at once.

Failures are `RpcError`s (a `ChainReaderError`) whose message says what went wrong without the
URL (it can embed an API key): the reader adds the contract and function. `chain_id` asks
`eth_chainId` under the same rules (start-up compares it with the configured chain id).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import itertools
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from hourglass_executor.chain import ChainReaderError

BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_READ_CHUNK = 64 * 1024
_PERMANENT_5XX = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported
_RETRY_AFTER_HTTP = frozenset({429, 503})
_BATCH_REFUSED_CODES = frozenset({-32600, -32601})
_RATE_LIMIT_CODES = frozenset({-32005, 429})
_RATE_LIMIT_WORDS = ("rate limit", "too many requests")

log = logging.getLogger(__name__)
T = TypeVar("T")
Request = tuple[str, list[Any]]


class RpcError(ChainReaderError):
    """An eth_call that failed; `transient` when the chain was unreachable (not a revert)."""

    def __init__(self, message: str, *, transient: bool = False, revert_data: bytes | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.revert_data = revert_data


class _TransportError(Exception):
    """One attempt failed in a way worth retrying; `reason` has no URL; `retry_after` is the wait the
    node asked for (seconds), if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


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
    def __init__(self, url: str, *, timeout: float, retries: int, cache_size: int) -> None:
        self._url = url
        self._timeout = timeout
        self._retries = retries
        self._ids = itertools.count(1)
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

    async def chain_id(self) -> int:
        """The endpoint's chain id (`eth_chainId`), with the time limit and retries of a call."""
        [answer] = await self._post_with_retries([("eth_chainId", [])], _chain_id_result)
        if isinstance(answer, RpcError):
            raise answer
        return answer

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
        requests = [
            ("eth_call", [{"to": call.to, "data": "0x" + call.data.hex()}, _block_tag(call.block)])
            for call, _ in batch
        ]
        answers: Sequence[bytes | RpcError]
        try:
            answers = await self._post_with_retries(requests, _call_result)
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

    async def _post_with_retries(
        self, requests: Sequence[Request], decode: Callable[[Any], T | RpcError]
    ) -> list[T | RpcError]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - loop.time()
            retry_after: float | None = None
            try:
                async with asyncio.timeout(remaining):
                    return [decode(response) for response in await self._post(requests)]
            except TimeoutError:
                reason = f"no answer within {self._timeout:g} s"
                if loop.time() >= deadline:
                    raise RpcError(f"{reason} ({_attempts(attempt)})", transient=True) from None
            except _TransportError as error:
                reason, retry_after = error.reason, error.retry_after
            delay = _backoff(attempt) if retry_after is None else retry_after
            if retry_after is not None and loop.time() + delay >= deadline:
                raise RpcError(
                    f"{reason}; the node asks to retry after {retry_after:g} s, beyond the "
                    f"{self._timeout:g} s time limit ({_attempts(attempt)})",
                    transient=True,
                )
            if attempt > self._retries or loop.time() + delay >= deadline:
                raise RpcError(f"{reason} ({_attempts(attempt)})", transient=True)
            await asyncio.sleep(delay)

    async def _post(self, requests: Sequence[Request]) -> list[Any]:
        """The JSON-RPC responses to `requests`, in their order; a batch when more than one and the
        node takes batches."""
        if len(requests) == 1 or not self._batching:
            return list(await asyncio.gather(*(self._post_one(request) for request in requests)))
        ids = [next(self._ids) for _ in requests]
        answer = await self._http(
            [_envelope(request, id_) for request, id_ in zip(requests, ids, strict=True)]
        )
        if isinstance(answer, list):
            _raise_if_rate_limited(answer)
            return _in_order(answer, ids)
        self._batch_refused(answer)
        return list(await asyncio.gather(*(self._post_one(request) for request in requests)))

    async def _post_one(self, request: Request) -> Any:
        answer = await self._http(_envelope(request, next(self._ids)))
        _raise_if_rate_limited([answer])
        return answer

    def _batch_refused(self, answer: Any) -> None:
        """A batch was answered by one object: a rate limit is retried, a refusal of batches turns
        them off; either way the calls are then sent singly."""
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict) and _is_rate_limit(error):
            raise _TransportError(f"rate limited: {_error_text(error)}")
        reason = _error_text(error) if isinstance(error, dict) else "not a list"
        if isinstance(error, dict) and _refuses_batches(error):
            self._batching = False
            log.warning(
                "the RPC endpoint refuses batches: single requests from now on", extra={"reason": reason}
            )
        else:
            log.warning(
                "the RPC endpoint did not answer a batch: its calls are sent singly", extra={"reason": reason}
            )

    async def _http(self, body: Any) -> Any:
        """POSTs `body` as JSON and returns the decoded answer; _TransportError or RpcError."""
        session = self._ensure_session()
        self.stats.http_requests += 1
        method = _method_of(body)
        try:
            async with session.post(
                self._url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self._timeout + 1),
            ) as response:
                if response.status >= 400:
                    raise _http_error(response)
                raw = await _read_capped(response, method)
        except TimeoutError:
            raise  # the attempt's time is up (our deadline, or aiohttp's own limit just after it)
        except aiohttp.ClientPayloadError:
            raise _TransportError(
                "the RPC endpoint closed the connection in the middle of an answer"
            ) from None
        except (aiohttp.ClientConnectionError, ConnectionError, OSError) as error:
            raise _TransportError(_connection_reason(error)) from None
        except aiohttp.ClientError as error:
            # Not HTTP (a bad status line or header): the endpoint or a proxy before it misbehaved.
            # The error's own text holds the URL, which may hold an API key.
            raise _TransportError(
                f"the RPC endpoint's answer is not valid HTTP ({type(error).__name__})"
            ) from None
        try:
            return json.loads(raw)
        except ValueError as error:  # not JSON (UnicodeDecodeError included)
            raise RpcError(f"undecodable JSON-RPC answer ({type(error).__name__})") from None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        for sender in list(self._senders):
            sender.cancel()
        if self._session is not None:
            await self._session.close()


def _backoff(attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...): BACKOFF_FIRST doubled each time,
    at most BACKOFF_MAX. The exponent stops growing once the cap is reached, so that no number of
    retries overflows the float."""
    doublings = min(attempt - 1, math.ceil(math.log2(BACKOFF_MAX / BACKOFF_FIRST)))
    return min(BACKOFF_FIRST * 2**doublings, BACKOFF_MAX)


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count > 1 else ''}"


def _envelope(request: Request, id_: int) -> dict[str, Any]:
    method, params = request
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": id_}


def _method_of(body: Any) -> str:
    if isinstance(body, list):
        return f"a batch of {len(body)} {body[0]['method']}"
    return str(body["method"])


def _in_order(responses: list[Any], ids: list[int]) -> list[Any]:
    """The batch's responses in the order of `ids` (JSON-RPC does not promise the order); by position
    when the node's ids do not match ours."""
    if len(responses) != len(ids):
        raise RpcError(f"the node answered {len(responses)} of {len(ids)} batched calls")
    by_id = {response.get("id"): response for response in responses if isinstance(response, dict)}
    if set(by_id) == set(ids):
        return [by_id[id_] for id_ in ids]
    return responses


async def _read_capped(response: aiohttp.ClientResponse, method: str) -> bytes:
    """The body, refused (RpcError) once it exceeds MAX_RESPONSE_BYTES: never more in memory."""
    too_large = RpcError(f"the answer to {method} is larger than the {MAX_RESPONSE_BYTES >> 20} MiB limit")
    if response.content_length is not None and response.content_length > MAX_RESPONSE_BYTES:
        response.close()
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            response.close()
            raise too_large
    return bytes(body)


def _http_error(response: aiohttp.ClientResponse) -> Exception:
    status = response.status
    if status != 429 and (status < 500 or status > 599 or status in _PERMANENT_5XX):
        return RpcError(f"HTTP {status}")
    wait = _retry_after(response.headers.get("Retry-After")) if status in _RETRY_AFTER_HTTP else None
    return _TransportError(f"HTTP {status}", retry_after=wait)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date); None if absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(error: dict[str, Any]) -> str:
    return f"JSON-RPC error {error.get('code')}: {str(error.get('message', ''))[:200]}"


def _is_rate_limit(error: dict[str, Any]) -> bool:
    message = str(error.get("message", "")).lower()
    return error.get("code") in _RATE_LIMIT_CODES or any(words in message for words in _RATE_LIMIT_WORDS)


def _refuses_batches(error: dict[str, Any]) -> bool:
    return error.get("code") in _BATCH_REFUSED_CODES or "batch" in str(error.get("message", "")).lower()


def _raise_if_rate_limited(responses: list[Any]) -> None:
    for response in responses:
        error = response.get("error") if isinstance(response, dict) else None
        if isinstance(error, dict) and _is_rate_limit(error):
            raise _TransportError(f"rate limited: {_error_text(error)}")


def _block_tag(block: int) -> str:
    return hex(block) if block else "latest"


def _connection_reason(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "cannot connect to the RPC endpoint (connection refused or unreachable)"
    if isinstance(error, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "the RPC endpoint closed the connection"
    return f"connection to the RPC endpoint failed ({type(error).__name__})"


def _call_result(response: Any) -> bytes | RpcError:
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


def _chain_id_result(response: Any) -> int | RpcError:
    if not isinstance(response, dict):
        return RpcError("undecodable JSON-RPC answer (not an object)")
    error = response.get("error")
    if error is not None:
        return RpcError(
            _error_text(error) if isinstance(error, dict) else f"JSON-RPC error: {str(error)[:200]}"
        )
    result = response.get("result")
    if isinstance(result, str):
        with contextlib.suppress(ValueError):
            return int(result, 16)
    return RpcError("undecodable JSON-RPC answer (the chain id is not a hex number)")


def _hex_bytes(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        return None
