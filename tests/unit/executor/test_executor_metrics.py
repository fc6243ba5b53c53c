"""The executor's /metrics (prometheus-client text format, scraped over HTTP from an in-process
executor with real performers on loopback) and its one log line per task."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request

import grpc
import pytest
from hourglass_executor import __version__
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.support.aggregator import AVS, TestAggregator, executor_signers
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub
from tests.support.local_backend import LocalBackend
from tests.support.ports import free_port

pytestmark = pytest.mark.unit

NOT_SERVED = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # in the chain file, not served here
CHAIN = static_chain((AVS, NOT_SERVED))
AGGREGATOR = TestAggregator(CHAIN)


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def submit(stub, submission) -> executor_pb2.TaskResult | grpc.aio.AioRpcError:
    try:
        return await stub.SubmitTask(submission, timeout=5)
    except grpc.aio.AioRpcError as error:
        return error


def test_tasks_latency_performer_health_deploys_and_build_info_are_exported(caplog):
    done = AGGREGATOR.submission(json.dumps({"op": "echo", "data": "x"}).encode())
    rejected = AGGREGATOR.submission(json.dumps({"op": "echo", "data": 1}).encode())
    elsewhere = AGGREGATOR.submission(json.dumps({"op": "echo"}).encode(), avs=NOT_SERVED)

    async def scenario():
        config = executor_config(metricsPort=free_port())
        async with running_executor(config, chain=CHAIN, signers=executor_signers()) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                answers = [await submit(stub, s) for s in (done, rejected, elsewhere, done)]
            performer = executor.pool.current(AVS).performer_id
            scraped = await asyncio.to_thread(samples, executor.metrics_port)
            return answers, performer, scraped

    with caplog.at_level(logging.INFO, logger="hourglass_executor"):
        answers, performer, scraped = asyncio.run(scenario())
    assert isinstance(answers[0], executor_pb2.TaskResult) and isinstance(answers[3], executor_pb2.TaskResult)
    assert answers[1].code() is grpc.StatusCode.INVALID_ARGUMENT
    assert answers[2].code() is grpc.StatusCode.NOT_FOUND
    avs = AVS.lower()

    def value(name: str, **labels: str) -> float | None:
        return scraped.get((name, tuple(sorted(labels.items()))))

    assert value("hourglass_executor_tasks_total", avs=avs, result_code="OK") == 2
    assert value("hourglass_executor_tasks_total", avs=avs, result_code="INVALID_ARGUMENT") == 1
    assert value("hourglass_executor_tasks_total", avs="other", result_code="NOT_FOUND") == 1
    assert value("hourglass_executor_task_duration_seconds_count", avs=avs) == 3
    assert value("hourglass_executor_task_duration_seconds_bucket", avs=avs, le="+Inf") == 3
    assert (
        value("hourglass_executor_performer_healthy", avs=avs, performer=performer, state="in_service") == 1
    )
    assert value("hourglass_executor_deploys_total", avs=avs, result="succeeded") == 1
    assert value("hourglass_build_info", version=__version__, component="executor") == 1

    lines = [
        r for r in caplog.records if r.getMessage() in ("task done", "task refused", "task answered again")
    ]
    assert [(r.getMessage(), r.task_id, r.avs, r.performer_id, r.code) for r in lines] == [
        ("task done", done.task_id, avs, performer, "OK"),
        ("task refused", rejected.task_id, avs, performer, "INVALID_ARGUMENT"),
        ("task refused", elsewhere.task_id, NOT_SERVED.lower(), None, "NOT_FOUND"),
        ("task answered again", done.task_id, avs, None, "OK"),
    ]
    assert all(r.levelno == logging.INFO and r.duration_seconds > 0 for r in lines)


def test_a_failed_deploy_is_counted_and_a_taken_metrics_port_stops_the_start_naming_its_key():
    from hourglass_executor.server.app import Executor
    from hourglass_executor.server.components import StartupError

    async def scenario():
        backend = LocalBackend(fail_ready={"broken"})
        config = executor_config(metricsPort=free_port(), tag="broken")
        async with running_executor(config, backend) as first:
            scraped = await asyncio.to_thread(samples, first.metrics_port)
            taken = first.metrics_port
            second = Executor(
                executor_config(metricsPort=taken),
                backend=LocalBackend(),
                chain=CHAIN,
                environ={},
                host="127.0.0.1",
            )
            try:
                with pytest.raises(StartupError) as refused:
                    await second.start()
            finally:
                await second.stop()
            return scraped, taken, str(refused.value)

    scraped, port, message = asyncio.run(scenario())
    failed = ("hourglass_executor_deploys_total", (("avs", AVS.lower()), ("result", "failed")))
    assert scraped.get(failed) == 1
    assert message == (
        f"metricsPort: cannot listen on 127.0.0.1:{port}: Address already in use (another process listens "
        "there; stop it or choose another port)"
    )


def test_every_served_avss_deploy_results_are_exported_from_the_start():
    """At 0 before any deploy: the first failure is an increase from 0, which the deploy-failure alert
    sees (a series that first appears at 1 has increased by nothing)."""
    from hourglass_executor.metrics import ExecutorMetrics

    metrics = ExecutorMetrics([AVS, NOT_SERVED])
    families = text_string_to_metric_families(metrics.exposition().decode())
    deploys = {
        (sample.labels["avs"], sample.labels["result"]): sample.value
        for family in families
        if family.name == "hourglass_executor_deploys"
        for sample in family.samples
        if sample.name == "hourglass_executor_deploys_total"
    }
    assert deploys == {
        (avs.lower(), result): 0.0
        for avs in (AVS, NOT_SERVED)
        for result in ("succeeded", "failed", "cancelled")
    }
