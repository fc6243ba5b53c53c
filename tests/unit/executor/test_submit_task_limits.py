"""What bounds a SubmitTask before and after its checks: the size of a request (4 MiB, the Go
executor's gRPC default), the payloads waiting for their signature checks (`server/unverified.py`),
the size of an answer (a performer's largest output must be deliverable), and the work kept off the
event loop (hashing a large payload, pruning the store)."""

from __future__ import annotations

import asyncio
import json
import threading

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.performers.client import DEFAULT_MAX_MESSAGE_BYTES
from hourglass_executor.server import task_service, unverified
from hourglass_executor.store.memory import MemoryStore

from tests.support import local_backend
from tests.support.aggregator import AVS, TestAggregator
from tests.support.clock import ManualClock
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

CHAIN = static_chain((AVS,))
AGGREGATOR = TestAggregator(CHAIN)
MiB = 1024 * 1024


def echo(size: int) -> bytes:
    """An echo task whose payload is `size` bytes long."""
    head = b'{"op": "echo", "data": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


async def submit(stub, submission):
    try:
        return await stub.SubmitTask(submission, timeout=30)
    except grpc.aio.AioRpcError as error:
        return error.code()


def test_a_request_over_4_mib_is_refused_before_any_check_and_one_under_it_runs():
    async def scenario():
        async with running_executor(executor_config(), chain=CHAIN) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                under = await submit(stub, AGGREGATOR.submission(echo(4 * MiB - 1024)))
                over = await submit(stub, AGGREGATOR.submission(echo(4 * MiB + 1)))
                return under, over

    under, over = asyncio.run(scenario())
    assert isinstance(under, executor_pb2.TaskResult) and len(under.output) > 4 * MiB - 2048
    assert over == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_largest_output_a_performer_may_return_is_answered(monkeypatch):
    """The answer around it (signatures, addresses) must fit too: it was stored as done, then found
    too large to send, for every retry."""
    output = b"y" * (DEFAULT_MAX_MESSAGE_BYTES - 1024)

    async def large(worker, task_id: bytes, payload: bytes) -> bytes:
        return output

    monkeypatch.setattr(local_backend.RecordingWorker, "handle_task", large)
    store = MemoryStore()

    async def scenario():
        async with running_executor(executor_config(), chain=CHAIN, store=store) as executor:
            options = [("grpc.max_receive_message_length", 64 * MiB)]
            async with grpc.aio.insecure_channel(
                f"127.0.0.1:{executor.task_port}", options=options
            ) as channel:
                stub = executor_pb2_grpc.ExecutorServiceStub(channel)
                submission = AGGREGATOR.submission(echo(100))
                return submission, await submit(stub, submission), await submit(stub, submission)

    submission, first, again = asyncio.run(scenario())
    for answer in (first, again):
        assert isinstance(answer, executor_pb2.TaskResult), answer
        assert answer.output == output
    AGGREGATOR.verify(submission, first)


class HeldChain:
    """The static chain, whose operator-set reads wait until `release` is set."""

    def __init__(self) -> None:
        self.waiting = 0
        self.release = asyncio.Event()

    def __getattr__(self, name: str):
        return getattr(CHAIN, name)

    async def operator_set_member(self, *args):
        self.waiting += 1
        try:
            await self.release.wait()
        finally:
            self.waiting -= 1
        return await CHAIN.operator_set_member(*args)


def test_submissions_beyond_the_unverified_budget_are_refused_at_once_and_admitted_again_later(monkeypatch):
    monkeypatch.setattr(unverified, "UNVERIFIED_BYTES", 3 * unverified.MIN_COST)

    async def scenario():
        chain = HeldChain()
        async with running_executor(executor_config(), chain=chain) as executor:  # type: ignore[arg-type]
            channel, stub = task_stub(executor)
            async with channel:
                held = [asyncio.create_task(submit(stub, AGGREGATOR.submission(echo(100)))) for _ in range(3)]
                # Each submission reads two members (the executor's, the aggregator's).
                await wait_for_async(lambda: chain.waiting == 6, what="three submissions in their checks")
                refused = await submit(stub, AGGREGATOR.submission(echo(100)))
                chain.release.set()
                answered = await asyncio.gather(*held)
                admitted = await submit(stub, AGGREGATOR.submission(echo(100)))
                return refused, answered, admitted

    refused, answered, admitted = asyncio.run(scenario())
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert all(isinstance(answer, executor_pb2.TaskResult) for answer in answered), answered
    assert isinstance(admitted, executor_pb2.TaskResult), admitted


