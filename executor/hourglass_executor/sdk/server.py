"""The gRPC server of a Python performer: serves a `Worker` as PerformerService, with the standard
health service and server reflection.

ExecuteTask: validate (TaskRejected → INVALID_ARGUMENT), handle, answer with the request's task id
echoed. Any other exception → INTERNAL whose message is only the exception's str (the traceback is
logged here, not sent); SystemExit and KeyboardInterrupt too, as "SystemExit: 2" (e.g. argparse
exiting on a bad payload): the performer stays up. Messages are cut to `MAX_ERROR_MESSAGE_BYTES` of
UTF-8, in the answer and in the log.

Plain-function worker methods run on the server's own `threads` handler threads (coroutines run on
the event loop; a `validate_task` left as the default costs no thread). A task sent while every thread
is busy waits for one. Health answers SERVING for "" while the server is up, unless `set_serving(False)`
was called or every handler thread is stuck (held by a call whose caller's deadline has passed: a
handler that never returns), and NOT_SERVING while stopping: the executor and Kubernetes then replace
a performer that can no longer run anything, and never one that is only busy with long tasks.

Stopping lets in-flight tasks finish for up to `grace` seconds; after that they are cancelled (a
plain-function handler already running in a thread still runs to its end, its result is dropped).
`run` ends the process after that without waiting for such handlers, and at once on a second signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc

from .threads import DEFAULT_THREADS, HandlerThreads
from .worker import TaskRejected, Worker

log = logging.getLogger(__name__)

T = TypeVar("T")

PERFORMER_SERVICE = performer_pb2.DESCRIPTOR.services_by_name["PerformerService"].full_name
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# gRPC sends a status message percent-encoded in a header (3 bytes for each non-ASCII or control
# byte) and turns headers over 16 KiB (some over 8 KiB already) into RESOURCE_EXHAUSTED: 2 KiB of
# UTF-8 stay under 8 KiB however they are encoded.
MAX_ERROR_MESSAGE_BYTES = 2048
TRUNCATED = "…(truncated)"

_SERVER_OPTIONS: list[tuple[str, Any]] = [
    # Fail when the port is taken instead of silently sharing it with another process.
    ("grpc.so_reuseport", 0),
    # Executors ping idle connections (ours every 30 s); gRPC's default policy would answer such
    # pings with GOAWAY "too_many_pings" and drop the connection, in-flight tasks included.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]


def _cut_message(text: str, limit: int = MAX_ERROR_MESSAGE_BYTES) -> str:
    """`text` as valid UTF-8 of at most `limit` bytes, cut between characters and marked TRUNCATED."""
    data = text.encode("utf-8", "replace")  # a lone surrogate becomes "?": gRPC could not send it
    if len(data) <= limit:
        return data.decode()
    return data[: limit - len(TRUNCATED.encode())].decode("utf-8", "ignore") + TRUNCATED


def _error_message(error: BaseException) -> str:
    if isinstance(error, Exception):
        return _cut_message(str(error) or type(error).__name__)
    return _cut_message(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)


def _traceback(error: BaseException) -> str:
    """`error`'s traceback with each part (a frame, an exception's message) cut like a message."""
    return "\n".join(_cut_message(part.rstrip("\n")) for part in traceback.format_exception(error))


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The caller's deadline in the event loop's time, or None when it set none."""
    remaining = context.time_remaining()
    return None if remaining is None else asyncio.get_running_loop().time() + remaining


def _overrides(worker: Worker, name: str) -> bool:
    return getattr(getattr(worker, name), "__func__", None) is not getattr(Worker, name)


class _PerformerServicer(performer_pb2_grpc.PerformerServiceServicer):
    def __init__(self, worker: Worker, threads: HandlerThreads) -> None:
        self._worker = worker
        self._threads = threads
        # The defaults do nothing: calling them would only take a handler thread.
        self._validates = _overrides(worker, "validate_task")
        self._syncs = _overrides(worker, "start_sync")

    async def ExecuteTask(
        self, request: performer_pb2.TaskRequest, context: grpc.aio.ServicerContext
    ) -> performer_pb2.TaskResponse:
        code, message, result = await self._run(request, _deadline(context))
        if code is not None:
            await context.abort(code, message)
        return performer_pb2.TaskResponse(task_id=request.task_id, result=result)

    async def StartSync(
        self, request: performer_pb2.StartSyncRequest, context: grpc.aio.ServicerContext
    ) -> performer_pb2.StartSyncResponse:
        if self._syncs:
            try:
                await self._call(self._worker.start_sync, request.payload, deadline=_deadline(context))
            except asyncio.CancelledError:
                raise
            except BaseException as error:
                log.error("start_sync failed\n%s", _traceback(error))
                await context.abort(grpc.StatusCode.INTERNAL, _error_message(error))
        return performer_pb2.StartSyncResponse()

    async def _run(
        self, request: performer_pb2.TaskRequest, deadline: float | None
    ) -> tuple[grpc.StatusCode | None, str, bytes]:
        task_id, payload = request.task_id, request.payload
        try:
            if self._validates:
                await self._call(self._worker.validate_task, task_id, payload, deadline=deadline)
            result = await self._call(self._worker.handle_task, task_id, payload, deadline=deadline)
        except asyncio.CancelledError:
            raise
        except TaskRejected as error:
            message = _cut_message(str(error) or "task rejected")
            log.info("task %r rejected: %s", task_id, message)
            return grpc.StatusCode.INVALID_ARGUMENT, message, b""
        except BaseException as error:
            log.error("task %r failed\n%s", task_id, _traceback(error))
            return grpc.StatusCode.INTERNAL, _error_message(error), b""
        if not isinstance(result, bytes | bytearray):
            log.error("task %r: handle_task returned %s, not bytes", task_id, type(result).__name__)
            return grpc.StatusCode.INTERNAL, "performer returned a result that is not bytes", b""
        return None, "", bytes(result)

    async def _call(
        self, method: Callable[..., T | Awaitable[T]], *args: Any, deadline: float | None = None
    ) -> T:
        """Runs a worker method: coroutine functions on the loop, plain functions on a handler thread."""
        if inspect.iscoroutinefunction(method):
            return await method(*args)
        result = await self._threads.run(method, *args, deadline=deadline)
        if inspect.isawaitable(result):
            return await result
        return result


