"""The test aggregator's delivery of one TaskSubmission (hack/aggregator/dispatch.py) against a scripted
ExecutorService on loopback: UNAVAILABLE is retried with back-off, the refusal callback sees every
refused attempt before the retry, any other code is final, and the deadline ends the retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.signing import ECDSA

from hack.aggregator.dispatch import Attempt, Delivery, deliver
from hack.aggregator.plan import ExecutorOperator
from hack.aggregator.signatures import RegisteredKey

pytestmark = pytest.mark.unit

SUBMISSION = executor_pb2.TaskSubmission(task_id="0x" + "ab" * 32, payload=b"payload")


class ScriptedExecutor(executor_pb2_grpc.ExecutorServiceServicer):
    """Answers each SubmitTask with the next code of the script (the last one repeats)."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.calls = 0
        self.lock = threading.Lock()

    def SubmitTask(self, request, context):
        with self.lock:
            code = self.script[min(self.calls, len(self.script) - 1)]
            self.calls += 1
        if code == "OK":
            return executor_pb2.TaskResult(task_id=request.task_id, output=b"done")
        context.abort(grpc.StatusCode[code], f"scripted {code}")


@pytest.fixture
def executor() -> Iterator[tuple[ScriptedExecutor, ExecutorOperator]]:
    servicer = ScriptedExecutor(["OK"])
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    operator = ExecutorOperator(
        "0x" + "15" * 20, f"127.0.0.1:{port}", RegisteredKey(ECDSA, "0x" + "71" * 20), (1,), 0
    )
    yield servicer, operator
    server.stop(None)


def test_unavailable_is_retried_and_each_refusal_is_reported_before_the_retry(executor):
    servicer, operator = executor
    servicer.script = ["UNAVAILABLE", "UNAVAILABLE", "OK"]
    seen: list[tuple[int, str]] = []

    def on_refused(delivery: Delivery, attempt: Attempt) -> None:
        seen.append((servicer.calls, attempt.code))

    delivery = deliver(operator, SUBMISSION, deadline=time.time() + 30, on_refused=on_refused)

    assert delivery.codes == ["UNAVAILABLE", "UNAVAILABLE", "OK"]
    assert seen == [(1, "UNAVAILABLE"), (2, "UNAVAILABLE")]  # told before the next attempt
    assert delivery.result.output == b"done" and delivery.problem is None
    assert delivery.attempts[0].details == "scripted UNAVAILABLE"


@pytest.mark.parametrize("code", ["UNAUTHENTICATED", "ALREADY_EXISTS", "DEADLINE_EXCEEDED", "INTERNAL"])
def test_any_other_refusal_is_final(executor, code):
    servicer, operator = executor
    servicer.script = [code, "OK"]

    delivery = deliver(operator, SUBMISSION, deadline=time.time() + 30)

    assert delivery.codes == [code] and servicer.calls == 1
    assert delivery.result is None and delivery.problem == f"refused: {code}: scripted {code}"


def test_the_deadline_ends_the_retries(executor):
    servicer, operator = executor
    servicer.script = ["UNAVAILABLE"]

    started = time.monotonic()
    delivery = deliver(operator, SUBMISSION, deadline=time.time() + 1.0)

    assert 0.9 < time.monotonic() - started < 3
    assert set(delivery.codes) == {"UNAVAILABLE"} and len(delivery.codes) >= 2
    assert delivery.result is None and "the deadline passed" in delivery.problem


def test_an_operator_without_a_socket_is_not_sent_anything():
    operator = ExecutorOperator("0x" + "15" * 20, "", RegisteredKey(ECDSA, "0x" + "71" * 20), (1,), 0)
    delivery = deliver(operator, SUBMISSION, deadline=time.time() + 30)
    assert delivery.codes == [] and "registered no socket" in delivery.problem