def test_the_budget_counts_whole_submissions_not_only_their_payloads(monkeypatch):
    """A 100-byte payload with a 1.5 MiB `signature` was counted as 4 KiB: sixteen thousand such
    calls fitted in the budget, each holding its megabytes."""
    monkeypatch.setattr(unverified, "UNVERIFIED_BYTES", 2 * MiB)

    def bloated() -> executor_pb2.TaskSubmission:
        submission = AGGREGATOR.submission(echo(100))
        submission.signature = b"\x01" * (3 * MiB // 2)
        return submission

    async def scenario():
        chain = HeldChain()
        async with running_executor(executor_config(), chain=chain) as executor:  # type: ignore[arg-type]
            channel, stub = task_stub(executor)
            async with channel:
                held = asyncio.create_task(submit(stub, bloated()))
                await wait_for_async(lambda: chain.waiting == 2, what="the first submission in its checks")
                second = await submit(stub, bloated())
                chain.release.set()
                return await held, second

    first, second = asyncio.run(scenario())
    assert second == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert first == grpc.StatusCode.UNAUTHENTICATED  # checked once admitted: not the aggregator's


def test_a_large_payload_is_hashed_off_the_event_loop_and_a_small_one_on_it(monkeypatch):
    threads: list[int] = []
    digest = task_service.aggregator_digest

    def recording(**fields):
        threads.append(threading.get_ident())
        return digest(**fields)

    monkeypatch.setattr(task_service, "aggregator_digest", recording)

    async def scenario():
        async with running_executor(executor_config(), chain=CHAIN) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                small = await submit(stub, AGGREGATOR.submission(echo(1024)))
                large = await submit(stub, AGGREGATOR.submission(echo(MiB)))
                return threading.get_ident(), small, large

    loop_thread, small, large = asyncio.run(scenario())
    assert isinstance(small, executor_pb2.TaskResult) and isinstance(large, executor_pb2.TaskResult)
    assert threads[0] == loop_thread and threads[1] != loop_thread


def test_the_store_is_pruned_off_the_event_loop(monkeypatch):
    clock = ManualClock()
    store = MemoryStore(retention=3600, clock=clock)
    store.claim_task("old", AVS)
    clock.now += 3601
    threads: list[int] = []
    prune = store.prune

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return prune(*args, **kwargs)

    monkeypatch.setattr(store, "prune", recording)

    async def scenario():
        async with running_executor(executor_config(), store=store):
            await wait_for_async(lambda: store.task_status("old") is None, what="the prune at start")
            return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert threads and loop_thread not in threads


def test_tasks_cut_by_the_callers_own_short_deadline_leave_the_performers_circuit_closed():
    """Only the executor's own `taskTimeout` says the performer is failing: five tasks of a caller
    that allows 0.3 s for 1 s of work opened the circuit, and every task of the AVS was refused."""

    async def scenario():
        async with running_executor(executor_config(), chain=CHAIN) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                cut = []
                for index in range(5):
                    payload = json.dumps({"op": "sleep", "ms": 1000, "data": str(index)}).encode()
                    try:
                        await stub.SubmitTask(AGGREGATOR.submission(payload), timeout=0.3)
                    except grpc.aio.AioRpcError as error:
                        cut.append(error.code())
                return cut, await submit(stub, AGGREGATOR.submission(echo(100)))

    cut, after = asyncio.run(scenario())
    assert cut == [grpc.StatusCode.DEADLINE_EXCEEDED] * 5
    assert isinstance(after, executor_pb2.TaskResult), after
