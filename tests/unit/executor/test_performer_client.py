"""PerformerClient against real gRPC servers on 127.0.0.1: results, deadlines, errors, the retry
rule (only attempts that cannot have reached the performer are re-sent), health checks and TLS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc
from hourglass_executor.config import PerformerTls
from hourglass_executor.performers.client import (
    PerformerCallError,
    PerformerClient,
    TaskIdMismatchError,
    TlsSettings,
    may_retry,
)
from hourglass_executor.sdk import PerformerServer, Worker

from tests.support.logged import MessageLogged
from tests.support.ports import free_port

try:
    from tests.support.pki import certificate_pem, key_pem, new_key
except ImportError:  # only the TLS tests need cryptography; the executor does not depend on it
    certificate_pem = None

needs_cryptography = pytest.mark.skipif(
    certificate_pem is None,
    reason="the cryptography package (to make throwaway certificates) is not installed",
)

TASK_ID = b"0x" + b"ab" * 32
CONNECT_FAILURE = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
    "Failed to connect to remote host: Connection refused"
)


class CountingWorker(Worker):
    """Echoes; b"slow" sleeps 1 s first, b"boom" raises. Counts every task it starts."""

    def __init__(self) -> None:
        self.executed: list[bytes] = []
        self.started = asyncio.Event()
        self.sync_payloads: list[bytes] = []

    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        self.executed.append(task_id)
        self.started.set()
        if payload == b"slow":
            await asyncio.sleep(1.0)
        if payload == b"boom":
            raise RuntimeError("boom")
        return payload

    async def start_sync(self, payload: bytes) -> None:
        self.sync_payloads.append(payload)


async def started_server(worker: Worker, port: int = 0, **kwargs: object) -> PerformerServer:
    server = PerformerServer(worker, port, "127.0.0.1", **kwargs)
    await server.start()
    return server


def test_a_task_runs_and_its_result_comes_back():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                assert await client.execute_task(TASK_ID, b"hello", timeout=2) == b"hello"
        finally:
            await server.stop(0)
        assert worker.executed == [TASK_ID]

    asyncio.run(scenario())


def test_the_longest_timeout_a_configuration_may_give_is_no_timeout():
    """Go's longest duration (a `taskTimeout` meaning "no limit") overflowed gRPC's deadline: every
    task failed at once with DEADLINE_EXCEEDED, as maybe executed."""
    longest = (2**63 - 1) / 1e9

    async def scenario():
        server = await started_server(CountingWorker())
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                result = await client.execute_task(TASK_ID, b"hello", timeout=longest)
                healthy = await client.health_check(timeout=longest)
                await client.start_sync(b"sync", timeout=longest)
                return result, healthy
        finally:
            await server.stop(0)

    assert asyncio.run(scenario()) == (b"hello", True)


def test_a_slow_task_hits_its_deadline_and_is_not_retried():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                with pytest.raises(PerformerCallError) as caught:
                    await client.execute_task(TASK_ID, b"slow", timeout=0.3)
                await asyncio.sleep(0.2)  # time for a (wrong) re-send to arrive
        finally:
            await server.stop(0)
        return caught.value, worker.executed

    error, executed = asyncio.run(scenario())
    assert error.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert (error.retried, error.maybe_executed) == (0, True)
    assert executed == [TASK_ID]


def test_a_failing_task_is_internal_and_executed_once():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                with pytest.raises(PerformerCallError) as caught:
                    await client.execute_task(TASK_ID, b"boom", timeout=2)
        finally:
            await server.stop(0)
        return caught.value, worker.executed

    error, executed = asyncio.run(scenario())
    assert error.code is grpc.StatusCode.INTERNAL
    assert error.message == "boom"
    assert (error.retried, error.maybe_executed) == (0, True)
    assert executed == [TASK_ID]


def test_connection_refused_is_retried_then_reported_as_not_executed():
    async def scenario():
        async with PerformerClient(
            f"127.0.0.1:{free_port()}", connect_retries=3, retry_backoff=0.01
        ) as client:
            with pytest.raises(PerformerCallError) as caught:
                await client.execute_task(TASK_ID, b"x", timeout=1.5)
        return caught.value

    error = asyncio.run(scenario())
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert "failed to connect" in error.message
    assert (error.retried, error.maybe_executed) == (3, False)


def test_connection_retries_stay_within_the_task_deadline():
    async def scenario():
        async with PerformerClient(
            f"127.0.0.1:{free_port()}", connect_retries=100, retry_backoff=0.05
        ) as client:
            started = time.monotonic()
            with pytest.raises(PerformerCallError) as caught:
                await client.execute_task(TASK_ID, b"x", timeout=0.4)
            return caught.value, time.monotonic() - started

    error, elapsed = asyncio.run(scenario())
    assert elapsed < 2.0  # the 0.4 s deadline, not 100 retries (over 5 s of back-off)
    assert 0 < error.retried < 100
    assert not error.maybe_executed


def test_a_performer_that_starts_listening_after_a_failed_attempt_gets_the_task_once():
    async def scenario():
        port, worker = free_port(), CountingWorker()
        first_failure = asyncio.Event()
        handler = MessageLogged(first_failure, "retry")
        logger = logging.getLogger("hourglass_executor.performers.client")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        server = None
        try:
            async with PerformerClient(f"127.0.0.1:{port}", connect_retries=5, retry_backoff=0.2) as client:
                call = asyncio.ensure_future(client.execute_task(TASK_ID, b"late", timeout=1.8))
                await asyncio.wait_for(first_failure.wait(), 1)
                assert worker.executed == []
                server = await started_server(worker, port)
                assert await call == b"late"
        finally:
            logger.removeHandler(handler)
            if server is not None:
                await server.stop(0)
        assert worker.executed == [TASK_ID]

    asyncio.run(scenario())


def test_a_performer_going_away_mid_call_is_not_retried():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}", retry_backoff=0.01) as client:
                call = asyncio.ensure_future(client.execute_task(TASK_ID, b"slow", timeout=1.5))
                await asyncio.wait_for(worker.started.wait(), 1)
                await server.stop(0)
                with pytest.raises(PerformerCallError) as caught:
                    await call
        finally:
            await server.stop(0)
        return caught.value, worker.executed

    error, executed = asyncio.run(scenario())
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert not may_retry(error.__cause__)
    assert (error.retried, error.maybe_executed) == (0, True)
    assert executed == [TASK_ID]


def test_a_call_cut_by_closing_the_client_fails_as_maybe_executed():
    """Closing the client (the pool does when it replaces or removes a performer) cancels the calls
    on its channel; grpc.aio raises CancelledError for them in a caller that was not cancelled.
    That caller gets a PerformerCallError (CANCELLED, maybe executed), not a CancelledError."""

    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            client = PerformerClient(f"127.0.0.1:{server.bound_port}")
            call = asyncio.ensure_future(client.execute_task(TASK_ID, b"slow", timeout=5))
            await asyncio.wait_for(worker.started.wait(), 5)
            await client.close()
            await asyncio.wait([call])
        finally:
            await server.stop(0)
        assert not call.cancelled(), "the caller got CancelledError though only the channel was closed"
        return call.exception()

    error = asyncio.run(scenario())
    assert isinstance(error, PerformerCallError), error
    assert error.code is grpc.StatusCode.CANCELLED
    assert (error.retried, error.maybe_executed) == (0, True)
    assert "channel to the performer was closed" in error.message


def test_a_call_waiting_between_connection_retries_when_the_client_closes_was_not_sent():
    """The pool closes a client when it dials a performer's new endpoint (a restarted Docker
    container on another host port). A task waiting out its back-off after a not-sent attempt then
    never reached any performer: not sent (UNAVAILABLE, the claim is released), not grpc.aio's
    UsageError("Channel is closed"), which the task service took for an interrupted task."""

    async def scenario():
        first_failure = asyncio.Event()
        handler = MessageLogged(first_failure, "retry")
        logger = logging.getLogger("hourglass_executor.performers.client")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            client = PerformerClient(
                f"127.0.0.1:{free_port()}", connect_retries=3, retry_backoff=30, max_retry_backoff=30
            )
            call = asyncio.ensure_future(client.execute_task(TASK_ID, b"x", timeout=60))
            await asyncio.wait_for(first_failure.wait(), 5)  # in its 30 s back-off now
            started = time.monotonic()
            await client.close()
            await asyncio.wait([call], timeout=5)
        finally:
            logger.removeHandler(handler)
        assert call.done(), "closing the client did not end the back-off"
        return call.exception(), time.monotonic() - started

    error, elapsed = asyncio.run(scenario())
    assert isinstance(error, PerformerCallError), repr(error)
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert (error.retried, error.maybe_executed) == (0, False)
    assert "closed before the call was sent" in error.message
    assert elapsed < 5  # not the rest of the back-off


def test_a_closed_client_sends_nothing():
    """Calls on a closed client are not sent: a task or sync is a not-sent PerformerCallError,
    a health check is False (none raises grpc.aio's UsageError)."""

    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            client = PerformerClient(f"127.0.0.1:{server.bound_port}")
            assert await client.health_check(timeout=5)
            await client.close()
            errors = []
            for call in (
                client.execute_task(TASK_ID, b"x", timeout=5),
                client.start_sync(b"sync", timeout=5),
            ):
                with pytest.raises(PerformerCallError) as caught:
                    await call
                errors.append(caught.value)
            return errors, await client.health_check(timeout=5), worker
        finally:
            await server.stop(0)

    errors, healthy, worker = asyncio.run(scenario())
    for error in errors:
        assert (error.code, error.retried, error.maybe_executed) == (grpc.StatusCode.UNAVAILABLE, 0, False)
    assert healthy is False
    assert (worker.executed, worker.sync_payloads) == ([], [])


def test_a_caller_cancelled_during_a_call_is_cancelled():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                call = asyncio.ensure_future(client.execute_task(TASK_ID, b"slow", timeout=5))
                await asyncio.wait_for(worker.started.wait(), 5)
                call.cancel()
                await asyncio.wait([call])
        finally:
            await server.stop(0)
        return call.cancelled()

    assert asyncio.run(scenario())


class _Hanging(performer_pb2_grpc.PerformerServiceServicer, health_pb2_grpc.HealthServicer):
    """StartSync and the health check hang until the test is done; `called` says one arrived."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def _hang(self) -> None:
        self.called.set()
        await asyncio.Event().wait()

    async def StartSync(self, request, context):
        await self._hang()

    async def Check(self, request, context):
        await self._hang()


def test_a_health_check_or_sync_cut_by_closing_the_client_fails_without_cancelling_its_caller():
    async def cut(call: Callable[[PerformerClient], Awaitable[object]]) -> asyncio.Future[object]:
        servicer = _Hanging()
        server = grpc.aio.server()
        performer_pb2_grpc.add_PerformerServiceServicer_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            client = PerformerClient(f"127.0.0.1:{port}")
            running = asyncio.ensure_future(call(client))
            await asyncio.wait_for(servicer.called.wait(), 5)
            await client.close()
            await asyncio.wait([running])
        finally:
            await server.stop(0)
        return running

    async def scenario():
        return (
            await cut(lambda client: client.health_check(timeout=5)),
            await cut(lambda client: client.start_sync(b"x", timeout=5)),
        )

    health, sync = asyncio.run(scenario())
    assert not health.cancelled() and health.result() is False
    assert not sync.cancelled()
    error = sync.exception()
    assert isinstance(error, PerformerCallError), error
    assert (error.code, error.maybe_executed) == (grpc.StatusCode.CANCELLED, True)


class _ScriptedPerformer(performer_pb2_grpc.PerformerServiceServicer):
    """A performer answering every task with a fixed abort status, or with a wrong task id."""

    def __init__(self, abort: tuple[grpc.StatusCode, str] | None = None) -> None:
        self.abort = abort
        self.calls = 0

    async def ExecuteTask(self, request, context):
        self.calls += 1
        if self.abort is not None:
            await context.abort(*self.abort)
        return performer_pb2.TaskResponse(task_id=b"0xother", result=request.payload)


async def scripted_server(servicer: _ScriptedPerformer) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    performer_pb2_grpc.add_PerformerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def test_a_performer_returning_connection_failure_text_itself_is_not_retried():
    async def scenario():
        servicer = _ScriptedPerformer(abort=(grpc.StatusCode.UNAVAILABLE, CONNECT_FAILURE))
        server, port = await scripted_server(servicer)
        try:
            async with PerformerClient(f"127.0.0.1:{port}", retry_backoff=0.01) as client:
                with pytest.raises(PerformerCallError) as caught:
                    await client.execute_task(TASK_ID, b"x", timeout=1)
        finally:
            await server.stop(0)
        return caught.value, servicer.calls

    error, calls = asyncio.run(scenario())
    assert may_retry(error.__cause__)  # the text alone would allow it; the READY channel does not
    assert (error.retried, error.maybe_executed, calls) == (0, True, 1)


def test_a_response_for_another_task_id_is_an_error():
    async def scenario():
        server, port = await scripted_server(_ScriptedPerformer())
        try:
            async with PerformerClient(f"127.0.0.1:{port}") as client:
                with pytest.raises(TaskIdMismatchError) as caught:
                    await client.execute_task(TASK_ID, b"x", timeout=1)
        finally:
            await server.stop(0)
        return caught.value

    error = asyncio.run(scenario())
    assert error.maybe_executed
    assert "0xother" in error.message


class _Status(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str | None) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details


Code = grpc.StatusCode


@pytest.mark.parametrize(
    ("code", "details", "expected"),
    [
        (Code.UNAVAILABLE, CONNECT_FAILURE, True),
        (Code.UNAVAILABLE, "errors resolving performer.invalid:8080: Domain name not found", True),
        (Code.UNAVAILABLE, "DNS resolution failed for performer.invalid:8080", True),
        (Code.UNAVAILABLE, "Stream removed (Socket closed)", False),
        (Code.UNAVAILABLE, "Cancelling all calls", False),
        (Code.UNAVAILABLE, "Connection reset by peer", False),
        (Code.UNAVAILABLE, "task failed: " + CONNECT_FAILURE, False),
        (Code.UNAVAILABLE, "", False),
        (Code.UNAVAILABLE, None, False),
        (Code.DEADLINE_EXCEEDED, CONNECT_FAILURE, False),
        (Code.DEADLINE_EXCEEDED, "Deadline Exceeded", False),
        (Code.INTERNAL, CONNECT_FAILURE, False),
        (Code.UNKNOWN, "Exception calling application", False),
        (Code.CANCELLED, CONNECT_FAILURE, False),
        (Code.RESOURCE_EXHAUSTED, "Received message larger than max", False),
        (Code.INVALID_ARGUMENT, "bad payload", False),
    ],
)
def test_may_retry(code, details, expected):
    assert may_retry(_Status(code, details)) is expected


def test_may_retry_reads_real_aio_errors():
    assert may_retry(grpc.aio.AioRpcError(Code.UNAVAILABLE, details=CONNECT_FAILURE))
    assert not may_retry(grpc.aio.AioRpcError(Code.UNAVAILABLE, details="Socket closed"))


def test_health_check_and_start_sync():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                assert await client.health_check(timeout=1)
                await client.start_sync(b"sync-me", timeout=1)
        finally:
            await server.stop(0)
        async with PerformerClient(f"127.0.0.1:{free_port()}") as client:
            assert not await client.health_check(timeout=0.5)
            with pytest.raises(PerformerCallError) as caught:
                await client.start_sync(b"x", timeout=0.5)
        return worker.sync_payloads, caught.value

    payloads, error = asyncio.run(scenario())
    assert payloads == [b"sync-me"]
    assert not error.maybe_executed


def test_tls_settings_from_config():
    assert TlsSettings.from_config(PerformerTls()) is None
    settings = TlsSettings.from_config(
        PerformerTls.model_validate({"enabled": True, "caFile": "/ca.pem", "serverName": "p.svc"})
    )
    assert settings == TlsSettings(ca_file="/ca.pem", server_name="p.svc")
    with pytest.raises(ValueError, match="together"):
        TlsSettings(cert_file="/c.pem")


# --- TLS -------------------------------------------------------------------------------------

SERVER_NAME = "performer.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, bytes | Path]:
    ca_key, server_key = new_key(), new_key()
    ca_file = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca_file.write_bytes(certificate_pem("test ca", ca_key, "test ca", ca_key, ca=True))
    server = certificate_pem(
        SERVER_NAME, server_key, "test ca", ca_key, ca=False, dns=[SERVER_NAME], ips=["127.0.0.1"]
    )
    return {"ca_file": ca_file, "key": key_pem(server_key), "cert": server}


@needs_cryptography
def test_tls_client_reaches_a_tls_performer_with_the_ca(pki):
    async def scenario():
        credentials = grpc.ssl_server_credentials([(pki["key"], pki["cert"])])
        server = await started_server(CountingWorker(), credentials=credentials)
        try:
            tls = TlsSettings(ca_file=str(pki["ca_file"]), server_name=SERVER_NAME)
            async with PerformerClient(f"127.0.0.1:{server.bound_port}", tls=tls) as client:
                assert await client.health_check(timeout=1)
                assert await client.execute_task(TASK_ID, b"secret", timeout=1) == b"secret"
        finally:
            await server.stop(0)

    asyncio.run(scenario())


@needs_cryptography
def test_tls_client_without_the_ca_or_without_tls_fails(pki):
    async def scenario():
        credentials = grpc.ssl_server_credentials([(pki["key"], pki["cert"])])
        worker = CountingWorker()
        server = await started_server(worker, credentials=credentials)
        endpoint = f"127.0.0.1:{server.bound_port}"
        try:
            async with PerformerClient(
                endpoint, tls=TlsSettings(server_name=SERVER_NAME), connect_retries=0
            ) as client:
                assert not await client.health_check(timeout=0.5)
                with pytest.raises(PerformerCallError) as untrusted:
                    await client.execute_task(TASK_ID, b"x", timeout=0.5)
            async with PerformerClient(endpoint, connect_retries=0) as client:
                assert not await client.health_check(timeout=0.5)
        finally:
            await server.stop(0)
        return untrusted.value, worker.executed

    error, executed = asyncio.run(scenario())
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert not error.maybe_executed
    assert executed == []
