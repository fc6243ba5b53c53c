"""Step 2: sending a signed TaskSubmission to one executor (`deliver`), as an aggregator that keeps
trying while the executor says "try again" and stops at any other answer.

`SubmitTask` over plaintext gRPC to the operator's socket. UNAVAILABLE (the contract's "nothing was
claimed, send it again": a chain read or the performer was unavailable) is retried with back-off
until the deadline (the task's deadline, or an earlier one the caller gives); every other answer
is final (DATA_LOSS included: the executor says no result will ever come). Retrying is safe: an
executor runs a task id once, and a retry of a task that ran gets its stored answer. Every attempt
is recorded with its status code, and `on_refused` is called after each refused attempt, before any
retry, so a test can act on a refusal (e.g. bring the chain back) instead of guessing a moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc

from hack.aggregator.plan import ExecutorOperator

RETRYABLE = "UNAVAILABLE"
ATTEMPT_TIMEOUT = 60.0  # seconds one SubmitTask may take (the executor's taskTimeout is 30 s by default)
FIRST_BACKOFF, MAX_BACKOFF = 0.2, 5.0


@dataclass(frozen=True)
class Attempt:
    code: str  # "OK" or the gRPC status code name
    details: str
    seconds: float  # how long the call took


@dataclass
class Delivery:
    """One executor's handling of the task: every attempt, and the result or the final refusal."""

    operator: ExecutorOperator
    submission: executor_pb2.TaskSubmission
    attempts: list[Attempt] = field(default_factory=list)
    result: executor_pb2.TaskResult | None = None
    problem: str | None = None  # why there is no usable result (final refusal, invalid result)

    @property
    def codes(self) -> list[str]:
        return [attempt.code for attempt in self.attempts]


RefusalCallback = Callable[[Delivery, Attempt], None]


def deliver(
    operator: ExecutorOperator,
    submission: executor_pb2.TaskSubmission,
    *,
    deadline: float,
    on_refused: RefusalCallback | None = None,
) -> Delivery:
    """Sends `submission` to `operator.socket` until a result, a final refusal, or `deadline` (unix
    seconds) passes."""
    delivery = Delivery(operator, submission)
    if not operator.socket:
        delivery.problem = f"operator {operator.address} registered no socket"
        return delivery
    backoff = FIRST_BACKOFF
    with grpc.insecure_channel(operator.socket) as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                delivery.problem = f"the deadline passed after {len(delivery.attempts)} attempts"
                return delivery
            started = time.monotonic()
            try:
                delivery.result = stub.SubmitTask(submission, timeout=min(ATTEMPT_TIMEOUT, remaining))
            except grpc.RpcError as error:
                attempt = Attempt(error.code().name, error.details() or "", time.monotonic() - started)
            else:
                delivery.attempts.append(Attempt("OK", "", time.monotonic() - started))
                return delivery
            delivery.attempts.append(attempt)
            if on_refused is not None:
                on_refused(delivery, attempt)
            if attempt.code != RETRYABLE:
                delivery.problem = f"refused: {attempt.code}: {attempt.details}"
                return delivery
            time.sleep(min(backoff, max(0.0, deadline - time.time())))
            backoff = min(backoff * 2, MAX_BACKOFF)