class PerformerServer:
    """Serves `worker` on `host:port` (port 0 picks a free port; see `bound_port`), in plaintext
    unless `credentials` are given (grpc.ssl_server_credentials). Plain-function worker methods run
    on `threads` handler threads (default: min(32, CPUs + 4), asyncio's default)."""

    def __init__(
        self,
        worker: Worker,
        port: int,
        host: str = "0.0.0.0",
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ServerCredentials | None = None,
        threads: int | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"a performer needs at least one handler thread, not {threads}")
        self.worker = worker
        self.credentials = credentials
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.threads = DEFAULT_THREADS if threads is None else threads
        self._server: grpc.aio.Server | None = None
        self._health: health_aio.HealthServicer | None = None
        self._health_lock: asyncio.Lock | None = None
        self._pool: HandlerThreads | None = None
        self._serving = True  # set_serving's say
        self._stuck = False  # every handler thread stuck, as last reported on health
        self._background: set[asyncio.Task[None]] = set()
        self.bound_port: int | None = None

    @property
    def busy_threads(self) -> int:
        """Plain-function calls running on a handler thread or waiting for one (after `stop`: the
        handlers still running, abandoned)."""
        return self._pool.busy if self._pool is not None else 0

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
        pool = HandlerThreads(self.threads, self._threads_changed)
        servicer = _PerformerServicer(self.worker, pool)
        performer_pb2_grpc.add_PerformerServiceServicer_to_server(servicer, server)
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
        self._server, self._health, self._pool, self.bound_port = server, health, pool, bound
        self._health_lock, self._serving, self._stuck = asyncio.Lock(), True, False
        await self._report_health()
        log.info("performer listening on %s:%d", host, bound)

    async def set_serving(self, serving: bool) -> None:
        """Reports SERVING or NOT_SERVING on the health service (e.g. while a dependency is down);
        tasks are still accepted either way. While every handler thread is stuck, health says
        NOT_SERVING whatever this says."""
        if self._health is None:
            raise RuntimeError("server not started")
        self._serving = serving
        await self._report_health()

    async def stop(self, grace: float | None = 10.0) -> None:
        """Reports NOT_SERVING, refuses new calls and lets in-flight ones finish for up to `grace`
        seconds (None: wait for them however long they take). Then drops the calls still waiting
        for a handler thread; handlers still running are not waited for (see `busy_threads`)."""
        server, health = self._server, self._health
        if server is None or health is None:
            return
        await health.enter_graceful_shutdown()
        try:
            await server.stop(grace)
        finally:
            self._server = self._health = None
            if self._pool is not None:
                self._pool.shutdown()
        log.info("performer stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def _threads_changed(self) -> None:
        """On the loop, whenever a plain-function call started or ended or a caller's deadline passed:
        follow on health whether every handler thread is stuck."""
        stuck = self._pool is not None and self._pool.stuck(asyncio.get_running_loop().time())
        if self._health is None or stuck == self._stuck:
            return
        self._stuck = stuck
        if stuck:
            log.warning(
                "all %d handler threads are held by tasks past their deadline: health NOT_SERVING "
                "until one is free",
                self.threads,
            )
        else:
            log.info("a handler thread is free again")
        task = asyncio.get_running_loop().create_task(self._report_health())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _report_health(self) -> None:
        """Sets health from the current state; serialized, so the last report is the latest state."""
        if self._health_lock is None:
            return
        async with self._health_lock:
            if self._health is None:
                return
            serving = self._serving and not self._stuck
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for service in ("", PERFORMER_SERVICE):
                await self._health.set(service, status)


def run(
    worker: Worker, port: int, host: str = "0.0.0.0", *, grace: float = 10.0, threads: int | None = None
) -> None:
    """Serves `worker` until SIGTERM or SIGINT, then stops gracefully. For a performer's main().

    In-flight tasks get up to `grace` seconds. When plain-function handlers still run after that,
    the process exits (code 0) without waiting for them, and run() does not return. A second SIGTERM
    or SIGINT while stopping exits at once with code 128 + the signal's number (143, 130)."""

    async def serve() -> int:
        server = PerformerServer(worker, port, host, threads=threads)
        await server.start()
        await _until_signal()
        log.info("signal received, stopping (grace %gs)", grace)
        await server.stop(grace)
        return server.busy_threads

    abandoned = asyncio.run(serve())
    if abandoned:
        log.warning("exiting without waiting for %d handler(s) still running after the grace", abandoned)
        _exit_now(0)


async def _until_signal() -> None:
    """Returns at the first SIGTERM or SIGINT; from then on, another one ends the process at once."""
    received = asyncio.Event()

    def on_signal(signum: int) -> None:
        if received.is_set():
            log.warning("%s while stopping: exiting at once", signal.Signals(signum).name)
            _exit_now(128 + signum)
        received.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await received.wait()


def _exit_now(code: int) -> NoReturn:
    """Ends the process without joining handler threads, which Python's exit would wait for."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
