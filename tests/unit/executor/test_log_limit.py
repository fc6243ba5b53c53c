"""Refused calls cannot flood the executor's log (`server/log_limit.py`): of one kind, 50 lines per
10 s, then one line counting the rest; through the management and task services."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.server.log_limit import BURST, LogLimit

from tests.support.aggregator import AVS, TestAggregator
from tests.support.clock import ManualClock
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub

pytestmark = pytest.mark.unit

LOGGER = "hourglass_executor.test_log_limit"


def test_a_kind_gets_its_burst_per_window_then_one_line_counting_the_rest(caplog):
    clock = ManualClock()
    limit = LogLimit(logging.getLogger(LOGGER), burst=3, window=10, clock=clock)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for index in range(5):
            limit.log(logging.INFO, "refused", {"code": "A"}, {"n": index})
        limit.log(logging.INFO, "refused", {"code": "B"}, {"n": 5})  # another kind: its own burst
        clock.now += 10
        limit.log(logging.INFO, "refused", {"code": "A"}, {"n": 6})
    lines = [
        (r.getMessage(), r.code, getattr(r, "n", None), getattr(r, "not_logged", None))
        for r in caplog.records
    ]
    assert lines == [
        ("refused", "A", 0, None),
        ("refused", "A", 1, None),
        ("refused", "A", 2, None),
        ("refused", "B", 5, None),
        ("refused not logged", "A", None, 2),
        ("refused", "A", 6, None),
    ]


def test_unauthenticated_management_calls_write_at_most_a_burst_of_lines(caplog):
    async def scenario():
        config = executor_config(authentication={"enabled": True})
        async with (
            running_executor(config) as executor,
            grpc.aio.insecure_channel(f"127.0.0.1:{executor.management_port}") as channel,
        ):
            stub = executor_pb2_grpc.ExecutorManagementServiceStub(channel)
            codes = set()
            for _ in range(BURST + 20):
                try:
                    await stub.ListPerformers(executor_pb2.ListPerformersRequest(), timeout=5)
                except grpc.aio.AioRpcError as error:
                    codes.add(error.code())
            return codes

    with caplog.at_level(logging.INFO):
        codes = asyncio.run(scenario())
    assert codes == {grpc.StatusCode.UNAUTHENTICATED}
    assert len([r for r in caplog.records if r.getMessage() == "management call refused"]) == BURST


def test_refused_tasks_write_at_most_a_burst_of_lines_per_code(caplog):
    aggregator = TestAggregator(static_chain((AVS,)))

    async def scenario():
        async with running_executor(executor_config()) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                codes = set()
                for _ in range(BURST + 20):
                    submission = aggregator.submission(b'{"op": "echo"}')
                    submission.signature = b"\x00" * 65
                    try:
                        await stub.SubmitTask(submission, timeout=5)
                    except grpc.aio.AioRpcError as error:
                        codes.add(error.code())
                return codes

    with caplog.at_level(logging.INFO):
        codes = asyncio.run(scenario())
    assert codes == {grpc.StatusCode.UNAUTHENTICATED}
    assert len([r for r in caplog.records if r.getMessage() == "task refused"]) == BURST
