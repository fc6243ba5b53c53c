"""The performer SDK under misbehaving handlers: SystemExit/KeyboardInterrupt from user code, error
messages too long for a gRPC status, handler threads that are all busy, and `run()` stopping while
plain-function handlers hang (the grace period, a second signal)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import queue
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc
from hourglass_executor.sdk import PerformerServer, TaskRejected, Worker
from hourglass_executor.sdk import server as sdk_server

from tests.support.waiting import wait_for_async

TASK_ID = b"0x" + b"ab" * 32
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def run_scenario(scenario: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(scenario)
    except (SystemExit, KeyboardInterrupt) as error:
        raise AssertionError(f"{type(error).__name__} escaped the server: it ends a performer") from error


async def serve(worker: Worker, threads: int | None = None) -> tuple[PerformerServer, grpc.aio.Channel]:
    options = {} if threads is None else {"threads": threads}
    server = PerformerServer(worker, 0, "127.0.0.1", **options)
    await server.start()
    return server, grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}")


async def execute(channel: grpc.aio.Channel, payload: bytes, timeout: float = 2.0) -> bytes:
    stub = performer_pb2_grpc.PerformerServiceStub(channel)
    request = performer_pb2.TaskRequest(task_id=TASK_ID, payload=payload)
    return (await stub.ExecuteTask(request, timeout=timeout)).result


async def failure(channel: grpc.aio.Channel, payload: bytes) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await execute(channel, payload)
    return caught.value.code(), caught.value.details()


async def health(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)).status


# --- SystemExit and KeyboardInterrupt ----------------------------------------------------------------


class ExitingWorker(Worker):
    """Parses its payload with argparse (which exits on a bad one); b"interrupt" raises
    KeyboardInterrupt; a StartSync exits."""

    def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        if payload == b"interrupt":
            raise KeyboardInterrupt
        parser = argparse.ArgumentParser(prog="task", add_help=False)
        parser.add_argument("--n", type=int, required=True)
        return str(parser.parse_args(shlex.split(payload.decode())).n * 2).encode()

    async def start_sync(self, payload: bytes) -> None:
        sys.exit("cannot sync")


def test_system_exit_and_keyboard_interrupt_in_a_handler_answer_internal_and_the_performer_stays_up(
    caplog: pytest.LogCaptureFixture,
):
    async def scenario():
        server, channel = await serve(ExitingWorker())
        try:
            outcomes = [await failure(channel, payload) for payload in (b"--n abc", b"interrupt")]
            with pytest.raises(grpc.aio.AioRpcError) as sync:
                await performer_pb2_grpc.PerformerServiceStub(channel).StartSync(
                    performer_pb2.StartSyncRequest(payload=b"x"), timeout=2
                )
            outcomes.append((sync.value.code(), sync.value.details()))
            return outcomes, await health(channel), await execute(channel, b"--n 21")
        finally:
            await channel.close()
            await server.stop(0)

    with caplog.at_level(logging.ERROR, logger="hourglass_executor.sdk"):
        outcomes, status, result = run_scenario(scenario())
    assert outcomes == [
        (grpc.StatusCode.INTERNAL, "SystemExit: 2"),
        (grpc.StatusCode.INTERNAL, "KeyboardInterrupt"),
        (grpc.StatusCode.INTERNAL, "SystemExit: cannot sync"),
    ]
    assert (status, result) == (SERVING, b"42")
    logged = [record.getMessage() for record in caplog.records]
    assert any(line.startswith(f"task {TASK_ID!r} failed") and "SystemExit: 2" in line for line in logged)
    assert any(line.startswith("start_sync failed") for line in logged)


# --- long error messages ---------------------------------------------------------------------------

LONG_REJECTION = "x" * 30_000
# 2 UTF-8 bytes each, percent-encoded into 6 header bytes: 18 KB uncut. The leading "a" puts the cut
# in the middle of a character.
LONG_FAILURE = "a" + "é" * 3_000


class VerboseWorker(Worker):
    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        if payload == b"reject":
            raise TaskRejected(LONG_REJECTION)
        if payload == b"surrogate":
            raise ValueError("undecodable name: \udcff")
        raise ValueError(LONG_FAILURE)


def test_long_error_messages_are_cut_and_keep_their_status(caplog: pytest.LogCaptureFixture):
    async def scenario():
        server, channel = await serve(VerboseWorker())
        try:
            return [await failure(channel, payload) for payload in (b"reject", b"fail", b"surrogate")]
        finally:
            await channel.close()
            await server.stop(0)

    with caplog.at_level(logging.INFO, logger="hourglass_executor.sdk"):
        rejected, failed, surrogate = run_scenario(scenario())
    assert rejected[0] is grpc.StatusCode.INVALID_ARGUMENT
    assert failed[0] is grpc.StatusCode.INTERNAL
    limit, marker = sdk_server.MAX_ERROR_MESSAGE_BYTES, sdk_server.TRUNCATED
    room = limit - len(marker.encode())
    assert rejected[1] == "x" * room + marker
    assert failed[1] == "a" + "é" * ((room - 1) // 2) + marker  # no half character
    assert surrogate == (grpc.StatusCode.INTERNAL, "undecodable name: ?")
    logged = [record.getMessage() for record in caplog.records if record.name.endswith("sdk.server")]
    assert any(marker in line and line.startswith(f"task {TASK_ID!r} rejected") for line in logged)
    assert any(marker in line and line.startswith(f"task {TASK_ID!r} failed") for line in logged)
    assert max(len(line.encode()) for line in logged) < 3 * limit


# --- handler threads -------------------------------------------------------------------------------


class BlockingWorker(Worker):
    """Plain-function handlers that wait until released; each records its thread's name."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.thread_names: list[str] = []

    def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        self.thread_names.append(threading.current_thread().name)
        self.started.release()
        self.release.wait()
        return payload


