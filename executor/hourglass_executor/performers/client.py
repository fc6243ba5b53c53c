"""The executor's gRPC client for one performer: runs tasks, starts syncs, checks health.

One `grpc.aio` channel per performer endpoint, plaintext unless TLS is configured (upstream dials
in-cluster performers with TLS while they serve plaintext; we do not). Which performer to call,
circuit breaking and periodic health checks live elsewhere (`circuit`, `health`, the pool).

Retries. A task is re-sent only when the request cannot have reached the performer, so a slow or
failing task runs at most once (upstream retries INTERNAL and deadline errors and runs a task up to
six times). An attempt counts as "not sent" when both hold:

1. `may_retry(error)`: the status is UNAVAILABLE and its details begin with text that gRPC's own
   channel produces when it fails a call *before* giving it to any connection: the load-balancing
   pick failed because no address could be connected ("failed to connect to all addresses"), or
   the name did not resolve ("errors resolving", "DNS resolution failed"). Calls are made with
   wait_for_ready=False, so such a pick failure is reported at once instead of being queued.
2. The channel is not READY right after the failure. A performer could return the same text as
   its own status (e.g. relaying an error from a service it calls); then the connection worked
   and the channel is READY, so the failure is treated as "sent".

Everything else (DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, CANCELLED, RESOURCE_EXHAUSTED, any other
status, and UNAVAILABLE with other details, e.g. "Socket closed" or "Cancelling all calls" when
the performer goes away mid-call) may have reached the performer and is never retried. Not-sent
attempts are retried up to `connect_retries` times; before each retry the client waits until the
channel connects or a doubling back-off passes. The whole task, retries included, stays within
its deadline; when the deadline leaves no time for another attempt, the last (not sent) failure is
reported. An attempt that waits on a channel still connecting and runs out of time fails with
DEADLINE_EXCEEDED, which is reported as maybe executed: gRPC does not say whether it was sent.

Closing the client (the pool does when it replaces or removes a performer) cancels the calls still
on its channel, and grpc.aio raises asyncio.CancelledError for them in the caller, which was not
cancelled itself: such a call fails with CANCELLED (maybe executed), while a caller that is being
cancelled still gets its CancelledError. A call that finds the client closed before an attempt
(e.g. one waiting between connection retries) is not sent: it fails with UNAVAILABLE and
`maybe_executed` False (a health check returns False).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc

if TYPE_CHECKING:
    from hourglass_executor.config import PerformerTls

log = logging.getLogger(__name__)

# Details prefixes of UNAVAILABLE statuses that gRPC core creates on the client before the call is
# handed to a transport (checked against grpcio 1.85: connection refused, unresolvable name).
NOT_SENT_PREFIXES: tuple[str, ...] = (
    "failed to connect to all addresses",
    "errors resolving",
    "DNS resolution failed",
)

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_CALL_SECONDS = 100 * 365 * 24 * 3600.0  # the longest time a call is given (see execute_task)


@dataclass(frozen=True)
class TlsSettings:
    """TLS for the performer channel. `ca_file` None trusts the system roots; `cert_file` and
    `key_file` together enable a client certificate (mutual TLS); `server_name` overrides the name
    checked against the server's certificate (when dialling an IP or a differently named Service)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TLS cert_file and key_file must be given together")

    @classmethod
    def from_config(cls, tls: PerformerTls) -> TlsSettings | None:
        """The settings for the config's `tls` section; None (plaintext) unless it is enabled."""
        if not tls.enabled:
            return None
        return cls(tls.ca_file, tls.cert_file, tls.key_file, tls.server_name)

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path is not None else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )


