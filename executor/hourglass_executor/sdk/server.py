"""The gRPC server of a Python performer: serves a `Worker` as PerformerService, with the standard
health service (SERVING for "" while up, NOT_SERVING while stopping) and server reflection.

ExecuteTask: validate (TaskRejected → INVALID_ARGUMENT), handle, answer with the request's task id
echoed. Any other exception → INTERNAL whose message is only the exception's str (the traceback is
logged here, not sent). Stopping lets in-flight tasks finish for up to `grace` seconds; after that
they are cancelled (a plain-function handler already running in a thread still runs to its end,
its result is dropped).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc

from .worker import TaskRejected, Worker

log = logging.getLogger(__name__)

T = TypeVar("T")

PERFORMER_SERVICE = performer_pb2.DESCRIPTOR.services_by_name["PerformerService"].full_name
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

_SERVER_OPTIONS: list[tuple[str, Any]] = [
    # Fail when the port is taken instead of silently sharing it with another process.
    ("grpc.so_reuseport", 0),
    # Executors ping idle connections (ours every 30 s); gRPC's default policy would answer such
    # pings with GOAWAY "too_many_pings" and drop the connection, in-flight tasks included.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]


async def _call(method: Callable[..., T | Awaitable[T]], *args: Any) -> T:
    """Runs a worker method: coroutine functions on the loop, plain functions in a thread."""
    if inspect.iscoroutinefunction(method):
        return await method(*args)
    result = await asyncio.to_thread(method, *args)
    if inspect.isawaitable(result):
        return await result
    return result


class _PerformerServicer(performer_pb2_grpc.PerformerServiceServicer):
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def ExecuteTask(
        self, request: performer_pb2.TaskRequest, context: grpc.aio.ServicerContext
    ) -> performer_pb2.TaskResponse:
        code, message, result = await self._run(request)
        if code is not None:
            await context.abort(code, message)
        return performer_pb2.TaskResponse(task_id=request.task_id, result=result)

    async def StartSync(
        self, request: performer_pb2.StartSyncRequest, context: grpc.aio.ServicerContext
    ) -> performer_pb2.StartSyncResponse:
        try:
            await _call(self._worker.start_sync, request.payload)
        except Exception as error:
            log.exception("start_sync failed")
            await context.abort(grpc.StatusCode.INTERNAL, str(error) or type(error).__name__)
        return performer_pb2.StartSyncResponse()

    async def _run(self, request: performer_pb2.TaskRequest) -> tuple[grpc.StatusCode | None, str, bytes]:
        task_id, payload = request.task_id, request.payload
        try:
            await _call(self._worker.validate_task, task_id, payload)
            result = await _call(self._worker.handle_task, task_id, payload)
        except TaskRejected as error:
            log.info("task %r rejected: %s", task_id, error)
            return grpc.StatusCode.INVALID_ARGUMENT, str(error) or "task rejected", b""
        except Exception as error:
            log.exception("task %r failed", task_id)
            return grpc.StatusCode.INTERNAL, str(error) or type(error).__name__, b""
        if not isinstance(result, bytes | bytearray):
            log.error("task %r: handle_task returned %s, not bytes", task_id, type(result).__name__)
            return grpc.StatusCode.INTERNAL, "performer returned a result that is not bytes", b""
        return None, "", bytes(result)


class PerformerServer:
    """Serves `worker` on `host:port` (port 0 picks a free port; see `bound_port`), in plaintext
    unless `credentials` are given (grpc.ssl_server_credentials)."""

    def __init__(
        self,
        worker: Worker,
        port: int,
        host: str = "0.0.0.0",
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.worker = worker
        self.credentials = credentials
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self._server: grpc.aio.Server | None = None
        self._health: health_aio.HealthServicer | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("server already started")
        server = grpc.aio.server(
            options=[
                *_SERVER_OPTIONS,
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.max_receive_message_length", self.max_message_bytes),
            ]
        )
        performer_pb2_grpc.add_PerformerServiceServicer_to_server(_PerformerServicer(self.worker), server)
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        reflection.enable_server_reflection(
            (
                PERFORMER_SERVICE,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        address = f"{host}:{self.port}"
        try:
            if self.credentials is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, self.credentials)
        except RuntimeError as error:
            raise OSError(f"cannot listen on {address}: {error}") from error
        if bound == 0:
            raise OSError(f"cannot listen on {address}")
        await server.start()
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        await health.set(PERFORMER_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        self._server, self._health, self.bound_port = server, health, bound
        log.info("performer listening on %s:%d", host, bound)

    async def set_serving(self, serving: bool) -> None:
        """Reports SERVING or NOT_SERVING on the health service (e.g. while a dependency is down);
        tasks are still accepted either way."""
        if self._health is None:
            raise RuntimeError("server not started")
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", PERFORMER_SERVICE):
            await self._health.set(service, status)

    async def stop(self, grace: float | None = 10.0) -> None:
        """Reports NOT_SERVING, refuses new calls and lets in-flight ones finish for up to `grace`
        seconds (None: wait for them however long they take)."""
        server, health = self._server, self._health
        if server is None or health is None:
            return
        await health.enter_graceful_shutdown()
        await server.stop(grace)
        self._server = self._health = None
        log.info("performer stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def run(worker: Worker, port: int, host: str = "0.0.0.0", *, grace: float = 10.0) -> None:
    """Serves `worker` until SIGTERM or SIGINT, then stops gracefully. For a performer's main()."""

    async def serve() -> None:
        server = PerformerServer(worker, port, host)
        await server.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        log.info("signal received, stopping (grace %.0fs)", grace)
        await server.stop(grace)

    asyncio.run(serve())
