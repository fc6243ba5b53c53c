"""Refusals that SubmitTask makes before it claims a task id, in the cases the table of
`server/task_service.py` covers but the main tests do not send: a version-0 submission addressed to
another executor (row 4: `version` is not signed, so every version is checked alike), and a chain
read of the aggregator's key that fails while the executor's own membership read succeeds (row 10:
UNAVAILABLE, nothing claimed)."""

from __future__ import annotations

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain import ChainReaderError

from tests.support.aggregator import STRANGER
from tests.unit.executor.test_executor_submit_task import AGGREGATOR, CHAIN, payload, run, submit

pytestmark = pytest.mark.unit


def test_a_version_0_submission_for_another_executor_is_permission_denied_and_does_not_run():
    """A submission signed for another operator's executor, replayed here, runs nowhere here."""
    submission = AGGREGATOR.submission(payload(data="not ours"), executor_address=STRANGER.address, version=0)

    async def scenario(stub, backend, executor):
        refused = await submit(stub, submission)
        return refused, executor._store.task_status(submission.task_id), backend.tasks_started()

    refused, status, started = run(scenario)
    assert isinstance(refused, grpc.aio.AioRpcError), refused
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
    assert status is None
    assert started == []


class AggregatorReadFails:
    """CHAIN, but the AVS config read that finds the aggregator's operator set fails like an
    unreachable RPC (the executor's own membership read still succeeds), until `down` is False."""

    def __init__(self) -> None:
        self.down = True

    def __getattr__(self, name: str):
        return getattr(CHAIN, name)

    async def avs_config(self, avs, block):
        if self.down:
            raise ChainReaderError("TaskAVSRegistrar.getAvsConfig: cannot connect to the RPC endpoint")
        return await CHAIN.avs_config(avs, block)


def test_a_failed_read_of_the_aggregators_key_is_unavailable_and_the_task_runs_when_sent_again():
    chain = AggregatorReadFails()
    submission = AGGREGATOR.submission(payload(data="after the outage"))

    async def scenario(stub, backend, executor):
        unavailable = await submit(stub, submission)
        status = executor._store.task_status(submission.task_id)
        chain.down = False
        return unavailable, status, await submit(stub, submission), backend.tasks_started()

    unavailable, status, result, started = run(scenario, chain=chain)
    assert isinstance(unavailable, grpc.aio.AioRpcError), unavailable
    assert unavailable.code() is grpc.StatusCode.UNAVAILABLE
    assert "chain read failed" in unavailable.details()
    assert status is None
    assert isinstance(result, executor_pb2.TaskResult), result
    AGGREGATOR.verify(submission, result)
    assert started == [submission.task_id.encode()]
