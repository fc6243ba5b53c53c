"""ExecutorService.SubmitTask against an in-process executor (real gRPC on loopback, a LocalBackend
running echo performers): every status code of the contract, signatures that an aggregator
accepts, task ids claimed only by requests that pass every check, and each task run once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain import ChainReaderError
from hourglass_executor.performers.pool import PoolSettings
from hourglass_executor.server.task_service import TaskService
from hourglass_executor.signing import BN254, ECDSA
from hourglass_executor.signing.layouts import aggregator_digest
from hourglass_executor.store import Outcome, Store
from hourglass_executor.store.group_commit import Write
from hourglass_executor.store.memory import MemoryStore
from hourglass_executor.store.sqlite import SqliteStore, _complete

from tests.support.aggregator import (
    AGGREGATOR_BN254_KEY,
    AVS,
    BN254_SET,
    EXECUTOR,
    FOREIGN_SET,
    STRANGER,
    STRANGER_BN254_KEY,
    TestAggregator,
    bn254_signer,
    executor_signers,
    with_fields,
)
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub
from tests.support.local_backend import FAIL, LocalBackend
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

OTHER_AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # in the chain file, not served here
CHAIN = static_chain((AVS, OTHER_AVS))
AGGREGATOR = TestAggregator(CHAIN)


def payload(op: str = "echo", **fields: object) -> bytes:
    return json.dumps({"op": op, **fields}).encode()


async def submit(stub, submission, timeout: float = 5.0) -> executor_pb2.TaskResult | grpc.aio.AioRpcError:
    try:
        return await stub.SubmitTask(submission, timeout=timeout)
    except grpc.aio.AioRpcError as error:
        return error


def fingerprint_of(submission: executor_pb2.TaskSubmission) -> bytes:
    """What the executor stores to recognise a retry: the digest the aggregator signed."""
    return aggregator_digest(
        submission.task_id,
        submission.avs_address,
        submission.executor_address,
        submission.operator_set_id,
        submission.reference_timestamp,
        submission.task_block_number,
        submission.payload,
    )


def run(
    scenario: Callable,
    *,
    backend: LocalBackend | None = None,
    chain=None,
    signers=None,
    store: Store | None = None,
    **config: object,
):
    """Runs `scenario(stub, backend, executor)` against a started executor."""
    backend = backend or LocalBackend()

    async def main():
        async with running_executor(
            executor_config(**config),
            backend,
            chain=chain or CHAIN,
            signers=signers or executor_signers(),
            store=store,
        ) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                return await scenario(stub, backend, executor)

    return asyncio.run(main())


def test_a_task_runs_once_and_both_signatures_verify():
    submission = AGGREGATOR.submission(payload("keccak256", data="abc"))

    async def scenario(stub, backend, executor):
        return await submit(stub, submission), backend.tasks_started()

    result, started = run(scenario)
    assert isinstance(result, executor_pb2.TaskResult), result
    AGGREGATOR.verify(submission, result)  # raises unless an aggregator would accept it
    assert result.output.hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert result.avs_address == AVS.lower() and result.version == 1
    assert result.operator_address == EXECUTOR.address
    assert started == [submission.task_id.encode()]


def test_version_zero_and_upper_case_addresses_are_accepted():
    submissions = [
        AGGREGATOR.submission(payload(data="v0"), version=0),
        AGGREGATOR.submission(payload(data="upper"), avs=AVS.upper().replace("0X", "0x")),
        AGGREGATOR.submission(payload(data="lower"), executor_address=EXECUTOR.address.lower()),
    ]

    async def scenario(stub, backend, executor):
        return [await submit(stub, s) for s in submissions]

    results = run(scenario)
    for submission, result in zip(submissions, results, strict=True):
        assert isinstance(result, executor_pb2.TaskResult), result
        AGGREGATOR.verify(submission, result)
    assert [r.output for r in results] == [b"v0", b"upper", b"lower"]


GOOD = AGGREGATOR.submission(payload(data="x"))

# (name, request, code, message fragment). Each is refused before the claim: afterwards the same
# task id still runs (checked by the test).
REFUSED = [
    ("version 2", lambda: with_fields(GOOD, version=2), "INVALID_ARGUMENT", "version must be 0 or 1"),
    ("task id too short", lambda: with_fields(GOOD, task_id="0x1234"), "INVALID_ARGUMENT", "task_id must be"),
    (
        "task id without 0x",
        lambda: with_fields(GOOD, task_id="ab" * 33),
        "INVALID_ARGUMENT",
        "task_id must be",
    ),
    ("task id not hex", lambda: with_fields(GOOD, task_id="0x" + "zz" * 32), "INVALID_ARGUMENT", "task_id"),
    (
        "avs malformed",
        lambda: with_fields(GOOD, avs_address="0x12"),
        "INVALID_ARGUMENT",
        "avs_address must be",
    ),
    (
        "executor malformed",
        lambda: with_fields(GOOD, executor_address=""),
        "INVALID_ARGUMENT",
        "executor_address",
    ),
    (
        "aggregator malformed",
        lambda: with_fields(GOOD, aggregator_address="aggregator"),
        "INVALID_ARGUMENT",
        "aggregator_address must be",
    ),
    (
        "another executor",
        lambda: AGGREGATOR.submission(payload(), task_id=GOOD.task_id, executor_address=STRANGER.address),
        "PERMISSION_DENIED",
        "is not this executor's operator address",
    ),
    (
        "AVS not served",
        lambda: AGGREGATOR.submission(payload(), task_id=GOOD.task_id, avs=OTHER_AVS),
        "NOT_FOUND",
        "is not served by this executor",
    ),
    (
        "unknown operator set",
        lambda: AGGREGATOR.submission(payload(), task_id=GOOD.task_id, operator_set_id=7),
        "NOT_FOUND",
        "has no operator set 7",
    ),
    (
        "not a member",
        lambda: AGGREGATOR.submission(payload(), task_id=GOOD.task_id, operator_set_id=FOREIGN_SET),
        "FAILED_PRECONDITION",
        "is not registered in operator set 2",
    ),
    (
        "signed by a stranger",
        lambda: AGGREGATOR.submission(payload(), task_id=GOOD.task_id, signer=STRANGER),
        "UNAUTHENTICATED",
        "is not signed by the ECDSA key of aggregator",
    ),
    (
        "payload changed",
        lambda: with_fields(GOOD, payload=payload(data="y")),
        "UNAUTHENTICATED",
        "not signed by",
    ),
    ("block changed", lambda: with_fields(GOOD, task_block_number=1), "UNAUTHENTICATED", "not signed by"),
    (
        "signature truncated",
        lambda: with_fields(GOOD, signature=GOOD.signature[:64]),
        "UNAUTHENTICATED",
        "65 bytes",
    ),
    ("signature empty", lambda: with_fields(GOOD, signature=b""), "UNAUTHENTICATED", "malformed"),
    (
        "a non-member aggregator named",
        lambda: with_fields(GOOD, aggregator_address=STRANGER.address),
        "UNAUTHENTICATED",
        "is not registered in aggregator operator set 3",
    ),
    (
        "aggregator empty",
        lambda: with_fields(GOOD, aggregator_address=""),
        "INVALID_ARGUMENT",
        "aggregator_address must be",
    ),
]


@pytest.mark.parametrize(
    ("request_", "code", "fragment"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_requests_get_their_code_and_do_not_burn_the_task_id(request_, code, fragment):
    async def scenario(stub, backend, executor):
        refused = await submit(stub, request_())
        return refused, backend.tasks_started(), await submit(stub, GOOD)

    refused, started, retried = run(scenario)
    assert isinstance(refused, grpc.aio.AioRpcError), refused
    assert refused.code().name == code
    assert fragment in refused.details()
    assert started == []
    assert isinstance(retried, executor_pb2.TaskResult), retried
    AGGREGATOR.verify(GOOD, retried)


def test_a_bn254_operator_set_task_is_signed_with_the_bn254_key():
    submission = AGGREGATOR.submission(payload(data="bn254"), operator_set_id=BN254_SET)

    async def scenario(stub, backend, executor):
        return await submit(stub, submission)

    result = run(scenario)
    assert isinstance(result, executor_pb2.TaskResult), result
    assert len(result.result_signature) == 64 and len(result.auth_signature) == 64
    AGGREGATOR.verify(submission, result)  # BN254: verify_solidity / verify with the executor's G2 key


def test_a_bn254_aggregator_signature_is_verified_with_its_registered_g2_key():
    chain = static_chain((AVS,), aggregator_curve="BN254")
    aggregator = TestAggregator(chain, signer=bn254_signer(AGGREGATOR_BN254_KEY))
    good = aggregator.submission(payload(data="from a BN254 aggregator"))
    forged = aggregator.submission(payload(), signer=bn254_signer(STRANGER_BN254_KEY))
    changed = with_fields(good, payload=payload(data="changed"), task_id=forged.task_id)
    garbage = with_fields(good, signature=b"\x01" * 64, task_id=forged.task_id)
    ecdsa_shaped = with_fields(good, signature=good.signature + b"\x1b", task_id=forged.task_id)

    async def scenario(stub, backend, executor):
        return [await submit(stub, s) for s in (forged, changed, garbage, ecdsa_shaped, good)]

    *refused, result = run(scenario, chain=chain)
    assert [r.code().name for r in refused] == ["UNAUTHENTICATED"] * 4
    assert "is not signed by the BN254 key of aggregator" in refused[0].details()
    assert "is not signed by the BN254 key" in refused[1].details()
    assert "malformed" in refused[2].details()
    assert "64 bytes" in refused[3].details()
    assert isinstance(result, executor_pb2.TaskResult), result
    aggregator.verify(good, result)


def test_an_operator_set_whose_curve_has_no_signing_key_is_a_failed_precondition():
    submission = AGGREGATOR.submission(payload(), operator_set_id=BN254_SET)

    async def scenario(stub, backend, executor):
        return await submit(stub, submission), backend.tasks_started()

    refused, started = run(scenario, signers={ECDSA: EXECUTOR})
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "has no BN254 signing key (operator.signingKeys.bls)" in refused.details()
    assert started == []


def test_a_signing_key_other_than_the_registered_one_is_a_failed_precondition():
    ecdsa_task = AGGREGATOR.submission(payload())
    bn254_task = AGGREGATOR.submission(payload(), operator_set_id=BN254_SET)

    async def scenario(stub, backend, executor):
        return [await submit(stub, s) for s in (ecdsa_task, bn254_task)], backend.tasks_started()

    signers = {ECDSA: STRANGER, BN254: bn254_signer(STRANGER_BN254_KEY)}
    (ecdsa_refused, bn254_refused), started = run(scenario, signers=signers)
    assert ecdsa_refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (
        f"ECDSA signing key {STRANGER.address.lower()} is not the key registered" in ecdsa_refused.details()
    )
    assert bn254_refused.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "BN254 signing key is not the key registered" in bn254_refused.details()
    assert started == []


class UnreachableChain:
    """A chain reader whose operator-set reads fail like an unreachable RPC, until `recover()`."""

    def __init__(self, chain) -> None:
        self._chain = chain
        self.down = True

    async def avs_config(self, avs, block):
        if self.down:
            raise ChainReaderError("AllocationManager.getAVSRegistrar: cannot connect to the RPC endpoint")
        return await self._chain.avs_config(avs, block)

    async def operator_set_member(self, avs, operator_set_id, operator, block):
        if self.down:
            raise ChainReaderError("KeyRegistrar.getOperatorSetCurveType: cannot connect to the RPC endpoint")
        return await self._chain.operator_set_member(avs, operator_set_id, operator, block)

    async def message_hash(self, task_id, output):
        return await self._chain.message_hash(task_id, output)

    async def certificate_digest(self, curve, reference_timestamp, message_hash, block=0):
        return await self._chain.certificate_digest(curve, reference_timestamp, message_hash, block)

    async def close(self):
        return None


def test_an_unreachable_chain_is_unavailable_and_the_task_runs_once_when_sent_again():
    chain = UnreachableChain(CHAIN)
    submission = AGGREGATOR.submission(payload(data="after the outage"))

    async def scenario(stub, backend, executor):
        unavailable = await submit(stub, submission)
        started_during = backend.tasks_started()
        chain.down = False
        return unavailable, started_during, await submit(stub, submission), backend.tasks_started()

    unavailable, started_during, result, started = run(scenario, chain=chain)
    assert unavailable.code() is grpc.StatusCode.UNAVAILABLE
    assert "chain read failed" in unavailable.details() and "cannot connect" in unavailable.details()
    assert started_during == []
    assert isinstance(result, executor_pb2.TaskResult) and result.output == b"after the outage"
    assert started == [submission.task_id.encode()]


def test_a_task_id_runs_once_and_retries_get_the_same_signed_result():
    """Concurrent retries wait for the running task; later ones get the stored result, byte for byte
    (also with `version` 0, which is not signed); a retry whose deadline passes first is told the
    task still runs."""
    first = AGGREGATOR.submission(payload("sleep", data="once", ms=300))

    async def scenario(stub, backend, executor):
        running = asyncio.ensure_future(submit(stub, first))
        await wait_for_async(lambda: backend.tasks_started() == [first.task_id.encode()], timeout=5)
        impatient = await submit(stub, first, timeout=0.1)
        outcomes = [await running, *await asyncio.gather(*(submit(stub, first) for _ in range(4)))]
        again = [await submit(stub, first), await submit(stub, with_fields(first, version=0))]
        return outcomes, again, impatient, backend.tasks_started()

    outcomes, again, impatient, started = run(scenario)
    assert all(isinstance(o, executor_pb2.TaskResult) for o in [*outcomes, *again]), [*outcomes, *again]
    AGGREGATOR.verify(first, outcomes[0])
    assert outcomes[0].output == b"once"
    assert {o.SerializeToString() for o in [*outcomes, *again]} == {outcomes[0].SerializeToString()}
    assert isinstance(impatient, grpc.aio.AioRpcError)
    assert impatient.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert started == [first.task_id.encode()]


@pytest.mark.parametrize(
    "changed",
    [
        {"payload": payload(data="other")},
        {"reference_timestamp": 1_700_000_000},
        {"task_block_number": 99},
        {"operator_set_id": BN254_SET},
    ],
    ids=lambda changed: next(iter(changed)),
)
def test_another_task_under_a_seen_id_is_already_exists_and_does_not_run(changed):
    first = AGGREGATOR.submission(payload(data="first"))
    other = AGGREGATOR.submission(
        changed.pop("payload", payload(data="first")), task_id=first.task_id, **changed
    )

    async def scenario(stub, backend, executor):
        return await submit(stub, first), await submit(stub, other), backend.tasks_started()

    result, refused, started = run(scenario)
    assert isinstance(result, executor_pb2.TaskResult)
    assert refused.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "already submitted with other signed fields" in refused.details()
    assert started == [first.task_id.encode()]


def test_a_task_whose_caller_went_away_while_it_ran_is_data_loss_on_retry():
    slow = AGGREGATOR.submission(payload("sleep", data="gone", ms=400))

    async def scenario(stub, backend, executor):
        call = stub.SubmitTask(slow, timeout=5)
        await wait_for_async(lambda: backend.tasks_started() == [slow.task_id.encode()], timeout=5)
        call.cancel()
        await wait_for_async(lambda: executor._store.task_status(slow.task_id) == "interrupted", timeout=5)
        return await submit(stub, slow), await submit(stub, slow), backend.tasks_started()

    first, second, started = run(scenario)
    for retry in (first, second):
        assert retry.code() is grpc.StatusCode.DATA_LOSS
        assert "was interrupted before it finished" in retry.details()
        assert "will not run again" in retry.details()
    assert started == [slow.task_id.encode()]


def test_performer_outcomes_map_to_invalid_argument_internal_and_deadline_exceeded():
    rejected = AGGREGATOR.submission(b"not json")
    failed = AGGREGATOR.submission(FAIL)
    slow = AGGREGATOR.submission(payload("sleep", ms=2000))

    async def scenario(stub, backend, executor):
        outcomes = [await submit(stub, s) for s in (rejected, failed, slow)]
        # Failed tasks keep their id: they may have run.
        outcomes.append(await submit(stub, failed))
        return outcomes, executor.pool

    (rejected_error, failed_error, slow_error, again), _ = run(scenario, taskTimeout="300ms")
    assert (rejected_error.code(), rejected_error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the performer rejected the task: payload is not JSON: Expecting value: line 1 column 1 (char 0)",
    )
    assert failed_error.code() is grpc.StatusCode.INTERNAL
    assert failed_error.details() == "the performer failed: INTERNAL: the performer broke"
    assert slow_error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert slow_error.details() == "the task did not finish in time on the performer"
    assert again.code() is grpc.StatusCode.INTERNAL  # a retry gets the first answer again
    assert again.details() == f"task {failed.task_id} ran before: {failed_error.details()}"


def test_the_callers_shorter_deadline_bounds_the_task():
    slow = AGGREGATOR.submission(payload("sleep", ms=3000))

    async def scenario(stub, backend, executor):
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await submit(stub, slow, timeout=0.4)
        took = loop.time() - started

        def settled() -> str | None:  # the executor records the outcome after the caller saw it
            status = executor._store.task_status(slow.task_id)
            return status if status != "claimed" else None

        return outcome, took, await wait_for_async(settled, timeout=5, what="the task's outcome to be stored")

    outcome, took, status = run(scenario)
    assert outcome.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert took < 1.5
    assert status == "failed"


def test_a_caller_deadline_that_cancels_the_task_before_the_executors_own_timeout_is_still_out_of_time(
    monkeypatch: pytest.MonkeyPatch,
):
    # As on a busy event loop: the executor's own timeout (5 ms before the caller's deadline) has not
    # fired when gRPC cancels the handler for the caller's deadline. Here it comes a second late.
    monkeypatch.setattr(TaskService, "_timeout", lambda self, context: context.time_remaining() + 1)
    slow = AGGREGATOR.submission(payload("sleep", ms=3000))

    async def scenario(stub, backend, executor):
        outcome = await submit(stub, slow, timeout=0.4)

        def settled() -> str | None:
            status = executor._store.task_status(slow.task_id)
            return status if status != "claimed" else None

        status = await wait_for_async(settled, timeout=5, what="the task's outcome to be stored")
        return outcome, status, await submit(stub, slow)

    outcome, status, retry = run(scenario)
    assert outcome.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert status == "failed"  # row 14, not "interrupted" (row 11c: DATA_LOSS on every retry)
    assert retry.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert retry.details() == (
        f"task {slow.task_id} ran before: the task did not finish in time on the performer"
    )


def test_no_performer_is_unavailable_and_the_task_id_can_be_sent_again():
    submission = AGGREGATOR.submission(payload(data="later"))

    async def scenario(stub, backend, executor):
        current = executor.pool.current(AVS)
        await executor.pool.remove(current.performer_id)
        unavailable = await submit(stub, submission)
        await executor.pool.deploy(executor.pool.configured_spec(AVS))
        return unavailable, await submit(stub, submission)

    unavailable, result = run(scenario)
    assert unavailable.code() is grpc.StatusCode.UNAVAILABLE
    assert unavailable.details() == f"no performer is serving AVS {AVS.lower()}"
    assert isinstance(result, executor_pb2.TaskResult) and result.output == b"later"


def test_an_open_circuit_is_unavailable_and_invalid_input_does_not_open_it():
    settings = PoolSettings(breaker_failures=3, breaker_reset=60)

    async def scenario(stub, backend, executor):
        rejected = [await submit(stub, AGGREGATOR.submission(b"{}")) for _ in range(4)]
        still_closed = await submit(stub, AGGREGATOR.submission(payload(data="fine")))
        failed = [await submit(stub, AGGREGATOR.submission(FAIL)) for _ in range(3)]
        blocked = AGGREGATOR.submission(payload(data="blocked"))
        open_circuit = await submit(stub, blocked)
        return (
            rejected,
            still_closed,
            failed,
            open_circuit,
            backend.tasks_started().count(blocked.task_id.encode()),
        )

    async def main():
        backend = LocalBackend()
        async with running_executor(executor_config(), backend, chain=CHAIN, settings=settings) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                return await scenario(stub, backend, executor)

    rejected, still_closed, failed, open_circuit, blocked_runs = asyncio.run(main())
    assert {r.code() for r in rejected} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert isinstance(still_closed, executor_pb2.TaskResult)
    assert {f.code() for f in failed} == {grpc.StatusCode.INTERNAL}
    assert open_circuit.code() is grpc.StatusCode.UNAVAILABLE
    assert "circuit open" in open_circuit.details()
    assert blocked_runs == 0


def test_payloads_outputs_and_performer_messages_stay_out_of_the_log(caplog):
    marker = "SECRET-PAYLOAD-MARKER"
    echoed = AGGREGATOR.submission(payload(data=marker))
    rejected = AGGREGATOR.submission(json.dumps({"op": "echo", "data": 1, "note": marker}).encode())

    async def scenario(stub, backend, executor):
        return await submit(stub, echoed), await submit(stub, rejected)

    with caplog.at_level("DEBUG"):
        result, refusal = run(scenario)
    assert result.output == marker.encode()
    assert refusal.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert marker not in caplog.text
    refused = [r for r in caplog.records if r.getMessage() == "task refused"]
    assert [(r.code, r.reason) for r in refused] == [
        ("INVALID_ARGUMENT", "the performer rejected the task (INVALID_ARGUMENT)")
    ]


def test_after_a_restart_the_sqlite_store_answers_retries_without_running_them_again(tmp_path):
    """A finished task's signed result survives a restart of the executor (a new process would open
    the same file); a claim left "claimed" by an executor that died while the task ran is answered
    DATA_LOSS. (tests/cluster/executor: the same with a SIGKILLed executor process.)"""
    done = AGGREGATOR.submission(payload(data="kept"))
    died = AGGREGATOR.submission(payload(data="lost"))
    path = tmp_path / "executor.sqlite3"

    async def first_run(stub, backend, executor):
        return await submit(stub, done)

    result = run(first_run, store=SqliteStore(path))
    crashed = SqliteStore(path)  # what a SIGKILL leaves: the claim of a task that was running
    crashed.claim_task(died.task_id, AVS.lower(), fingerprint_of(died))
    crashed.close()

    async def after_restart(stub, backend, executor):
        return [await submit(stub, s) for s in (done, died, done)], backend.tasks_started()

    (again, lost, once_more), started = run(after_restart, store=SqliteStore(path))
    assert isinstance(result, executor_pb2.TaskResult)
    assert again.SerializeToString() == once_more.SerializeToString() == result.SerializeToString()
    assert lost.code() is grpc.StatusCode.DATA_LOSS
    assert started == []  # nothing ran again


def test_with_the_memory_store_a_restart_forgets_task_ids():
    """Documented: at most once holds only while the process lives with `storage.type: memory`."""
    submission = AGGREGATOR.submission(payload(data="twice"))

    async def scenario(stub, backend, executor):
        return await submit(stub, submission), backend.tasks_started()

    first, _ = run(scenario)
    second, started = run(scenario)
    assert first.output == second.output == b"twice"
    assert started == [submission.task_id.encode()]  # the second executor ran it again


def test_a_task_id_in_another_case_is_the_same_task_and_runs_once():
    """`0xAB…` and `0xab…` are the same 32 bytes, so the aggregator's signature holds for both: a
    resubmission in another case (while the task runs, or after) gets its answer, echoing the
    task id as it was sent, and never runs the task again."""
    first = AGGREGATOR.submission(payload("sleep", data="once", ms=200))
    upper = with_fields(first, task_id="0x" + first.task_id[2:].upper())
    mixed = with_fields(first, task_id="0x" + first.task_id[2:34].upper() + first.task_id[34:])

    async def scenario(stub, backend, executor):
        running = asyncio.ensure_future(submit(stub, first))
        await wait_for_async(lambda: backend.tasks_started() == [first.task_id.encode()], timeout=5)
        concurrent = await submit(stub, upper)
        return [await running, concurrent, await submit(stub, mixed)], backend.tasks_started()

    results, started = run(scenario)
    assert started == [first.task_id.encode()], f"ran {len(started)} times"
    for submission, result in zip((first, upper, mixed), results, strict=True):
        assert isinstance(result, executor_pb2.TaskResult), result
        AGGREGATOR.verify(submission, result)  # its task_id is the one sent
        assert result.output == b"once"


class Aborted(Exception):
    """What `Context.abort` raises: the handler's answer when it is not a TaskResult."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