class PerformerCallError(Exception):
    """A call to a performer failed.

    `code` is the gRPC status of the last attempt, `retried` how many times the call was re-sent
    after a not-sent attempt, and `maybe_executed` whether the request may have reached the
    performer (False only when no attempt was sent)."""

    def __init__(
        self, code: grpc.StatusCode, message: str, *, retried: int = 0, maybe_executed: bool
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.retried = retried
        self.maybe_executed = maybe_executed


class TaskIdMismatchError(PerformerCallError):
    """The performer answered, but not with the task id it was sent."""


def may_retry(error: grpc.RpcError) -> bool:
    """Whether `error` says the call failed before it was sent (see the module docstring). Pure:
    looks only at the status code and details."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    if code is not grpc.StatusCode.UNAVAILABLE:
        return False
    details = error.details() if callable(getattr(error, "details", None)) else None
    return bool(details) and details.startswith(NOT_SENT_PREFIXES)


def _cancelled_under_us() -> bool:
    """Whether a CancelledError just raised by a call came from the call alone (its channel was
    closed), not from a cancellation of the task awaiting it."""
    task = asyncio.current_task()
    return task is None or not task.cancelling()


CLOSED = "the channel to the performer was closed during the call (the performer was replaced or removed)"
CLOSED_BEFORE_SENT = (
    "the channel to the performer was closed before the call was sent (the performer was replaced or removed)"
)


def _channel_options(max_message_bytes: int, keepalive_time: float, keepalive_timeout: float) -> list:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # Performer images are mostly Go gRPC servers, whose default keepalive policy answers
        # pings more frequent than every 5 minutes, or pings without a call in flight, with
        # GOAWAY "too_many_pings" (closing the connection and the calls on it). So: ping at most
        # every 5 minutes, and only while a call is running (a long task on a half-dead link).
        ("grpc.keepalive_time_ms", int(keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        # gRPC's default reconnect back-off starts at 1 s and grows to 120 s; a performer that is
        # restarting should be reachable again within a task's deadline.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 5000),
    ]


class PerformerClient:
    """Talks to the performer at `endpoint` ("host:port")."""

    def __init__(
        self,
        endpoint: str,
        *,
        tls: TlsSettings | PerformerTls | None = None,
        connect_retries: int = 3,
        retry_backoff: float = 0.1,
        max_retry_backoff: float = 2.0,
        keepalive_time: float = 300.0,
        keepalive_timeout: float = 20.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        extra_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        if connect_retries < 0:
            raise ValueError("connect_retries must be >= 0")
        if tls is not None and not isinstance(tls, TlsSettings):
            tls = TlsSettings.from_config(tls)
        self.endpoint = endpoint
        self.tls = tls
        self.connect_retries = connect_retries
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        options = _channel_options(max_message_bytes, keepalive_time, keepalive_timeout) + list(extra_options)
        if tls is None:
            self._channel = grpc.aio.insecure_channel(endpoint, options=options)
        else:
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.aio.secure_channel(endpoint, tls.credentials(), options=options)
        self._performer = performer_pb2_grpc.PerformerServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._closed = False
        self._closed_event = asyncio.Event()  # wakes calls waiting between connection retries

    async def execute_task(self, task_id: bytes, payload: bytes, *, timeout: float) -> bytes:
        """Runs a task and returns its result; raises PerformerCallError. `timeout` (seconds)
        bounds the whole call, connection retries included."""
        loop = asyncio.get_running_loop()
        # gRPC keeps a deadline as int64 nanoseconds of unix time: beyond ~235 years from now (Go's
        # longest duration is 292 years, a configuration's "no limit") it overflows and every call
        # fails at once with DEADLINE_EXCEEDED.
        deadline = loop.time() + min(timeout, MAX_CALL_SECONDS)
        request = performer_pb2.TaskRequest(task_id=task_id, payload=payload)
        retried = 0
        self._check_open(retried)
        while True:
            try:
                response = await self._performer.ExecuteTask(
                    request, timeout=max(deadline - loop.time(), 0.0), wait_for_ready=False
                )
                break
            except asyncio.CancelledError:
                if not _cancelled_under_us():
                    raise
                raise PerformerCallError(
                    grpc.StatusCode.CANCELLED, CLOSED, retried=retried, maybe_executed=True
                ) from None
            except grpc.aio.AioRpcError as error:
                not_sent = self._not_sent(error)
                failure = PerformerCallError(
                    error.code(), error.details() or "", retried=retried, maybe_executed=not not_sent
                )
                if not not_sent or retried >= self.connect_retries:
                    raise failure from error
                backoff = min(self.retry_backoff * 2**retried, self.max_retry_backoff, deadline - loop.time())
                log.info(
                    "performer %s not reachable (%s); retry %d/%d after at most %.2fs",
                    self.endpoint,
                    error.details(),
                    retried + 1,
                    self.connect_retries,
                    max(backoff, 0.0),
                )
                if backoff > 0:
                    await self._wait_connected(backoff)
                # The pool closes the client when it dials a new endpoint or removes the performer.
                self._check_open(retried)
                if deadline - loop.time() <= 0:
                    # No time left: an attempt now would fail with DEADLINE_EXCEEDED, which cannot
                    # tell "not sent"; report the last attempt, which was not sent.
                    raise failure from error
                retried += 1
        if response.task_id != task_id:
            raise TaskIdMismatchError(
                grpc.StatusCode.INTERNAL,
                f"performer answered task {response.task_id!r} to task {task_id!r}",
                retried=retried,
                maybe_executed=True,
            )
        return response.result

    async def start_sync(self, payload: bytes, *, timeout: float = 30.0) -> None:
        """Sends StartSync once (never retried); raises PerformerCallError."""
        self._check_open(0)
        try:
            await self._performer.StartSync(
                performer_pb2.StartSyncRequest(payload=payload),
                timeout=min(timeout, MAX_CALL_SECONDS),
                wait_for_ready=False,
            )
        except asyncio.CancelledError:
            if not _cancelled_under_us():
                raise
            raise PerformerCallError(grpc.StatusCode.CANCELLED, CLOSED, maybe_executed=True) from None
        except grpc.aio.AioRpcError as error:
            raise PerformerCallError(
                error.code(), error.details() or "", maybe_executed=not self._not_sent(error)
            ) from error

    async def health_check(self, timeout: float = 1.0) -> bool:
        """Whether the performer answers SERVING to grpc.health.v1 Check for service ""."""
        if self._closed:
            log.debug("health check of %s not sent: the client is closed", self.endpoint)
            return False
        try:
            response = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=min(timeout, MAX_CALL_SECONDS),
                wait_for_ready=False,
            )
        except asyncio.CancelledError:
            if not _cancelled_under_us():
                raise
            log.debug("health check of %s failed: %s", self.endpoint, CLOSED)
            return False
        except grpc.aio.AioRpcError as error:
            log.debug("health check of %s failed: %s %s", self.endpoint, error.code(), error.details())
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._closed_event.set()
            await self._channel.close()

    async def __aenter__(self) -> PerformerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check_open(self, retried: int) -> None:
        """Raises the not-sent PerformerCallError when the client was closed: grpc.aio would refuse
        the call with UsageError before sending it. No await may come between this and the call."""
        if self._closed:
            raise PerformerCallError(
                grpc.StatusCode.UNAVAILABLE, CLOSED_BEFORE_SENT, retried=retried, maybe_executed=False
            )

    def _not_sent(self, error: grpc.RpcError) -> bool:
        return may_retry(error) and (
            self._channel.get_state(try_to_connect=False) is not grpc.ChannelConnectivity.READY
        )

    async def _wait_connected(self, limit: float) -> None:
        """Waits until the channel connects, `limit` seconds pass or the client is closed, whichever
        comes first."""
        # channel_ready() does not always end when the channel is closed (and sometimes raises
        # UsageError); the caller's `_check_open` reports a closed client.
        waiters = {
            asyncio.ensure_future(self._channel.channel_ready()),
            asyncio.ensure_future(self._closed_event.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
