"""The performer SDK server over real gRPC: health, reflection, status mapping of worker outcomes,
sync and async workers, graceful stop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc
from hourglass_executor.sdk import PerformerServer, TaskRejected, Worker
from hourglass_executor.sdk.server import PERFORMER_SERVICE

from tests.support.waiting import wait_for_async

TASK_ID = b"0x" + b"cd" * 32


class AsyncWorker(Worker):
    """b"" is rejected, b"fail" raises, b"bad" returns a str, b"sleep:<s>" sleeps; else echoes."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.synced: list[bytes] = []

    async def validate_task(self, task_id: bytes, payload: bytes) -> None:
        if not payload:
            raise TaskRejected("payload must not be empty")

    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        self.started.set()
        if payload == b"fail":
            raise ValueError("no such key: 42")
        if payload == b"bad":
            return "not bytes"  # type: ignore[return-value]
        if payload.startswith(b"sleep:"):
            await asyncio.sleep(float(payload[6:]))
        return payload.upper()

    def start_sync(self, payload: bytes) -> None:
        self.synced.append(payload)


class ThreadWorker(Worker):
    """Plain functions; records the thread each call ran on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def validate_task(self, task_id: bytes, payload: bytes) -> None:
        self.threads.append(threading.get_ident())
        if payload == b"no":
            raise TaskRejected("no thanks")

    def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        self.threads.append(threading.get_ident())
        time.sleep(0.01)  # blocking is fine: this runs in a worker thread
        return task_id + b"|" + payload


async def serve(worker: Worker) -> tuple[PerformerServer, grpc.aio.Channel]:
    server = PerformerServer(worker, 0, "127.0.0.1")
    await server.start()
    return server, grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}")


async def execute(
    channel: grpc.aio.Channel, payload: bytes, timeout: float = 1.0
) -> performer_pb2.TaskResponse:
    stub = performer_pb2_grpc.PerformerServiceStub(channel)
    return await stub.ExecuteTask(
        performer_pb2.TaskRequest(task_id=TASK_ID, payload=payload), timeout=timeout
    )


def test_health_is_serving_for_the_server_and_the_performer_service():
    async def scenario():
        server, channel = await serve(AsyncWorker())
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            statuses = [
                (await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=1)).status
                for name in ("", PERFORMER_SERVICE)
            ]
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=1)
        finally:
            await channel.close()
            await server.stop(0)
        return statuses, unknown.value.code()

    statuses, unknown = asyncio.run(scenario())
    assert statuses == [health_pb2.HealthCheckResponse.SERVING] * 2
    assert unknown is grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_performer_service():
    async def scenario():
        server, channel = await serve(AsyncWorker())
        try:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for response in stub.ServerReflectionInfo(iter([request]), timeout=1):
                return {service.name for service in response.list_services_response.service}
        finally:
            await channel.close()
            await server.stop(0)

    services = asyncio.run(scenario())
    assert PERFORMER_SERVICE == "eigenlayer.hourglass.v1.performer.PerformerService"
    assert {PERFORMER_SERVICE, "grpc.health.v1.Health"} <= services


def test_task_outcomes_map_to_statuses():
    async def scenario():
        server, channel = await serve(AsyncWorker())
        outcomes = {}
        try:
            response = await execute(channel, b"ok")
            outcomes["ok"] = (response.task_id, response.result)
            for payload in (b"", b"fail", b"bad"):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await execute(channel, payload)
                outcomes[payload] = (caught.value.code(), caught.value.details())
        finally:
            await channel.close()
            await server.stop(0)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes["ok"] == (TASK_ID, b"OK")
    assert outcomes[b""] == (grpc.StatusCode.INVALID_ARGUMENT, "payload must not be empty")
    # The exception's message only: no traceback, no exception type, no file names.
    assert outcomes[b"fail"] == (grpc.StatusCode.INTERNAL, "no such key: 42")
    assert outcomes[b"bad"] == (grpc.StatusCode.INTERNAL, "performer returned a result that is not bytes")


def test_plain_function_workers_run_in_threads():
    async def scenario():
        worker = ThreadWorker()
        server, channel = await serve(worker)
        try:
            result = (await execute(channel, b"data")).result
            with pytest.raises(grpc.aio.AioRpcError) as rejected:
                await execute(channel, b"no")
        finally:
            await channel.close()
            await server.stop(0)
        return worker.threads, result, rejected.value.code()

    threads, result, rejected = asyncio.run(scenario())
    assert result == TASK_ID + b"|data"
    assert rejected is grpc.StatusCode.INVALID_ARGUMENT
    assert len(threads) == 3
    assert threading.get_ident() not in threads


def test_start_sync_calls_the_worker_and_answers_empty():
    async def scenario():
        worker = AsyncWorker()
        server, channel = await serve(worker)
        try:
            stub = performer_pb2_grpc.PerformerServiceStub(channel)
            response = await stub.StartSync(
                performer_pb2.StartSyncRequest(payload=b"from-block-7"), timeout=1
            )
        finally:
            await channel.close()
            await server.stop(0)
        return response, worker.synced

    response, synced = asyncio.run(scenario())
    assert response == performer_pb2.StartSyncResponse()
    assert synced == [b"from-block-7"]


def test_graceful_stop_lets_an_in_flight_task_finish_and_refuses_new_ones():
    async def scenario():
        worker = AsyncWorker()
        server, channel = await serve(worker)
        health = health_pb2_grpc.HealthStub(channel)
        try:
            in_flight = asyncio.ensure_future(execute(channel, b"sleep:0.3", timeout=2))
            await asyncio.wait_for(worker.started.wait(), 1)
            stopping = asyncio.ensure_future(server.stop(grace=1.5))

            async def refused() -> grpc.StatusCode | None:
                """A new call's answer once the stop refuses it. One answered before is fine; one
                that races the start of the stop may be CANCELLED by gRPC: try another."""
                try:
                    await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
                except grpc.aio.AioRpcError as error:
                    return None if error.code() is grpc.StatusCode.CANCELLED else error.code()
                return None

            code = await wait_for_async(refused, timeout=1, what="a new call to be refused")
            response = await in_flight
            await stopping
        finally:
            await channel.close()
        return response, code

    response, refused = asyncio.run(scenario())
    assert response.result == b"SLEEP:0.3"
    assert refused is grpc.StatusCode.UNAVAILABLE


def test_stop_cancels_tasks_still_running_after_the_grace_period():
    async def scenario():
        worker = AsyncWorker()
        server, channel = await serve(worker)
        try:
            in_flight = asyncio.ensure_future(execute(channel, b"sleep:5", timeout=3))
            await asyncio.wait_for(worker.started.wait(), 1)
            started = time.monotonic()
            await server.stop(grace=0.2)
            stop_took = time.monotonic() - started
            with pytest.raises(grpc.aio.AioRpcError) as cancelled:
                await in_flight
        finally:
            await channel.close()
        return stop_took, cancelled.value.code()

    stop_took, code = asyncio.run(scenario())
    assert stop_took < 2.5  # the 0.2 s grace, not the task's 5 s (nor the caller's 3 s deadline)
    assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def test_health_watchers_see_not_serving_when_the_server_stops():
    async def scenario():
        server, channel = await serve(AsyncWorker())
        stub = health_pb2_grpc.HealthStub(channel)
        seen = []
        try:
            async for response in stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=2):
                seen.append(response.status)
                if len(seen) == 1:
                    stopping = asyncio.ensure_future(server.stop(grace=0.5))
                else:
                    break
            await stopping
        finally:
            await channel.close()
        return seen

    assert asyncio.run(scenario()) == [
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    ]


def test_bound_port_and_a_port_already_in_use():
    async def scenario():
        server = PerformerServer(AsyncWorker(), 0, "127.0.0.1")
        assert server.bound_port is None
        await server.start()
        try:
            assert server.bound_port and server.bound_port > 0
            with socket.socket() as probe:
                probe.connect(("127.0.0.1", server.bound_port))
            with pytest.raises(OSError, match="cannot listen"):
                await PerformerServer(AsyncWorker(), server.bound_port, "127.0.0.1").start()
        finally:
            await server.stop(0)

    asyncio.run(scenario())


def test_set_serving_switches_the_health_status_and_tasks_still_run():
    async def scenario():
        server, channel = await serve(AsyncWorker())
        stub = health_pb2_grpc.HealthStub(channel)

        async def status() -> int:
            return (await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)).status

        try:
            await server.set_serving(False)
            down = await status()
            result = (await execute(channel, b"still")).result
            await server.set_serving(True)
            up = await status()
        finally:
            await channel.close()
            await server.stop(0)
        return down, result, up

    assert asyncio.run(scenario()) == (
        health_pb2.HealthCheckResponse.NOT_SERVING,
        b"STILL",
        health_pb2.HealthCheckResponse.SERVING,
    )