class Context:
    """The part of a grpc.aio servicer context SubmitTask uses (no deadline), for handlers that a
    test runs, and cancels, itself."""

    def time_remaining(self) -> float | None:
        return None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


def task_service(executor, store: Store, chain=None) -> TaskService:
    """A TaskService beside the executor's, on its pool and `store`."""
    return TaskService(
        operator_address=EXECUTOR.address,
        chain=chain or CHAIN,
        signers=executor_signers(),
        store=store,
        pool=executor.pool,
        task_timeout=5.0,
    )


async def answer(service: TaskService, submission) -> executor_pb2.TaskResult | Aborted:
    try:
        return await service.SubmitTask(submission, Context())
    except Aborted as aborted:
        return aborted


class HeldStore(SqliteStore):
    """A SQLite store whose write named `hold` ("claim" or an outcome) stops on the writer thread
    until the test lets it go (a slow fsync): the write is made, whatever happens to its waiter."""

    def __init__(self, path: Path, hold: str) -> None:
        super().__init__(path)
        self.hold = hold
        self.entered = threading.Event()
        self.proceed = threading.Event()

    async def claim_task_async(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        return await self._held("claim", self._claim(task_id, avs, fingerprint))

    async def complete_task_async(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        return await self._held(status, _complete(task_id, status, result, error))

    async def _held(self, name: str, write: Write[bool]) -> bool:
        if name != self.hold:
            return await self._write_async(write)

        def held(db) -> bool:
            self.entered.set()
            self.proceed.wait(10)
            return write(db)

        return await self._write_async(held)


def cancel_while_held(store: HeldStore, submission, *, duplicate: bool = False):
    """Runs `submission` on a TaskService of its own and cancels the handler (the caller went away)
    while the held write is on its way to disk; then lets the write go, and sends the task again.
    With `duplicate`, a concurrent retry is sent while the write is held."""

    async def scenario(stub, backend, executor):
        service = task_service(executor, store)
        handler = asyncio.ensure_future(answer(service, submission))
        assert await asyncio.to_thread(store.entered.wait, 5), "the held write never started"
        waiting = asyncio.ensure_future(answer(service, submission)) if duplicate else None
        handler.cancel()
        store.proceed.set()
        await asyncio.wait([handler])
        concurrent = await waiting if waiting is not None else None
        status = store.task_status(submission.task_id)
        return (
            handler.cancelled(),
            status,
            concurrent,
            await answer(service, submission),
            backend.tasks_started(),
        )

    return run(scenario, store=store)


def test_a_handler_cancelled_while_its_claim_is_written_gives_the_claim_back(tmp_path):
    """The claim is written although its waiter went away; the task never reached a performer, so the
    claim is given back (row 12) and the task runs when sent again (not DATA_LOSS for 24 h)."""
    store = HeldStore(tmp_path / "executor.sqlite3", hold="claim")
    submission = AGGREGATOR.submission(payload(data="after the cancel"))
    cancelled, status, _, retried, started = cancel_while_held(store, submission)
    assert cancelled
    assert status is None, f"the claim was kept ({status})"
    assert isinstance(retried, executor_pb2.TaskResult), retried
    AGGREGATOR.verify(submission, retried)
    assert started == [submission.task_id.encode()]


def test_a_handler_cancelled_while_its_result_is_written_keeps_the_result(tmp_path):
    """The result was written although its waiter went away: the "interrupted" queued after it does
    not replace it, and a concurrent retry and a later one both get the result."""
    store = HeldStore(tmp_path / "executor.sqlite3", hold="done")
    submission = AGGREGATOR.submission(payload(data="finished"))
    cancelled, status, concurrent, retried, started = cancel_while_held(store, submission, duplicate=True)
    assert cancelled
    assert status == "done"
    for result in (concurrent, retried):
        assert isinstance(result, executor_pb2.TaskResult), result
        AGGREGATOR.verify(submission, result)
        assert result.output == b"finished"
    assert started == [submission.task_id.encode()]


class GatedClaims(MemoryStore):
    """A memory store whose n-th `claim_task_async` is made at once but answers only when the test
    opens `gates[n]` (a claim committed whose waiter has not resumed yet); `reached[n]` is set then."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.gates = [asyncio.Event() for _ in range(calls)]
        self.reached = [asyncio.Event() for _ in range(calls)]
        self._calls = 0

    async def claim_task_async(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        claimed = self.claim_task(task_id, avs, fingerprint)
        call, self._calls = self._calls, self._calls + 1
        if call < len(self.gates):
            self.reached[call].set()
            await self.gates[call].wait()
        return claimed


class ReportingChain:
    """CHAIN, telling the test (`checked`) when a submission's last chain read before its claim ends."""

    def __init__(self) -> None:
        self.checked: asyncio.Event | None = None

    def __getattr__(self, name: str):
        return getattr(CHAIN, name)

    async def certificate_digest(self, curve, reference_timestamp, message_hash, block=0):
        digest = await CHAIN.certificate_digest(curve, reference_timestamp, message_hash, block)
        if self.checked is not None:
            self.checked.set()
        return digest


def test_a_duplicate_of_a_task_whose_claim_is_given_back_meanwhile_gets_the_first_answer():
    """No performer: the first submission is UNAVAILABLE and gives its claim back (row 12). A
    duplicate that arrived while it was claimed gets that answer too (row 11b), even when the
    claim is gone by the time the duplicate would read the store."""
    store = GatedClaims(calls=2)
    chain = ReportingChain()
    submission = AGGREGATOR.submission(payload(data="x"))

    async def scenario(stub, backend, executor):
        await executor.pool.remove(executor.pool.current(AVS).performer_id)
        service = task_service(executor, store, chain)
        first = asyncio.ensure_future(answer(service, submission))
        await store.reached[0].wait()  # claimed; the first handler resumes when gates[0] opens
        chain.checked = asyncio.Event()
        duplicate = asyncio.ensure_future(answer(service, submission))
        # Set by the duplicate itself: when this test resumes, the duplicate went as far as it can
        # (waiting for the first handler, or for its own claim's answer).
        await chain.checked.wait()
        store.gates[0].set()
        first_answer = await first
        store.gates[1].set()
        return first_answer, await duplicate

    first, duplicate = run(scenario)
    assert isinstance(first, Aborted) and first.code is grpc.StatusCode.UNAVAILABLE, first
    assert isinstance(duplicate, Aborted) and duplicate.code is grpc.StatusCode.UNAVAILABLE, duplicate
    assert str(duplicate) == str(first)


def test_a_claim_refused_for_a_claim_given_back_before_it_is_read_is_made_again():
    """Another claim of the id (not this process's handler) is given back between this handler's
    refused claim and its read of the record: the id is free, so the handler claims it again and
    runs the task (not ALREADY_EXISTS)."""
    store = GatedClaims(calls=1)
    submission = AGGREGATOR.submission(payload(data="claimed again"))

    async def scenario(stub, backend, executor):
        service = task_service(executor, store)
        store.claim_task(submission.task_id, AVS.lower(), fingerprint_of(submission))
        handler = asyncio.ensure_future(answer(service, submission))
        await store.reached[0].wait()  # refused: the other claim holds the id
        store.release_task(submission.task_id)
        store.gates[0].set()
        return await handler, backend.tasks_started()

    result, started = run(scenario)
    assert isinstance(result, executor_pb2.TaskResult), result
    AGGREGATOR.verify(submission, result)
    assert started == [submission.task_id.encode()]


def test_a_task_cut_by_closing_its_performers_channel_is_internal_at_once():
    """The pool closes a performer's client under a running task (a replaced or removed performer
    after its drain timeout, a restarted Docker container): the task may have run, so it is
    INTERNAL (row 15), answered at once (not at the caller's deadline), and the breaker counts it."""
    slow = AGGREGATOR.submission(payload("sleep", data="slow", ms=4000))

    async def scenario(stub, backend, executor):
        call = asyncio.ensure_future(submit(stub, slow, timeout=5))
        await wait_for_async(lambda: backend.tasks_started() == [slow.task_id.encode()], timeout=5)
        live = executor.pool.current(AVS)
        await live.client.close()
        first = await call
        return first, live.breaker.consecutive_failures, await submit(stub, slow)

    first, failures, again = run(scenario)
    assert isinstance(first, grpc.aio.AioRpcError), first
    assert (first.code(), first.details()) == (
        grpc.StatusCode.INTERNAL,
        "the performer failed: CANCELLED: the channel to the performer was closed during the call "
        "(the performer was replaced or removed)",
    )
    assert failures == 1
    assert again.code() is grpc.StatusCode.INTERNAL
    assert again.details() == f"task {slow.task_id} ran before: {first.details()}"
