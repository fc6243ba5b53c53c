"""SubmitTask's at-most-once bookkeeping beyond the plain paths: a task refused after its claim
because the caller's deadline left no time gives the claim back, a task that ran but whose result
could not be signed keeps that answer for its retries, another task under the id of a running one
is refused at once, a retry sent while the task runs gets the running handler's own answer, a
handler cancelled twice still settles its claim, and `taskTimeout` bounds a task sent without a
deadline."""

from __future__ import annotations

import asyncio

import grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain import ChainReaderError
from hourglass_executor.server.task_service import DEADLINE_MARGIN, TaskService
from hourglass_executor.store.memory import MemoryStore

from tests.support.waiting import wait_for_async
from tests.unit.executor.test_executor_submit_task import (
    AGGREGATOR,
    CHAIN,
    Aborted,
    Context,
    HeldStore,
    answer,
    payload,
    run,
    submit,
    task_service,
)


class NoTimeLeft(Context):
    """A caller whose deadline leaves less than the margin the executor keeps to answer in time."""

    def time_remaining(self) -> float | None:
        return DEADLINE_MARGIN / 2


async def answer_in(service: TaskService, submission, context: Context):
    try:
        return await service.SubmitTask(submission, context)
    except Aborted as aborted:
        return aborted


def test_a_task_refused_for_lack_of_time_after_its_claim_gives_the_claim_back():
    store = MemoryStore()
    submission = AGGREGATOR.submission(payload(data="in time"))

    async def scenario(stub, backend, executor):
        service = task_service(executor, store)
        hurried = await answer_in(service, submission, NoTimeLeft())
        status = store.task_status(submission.task_id)
        return hurried, status, await answer(service, submission), backend.tasks_started()

    hurried, status, retried, started = run(scenario)
    assert isinstance(hurried, Aborted) and hurried.code is grpc.StatusCode.DEADLINE_EXCEEDED, hurried
    assert status is None, f"the claim was kept ({status})"
    assert isinstance(retried, executor_pb2.TaskResult), retried
    AGGREGATOR.verify(submission, retried)
    assert started == [submission.task_id.encode()]


class ResultHashFails:
    """CHAIN, but the message hash of a non-empty output fails like an RPC gone away after the run
    (the check before the claim hashes an empty output and succeeds)."""

    def __getattr__(self, name: str):
        return getattr(CHAIN, name)

    async def message_hash(self, task_id: str, output: bytes) -> bytes:
        if output:
            raise ChainReaderError("TaskMailbox.getMessageHash: cannot connect to the RPC endpoint")
        return await CHAIN.message_hash(task_id, output)


def test_a_task_whose_result_could_not_be_signed_answers_its_retries_the_same_and_never_reruns():
    submission = AGGREGATOR.submission(payload(data="unsigned"))

    async def scenario(stub, backend, executor):
        return await submit(stub, submission), await submit(stub, submission), backend.tasks_started()

    first, retried, started = run(scenario, chain=ResultHashFails())
    assert first.code() is grpc.StatusCode.INTERNAL
    assert first.details().startswith("cannot sign the result")
    assert retried.code() is grpc.StatusCode.INTERNAL
    assert retried.details() == f"task {submission.task_id} ran before: {first.details()}"
    assert started == [submission.task_id.encode()]


def test_another_task_under_the_id_of_a_running_task_is_refused_at_once():
    """It does not wait for, and never gets, the running task's result (signed for other fields)."""
    first = AGGREGATOR.submission(payload("sleep", data="first", ms=1500))
    other = AGGREGATOR.submission(payload(data="other"), task_id=first.task_id)

    async def scenario(stub, backend, executor):
        running = asyncio.ensure_future(submit(stub, first))
        await wait_for_async(lambda: backend.tasks_started() == [first.task_id.encode()], timeout=5)
        refused = await submit(stub, other)
        still_running = not running.done()
        return refused, still_running, await running, backend.tasks_started()

    refused, still_running, result, started = run(scenario)
    assert isinstance(refused, grpc.aio.AioRpcError), refused
    assert refused.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "already submitted with other signed fields" in refused.details()
    assert still_running
    assert isinstance(result, executor_pb2.TaskResult) and result.output == b"first"
    assert started == [first.task_id.encode()]


def test_a_retry_sent_while_the_task_runs_gets_its_failure_word_for_word():
    """Row 11b: the concurrent retry gets the running handler's own answer (not the stored one of
    row 11a, "ran before: ...")."""
    slow = AGGREGATOR.submission(payload("sleep", data="late", ms=3000))

    async def scenario(stub, backend, executor):
        running = asyncio.ensure_future(submit(stub, slow))
        await wait_for_async(lambda: backend.tasks_started() == [slow.task_id.encode()], timeout=5)
        retry = await submit(stub, slow)
        return await running, retry, backend.tasks_started()

    first, retry, started = run(scenario, taskTimeout="600ms")
    assert first.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert (retry.code(), retry.details()) == (first.code(), first.details())
    assert started == [slow.task_id.encode()]


def test_a_handler_cancelled_twice_while_its_claim_is_written_still_gives_the_claim_back(tmp_path):
    """A second cancellation (the server's stop after the caller went away) does not cut the
    settling of the claim short: the task never ran, so its claim is given back and it runs when
    sent again (not DATA_LOSS for the retention)."""
    store = HeldStore(tmp_path / "executor.sqlite3", hold="claim")
    submission = AGGREGATOR.submission(payload(data="cancelled twice"))

    async def scenario(stub, backend, executor):
        service = task_service(executor, store)
        handler = asyncio.ensure_future(answer(service, submission))
        assert await asyncio.to_thread(store.entered.wait, 5), "the held claim never started"
        handler.cancel()
        # The cancelled handler has begun settling its claim (which needs the held write) and
        # waits for it: it added the settling to the service's cleanups just before that wait.
        await wait_for_async(lambda: service._cleanups, timeout=5, what="the claim's settling to begin")
        handler.cancel()
        store.proceed.set()
        await asyncio.wait([handler])
        await service.settled()
        await store.release_task_async("0x" + "00" * 32)  # applied after every earlier write
        status = store.task_status(submission.task_id)
        return status, await answer(service, submission), backend.tasks_started()

    status, retried, started = run(scenario, store=store)
    assert status is None, f"the claim was kept ({status})"
    assert isinstance(retried, executor_pb2.TaskResult), retried
    AGGREGATOR.verify(submission, retried)
    assert started == [submission.task_id.encode()]


def test_the_task_timeout_bounds_a_task_whose_caller_set_no_deadline():
    slow = AGGREGATOR.submission(payload("sleep", data="too slow", ms=2000))

    async def scenario(stub, backend, executor):
        return await submit(stub, slow, timeout=None)

    outcome = run(scenario, taskTimeout="300ms")
    assert isinstance(outcome, grpc.aio.AioRpcError), outcome
    assert (outcome.code(), outcome.details()) == (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "the task did not finish in time on the performer",
    )