async def handler_started(worker: BlockingWorker) -> None:
    assert await asyncio.to_thread(worker.started.acquire, timeout=5), "a handler did not start"


async def health_is(channel: grpc.aio.Channel, expected: int) -> bool:
    return await health(channel) == expected


def test_health_stays_serving_while_threads_are_busy_and_turns_not_serving_once_all_are_stuck():
    """Busy with tasks whose callers still wait is only busy (NOT_SERVING would get a performer
    running long tasks restarted, its tasks lost); held past their callers' deadlines, the threads
    can run nothing any more: health says so, and says SERVING again once one is free."""

    async def scenario():
        worker = BlockingWorker()
        server, channel = await serve(worker, threads=2)
        try:
            long = [asyncio.ensure_future(execute(channel, b"t%d" % n, timeout=30)) for n in range(2)]
            for _ in long:
                await handler_started(worker)
            busy_health = await health(channel)
            waiting = asyncio.ensure_future(execute(channel, b"t2", timeout=30))
            await wait_for_async(lambda: server.busy_threads == 3, timeout=5, what="a third task waiting")
            started_while_busy = len(worker.thread_names)
            worker.release.set()
            results = await asyncio.gather(*long, waiting)
            worker.release.clear()
            cut = [asyncio.ensure_future(execute(channel, b"s%d" % n, timeout=0.5)) for n in range(2)]
            for _ in cut:
                await handler_started(worker)
            await asyncio.gather(*cut, return_exceptions=True)  # their callers gave up
            await wait_for_async(lambda: health_is(channel, NOT_SERVING), timeout=5, what="NOT_SERVING")
            worker.release.set()
            await wait_for_async(lambda: health_is(channel, SERVING), timeout=5, what="SERVING again")
            return busy_health, started_while_busy, results
        finally:
            worker.release.set()
            await channel.close()
            await server.stop(0)

    busy_health, started_while_busy, results = asyncio.run(scenario())
    assert busy_health == SERVING
    assert started_while_busy == 2
    assert results == [b"t0", b"t1", b"t2"]


def test_a_task_waiting_for_a_thread_past_its_deadline_leaves_a_busy_performer_serving():
    """A call still waiting for a thread holds none: counting it made health flap NOT_SERVING (and
    warn that every thread was stuck) when a queued task's caller gave up."""

    async def scenario():
        worker = BlockingWorker()
        server, channel = await serve(worker, threads=1)
        statuses: list[int] = []

        async def watch() -> None:
            request = health_pb2.HealthCheckRequest(service="")
            async for answer in health_pb2_grpc.HealthStub(channel).Watch(request):
                statuses.append(answer.status)

        watcher = asyncio.ensure_future(watch())
        try:
            long = asyncio.ensure_future(execute(channel, b"long", timeout=30))
            await handler_started(worker)
            with pytest.raises(grpc.aio.AioRpcError) as queued:
                await execute(channel, b"queued", timeout=0.5)
            await wait_for_async(lambda: server.busy_threads == 1, timeout=5, what="the queued call gone")
            worker.release.set()
            return queued.value.code(), await long, statuses
        finally:
            worker.release.set()
            watcher.cancel()
            await channel.close()
            await server.stop(0)

    code, result, statuses = asyncio.run(scenario())
    assert code is grpc.StatusCode.DEADLINE_EXCEEDED and result == b"long"
    assert statuses and set(statuses) == {SERVING}


