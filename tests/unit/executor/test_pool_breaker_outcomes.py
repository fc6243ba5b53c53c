"""Which failed calls count against a performer's circuit: transport failures and the performer's own
errors (CANCELLED by a closed channel, UNAVAILABLE, UNKNOWN, INTERNAL, DATA_LOSS, UNIMPLEMENTED)
open it after five in a row, while a task the performer answered with a refusal (INVALID_ARGUMENT,
FAILED_PRECONDITION, ...) says it is alive: it neither opens the circuit nor lets earlier failures
add up across it."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.circuit import CLOSED, OPEN
from hourglass_executor.performers.client import PerformerCallError
from hourglass_executor.performers.pool import PerformerPool, PerformerUnavailableError
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend

pytestmark = pytest.mark.unit

OK = b"ok"


class ScriptedClient:
    """A performer client that answers SERVING and fails each task whose payload names a gRPC status
    code (b"INTERNAL") with that code; any other payload succeeds."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    async def health_check(self, timeout: float = 1.0) -> bool:
        return True

    async def execute_task(self, task_id: bytes, payload: bytes, *, timeout: float) -> bytes:
        if payload == OK:
            return payload
        raise PerformerCallError(grpc.StatusCode[payload.decode()], "scripted", maybe_executed=True)

    async def close(self) -> None:
        pass


async def outcomes(codes: list[str]) -> tuple[str, int, BaseException | bytes]:
    """Sends one task failing with each of `codes` in turn; then the circuit's state, its count of
    consecutive failures, and what a further task gets."""
    backend = LocalBackend()
    spec = PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag="v1")
    pool = PerformerPool(backend, MemoryStore(), {AVS: spec}, client_factory=ScriptedClient)
    await pool.start()
    try:
        for code in codes:
            with pytest.raises(PerformerCallError):
                await pool.run_task(AVS, new_task_id(), code.encode(), timeout=5)
        breaker = pool.current(AVS).breaker
        state, failures = breaker.state, breaker.consecutive_failures
        try:
            after: BaseException | bytes = await pool.run_task(AVS, new_task_id(), OK, timeout=5)
        except PerformerUnavailableError as error:
            after = error
        return state, failures, after
    finally:
        await pool.shutdown()
        await backend.destroy()


@pytest.mark.parametrize(
    "code", ["CANCELLED", "UNAVAILABLE", "UNKNOWN", "INTERNAL", "DATA_LOSS", "UNIMPLEMENTED"]
)
def test_five_failures_the_performer_is_to_blame_for_open_its_circuit(code):
    state, failures, after = asyncio.run(outcomes([code] * 5))
    assert (state, failures) == (OPEN, 5)
    assert isinstance(after, PerformerUnavailableError) and "circuit open" in str(after)


@pytest.mark.parametrize("code", ["INVALID_ARGUMENT", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED"])
def test_tasks_the_performer_refused_leave_its_circuit_closed(code):
    state, failures, after = asyncio.run(outcomes([code] * 5))
    assert (state, failures) == (CLOSED, 0)
    assert after == OK


def test_a_refused_task_between_failures_shows_the_performer_alive_and_restarts_the_count():
    state, failures, after = asyncio.run(outcomes(["INTERNAL"] * 4 + ["INVALID_ARGUMENT"] + ["INTERNAL"] * 4))
    assert (state, failures) == (CLOSED, 4)
    assert after == OK
