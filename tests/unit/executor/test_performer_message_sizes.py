"""Tasks and results up to 16 MiB travel between the executor and its performer: the client's
receive limit is not gRPC's default of 4 MiB, so a large result is not lost after the performer
ran the task; a task beyond the client's limit is refused as RESOURCE_EXHAUSTED without reaching the
performer."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hourglass_executor.performers.client import (
    DEFAULT_MAX_MESSAGE_BYTES,
    PerformerCallError,
    PerformerClient,
)

from tests.unit.executor.test_performer_client import TASK_ID, CountingWorker, started_server

pytestmark = pytest.mark.unit

MIB = 1024 * 1024


def test_a_task_and_a_result_of_ten_mebibytes_go_through():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        payload = b"x" * (10 * MIB)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                return payload, await client.execute_task(TASK_ID, payload, timeout=20)
        finally:
            await server.stop(0)

    payload, result = asyncio.run(scenario())
    assert DEFAULT_MAX_MESSAGE_BYTES == 16 * MIB
    assert result == payload


def test_a_task_beyond_the_clients_limit_is_resource_exhausted_and_never_reaches_the_performer():
    async def scenario():
        worker = CountingWorker()
        server = await started_server(worker)
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}", max_message_bytes=MIB) as client:
                with pytest.raises(PerformerCallError) as failed:
                    await client.execute_task(TASK_ID, b"x" * (MIB // 2) * 3, timeout=20)
                return failed.value, worker.executed
        finally:
            await server.stop(0)

    error, executed = asyncio.run(scenario())
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert executed == []