class AsyncTasksSyncSync(Worker):
    """Async tasks with the default validate_task; a plain-function StartSync that blocks."""

    def __init__(self) -> None:
        self.sync_started = threading.Event()
        self.release = threading.Event()

    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        return payload.upper()

    def start_sync(self, payload: bytes) -> None:
        self.sync_started.set()
        self.release.wait()


def test_async_tasks_with_the_default_validate_task_need_no_free_handler_thread():
    async def scenario():
        worker = AsyncTasksSyncSync()
        server, channel = await serve(worker, threads=1)
        stub = performer_pb2_grpc.PerformerServiceStub(channel)
        try:
            sync = asyncio.ensure_future(stub.StartSync(performer_pb2.StartSyncRequest(), timeout=10))
            assert await asyncio.to_thread(worker.sync_started.wait, 5)
            result = await execute(channel, b"still runs", timeout=2)
            worker.release.set()
            await sync
            return result
        finally:
            worker.release.set()
            await channel.close()
            await server.stop(0)

    assert asyncio.run(scenario()) == b"STILL RUNS"


def test_a_server_needs_at_least_one_handler_thread():
    with pytest.raises(ValueError, match="at least one handler thread"):
        PerformerServer(BlockingWorker(), 0, threads=0)


# --- run(): stopping with hanging handlers ---------------------------------------------------------

HANGING_PERFORMER = textwrap.dedent(
    """
    import logging, sys, threading
    from hourglass_executor.sdk import Worker, run

    class Hanging(Worker):
        def handle_task(self, task_id, payload):
            print("HANDLER STARTED", file=sys.stderr, flush=True)
            threading.Event().wait()  # never returns

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(Hanging(), 0, "127.0.0.1", grace=float(sys.argv[1]))
    """
)


class Performer:
    """A `run()` performer process whose stderr lines the test can wait for."""

    def __init__(self, tmp_path: Path, grace: float) -> None:
        script = tmp_path / "performer.py"
        script.write_text(HANGING_PERFORMER)
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(grace)], stderr=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        listening = self.wait_for(r"performer listening on 127\.0\.0\.1:(\d+)")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{listening.group(1)}")

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        while True:
            line = self._lines.get(timeout=timeout)  # queue.Empty: the line never came
            if found := re.search(pattern, line):
                return found

    def start_task(self) -> grpc.Future:
        stub = performer_pb2_grpc.PerformerServiceStub(self.channel)
        request = performer_pb2.TaskRequest(task_id=TASK_ID, payload=b"x")
        future = stub.ExecuteTask.future(request, timeout=60)
        self.wait_for("HANDLER STARTED")
        return future

    def close(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def performer_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Performer] = []

    def start(grace: float) -> Performer:
        started.append(Performer(tmp_path, grace))
        return started[-1]

    yield start
    for performer in started:
        performer.close()


def test_run_exits_after_the_grace_period_without_waiting_for_hanging_handlers(performer_factory: Any):
    performer = performer_factory(grace=0.5)
    tasks = [performer.start_task() for _ in range(3)]
    performer.process.send_signal(signal.SIGTERM)
    assert performer.process.wait(timeout=15) == 0  # the handlers never return
    assert all(task.exception() is not None for task in tasks)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_while_stopping_exits_at_once(performer_factory: Any, second: signal.Signals):
    performer = performer_factory(grace=300)
    # Kept: a call dropped by the client is cancelled, and with no call in flight the performer
    # would stop (exit 0) before the second signal.
    task = performer.start_task()
    performer.process.send_signal(signal.SIGTERM)
    performer.wait_for("signal received, stopping")
    performer.process.send_signal(second)
    assert performer.process.wait(timeout=15) == 128 + second
    assert task.exception() is not None
