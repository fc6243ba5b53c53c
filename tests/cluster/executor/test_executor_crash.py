"""The executor process killed (SIGKILL) with tasks in flight (issue 11 item 7): the aggregator's
retries to the restarted executor (same SQLite store) get, for each task that had finished but whose
answer never reached the aggregator, the same signed result, and for each task that was still
running, DATA_LOSS — and nothing runs a second time.

The aggregator reaches the first executor through a proxy that drops the executor's answers
(tests.support.holding_proxy), so "finished but unacknowledged" is real: the executor answered, the
aggregator heard nothing. The performer is a local process that records each execution
(tests.support.counting_performer), reached through `endpointOverride`; it outlives the executor,
as a pod would. Synchronisation is on the performer's record and the executor's "task done" log lines
(debug), which it writes after the result is stored.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc

from tests.support.counting_performer import executions
from tests.support.executor_process import ExecutorProcess, kubernetes_config
from tests.support.holding_proxy import HoldingProxy
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.process import LoggedProcess
from tests.support.waiting import wait_for_async

TASKS = 40  # finished but unacknowledged; as many again in flight


class CountingPerformer(LoggedProcess):
    def __init__(self, work_dir: Path) -> None:
        self.record = work_dir / "executions.log"
        self.endpoint = f"127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        super().__init__(
            [
                sys.executable,
                "-m",
                "tests.support.counting_performer",
                "--port",
                self.endpoint.rpartition(":")[2],
                "--record",
                str(self.record),
            ],
            work_dir / "counting-performer.log",
            cwd=REPO,
            env=env,
        )


@pytest.fixture
def performer(tmp_path: Path) -> Iterator[CountingPerformer]:
    process = CountingPerformer(tmp_path)
    yield process
    process.kill()


def stored_results(executor: ExecutorProcess) -> set[str]:
    """Task ids whose result the executor has stored (its debug line "task done" follows the store)."""
    return {entry["task_id"] for entry in executor.log_entries() if entry.get("msg") == "task done"}


async def outcome(stub, submission) -> executor_pb2.TaskResult | grpc.aio.AioRpcError:
    try:
        return await stub.SubmitTask(submission, timeout=30)
    except grpc.aio.AioRpcError as error:
        return error


def test_after_sigkill_retries_get_the_stored_results_or_data_loss_and_nothing_runs_again(
    cluster, namespace, executors, performer, aggregator, tmp_path
):
    config = kubernetes_config(tmp_path, cluster.kubeconfig, namespace, debug=True, taskTimeout="120s")
    config["avsPerformers"][0]["kubernetes"] = {"endpointOverride": performer.endpoint}
    first = executors(config)
    first.wait_serving(timeout=150)

    finished = [
        aggregator.submission(json.dumps({"op": "echo", "data": f"f{i}"}).encode()) for i in range(TASKS)
    ]
    running = [
        aggregator.submission(json.dumps({"op": "sleep", "data": f"r{i}", "ms": 60_000}).encode())
        for i in range(TASKS)
    ]
    finished_ids = {s.task_id for s in finished}
    running_ids = {s.task_id for s in running}

    async def crash() -> tuple[list[object], int]:
        proxy = HoldingProxy("127.0.0.1", first.task_port)
        port = await proxy.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                await health.Check(health_pb2.HealthCheckRequest(), timeout=10)  # connected through it
                proxy.hold()
                stub = executor_pb2_grpc.ExecutorServiceStub(channel)
                calls = [
                    asyncio.ensure_future(stub.SubmitTask(s, timeout=120)) for s in [*finished, *running]
                ]
                await wait_for_async(
                    lambda: running_ids <= set(executions(performer.record)[0]),
                    timeout=90,
                    interval=0.05,
                    what="the performer to run the slow tasks",
                )
                await wait_for_async(
                    lambda: finished_ids <= stored_results(first),
                    timeout=90,
                    interval=0.05,
                    what="the executor to store the results",
                )
                answered = sum(call.done() for call in calls)
                first.kill()
                outcomes = await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await proxy.close()
        return outcomes, answered

    outcomes, answered_before_kill = asyncio.run(crash())
    assert answered_before_kill == 0  # no answer reached the aggregator
    assert {type(o).__name__ for o in outcomes} == {"AioRpcError"}
    assert {o.code().name for o in outcomes} == {"UNAVAILABLE"}  # type: ignore[union-attr]
    started_before, finished_before = executions(performer.record)
    assert sorted(started_before) == sorted(finished_ids | running_ids)
    assert set(finished_before) == finished_ids

    second = executors(config)
    second.wait_serving(timeout=150)

    async def retry() -> list[list[object]]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{second.task_port}") as channel:
            stub = executor_pb2_grpc.ExecutorServiceStub(channel)
            return [
                list(await asyncio.gather(*(outcome(stub, s) for s in [*finished, *running])))
                for _ in range(2)
            ]

    first_retry, second_retry = asyncio.run(retry())
    for submission, result, again in zip(finished, first_retry[:TASKS], second_retry[:TASKS], strict=True):
        assert isinstance(result, executor_pb2.TaskResult), result
        aggregator.verify(submission, result)  # both signatures are the executor's
        assert result.output == json.loads(submission.payload)["data"].encode()
        assert isinstance(again, executor_pb2.TaskResult)
        assert again.SerializeToString() == result.SerializeToString()  # the same signed result
    lost = [*first_retry[TASKS:], *second_retry[TASKS:]]
    assert {o.code().name for o in lost} == {"DATA_LOSS"}, lost  # type: ignore[union-attr]
    assert all("will not run again" in o.details() for o in lost)  # type: ignore[union-attr]

    started, _ = executions(performer.record)
    assert started == started_before  # 0 re-executions
    assert set(collections.Counter(started).values()) == {1}
    answered_again = [e for e in second.log_entries() if e.get("msg") == "task answered again"]
    assert collections.Counter(e["code"] for e in answered_again) == {"OK": 2 * TASKS, "DATA_LOSS": 2 * TASKS}
