"""ExecutorService.SubmitTask: check a signed task from the aggregator against the chain, run it once
on the AVS's performer, sign the result (upstream contract §4, §5).

Status codes (a stable contract: aggregators act on them). Checks run in this order, cheapest
first, and everything before the claim leaves no trace, so a refused request never burns a task id:

| # | condition                                                                  | code                |
|---|----------------------------------------------------------------------------|---------------------|
| 1 | `version` is not 0 or 1 (0: senders that predate the field; same layout)    | INVALID_ARGUMENT    |
| 2 | `task_id` is not "0x" + 64 hex digits (either case: one task)              | INVALID_ARGUMENT    |
| 3 | `avs_address`, `executor_address` or `aggregator_address` is not "0x" + 40  | INVALID_ARGUMENT    |
|   | hex digits (an empty `aggregator_address` too: the Go aggregator sends it) |                     |
| 4 | `executor_address` is not this executor's operator address (any case)      | PERMISSION_DENIED   |
| 0 | the request is larger than 4 MiB (gRPC refuses it before any check)       | RESOURCE_EXHAUSTED  |
| 5 | the AVS is not served here (not in `avsPerformers`)                        | NOT_FOUND           |
|5a | 64 MiB of submissions (each counted as 4 KiB at least) already wait for    | RESOURCE_EXHAUSTED  |
|   | their checks, rows 6-10 (`server/unverified.py`): send it again            |                     |
| 6 | the AVS has no operator set `operator_set_id` at `task_block_number` (no    | NOT_FOUND           |
|   | curve type in the KeyRegistrar, or the AVS has no task registrar)          |                     |
| 7 | this executor's operator has no key in that operator set                   | FAILED_PRECONDITION |
| 8 | this executor has no signing key for the operator set's curve, or its key  | FAILED_PRECONDITION |
|   | is not the one registered for it in the set (results would not verify)     |                     |
| 9 | `aggregator_address` has no key in the AVS's aggregator operator set; or    | UNAUTHENTICATED     |
|   | the signature is malformed, not by that key, or a signed field was changed |                     |
|10 | a chain read failed (RPC unreachable, timed out, a revert, an undecodable   | UNAVAILABLE         |
|   | answer): nothing was claimed, send it again                                |                     |
|11 | the task id was seen before (within the store's retention) for another task | ALREADY_EXISTS      |
|   | (its fingerprint, below, differs), or claimed by an executor that kept none |                     |
|11a| the same task was submitted before and finished: the same answer again —   | OK, or the first    |
|   | the same signed TaskResult (byte for byte, its `task_id` as this request    | answer's code       |
|   | spells it), or the same error code with the message prefixed "task <id>    |                     |
|   | ran before: "                                                              |                     |
|11b| the same task is running now (a concurrent retry): waits for it and gets    | as the first        |
|   | its answer (the caller's deadline passing first: DEADLINE_EXCEEDED)        |                     |
|11c| the same task was interrupted: the executor crashed or stopped, or the      | DATA_LOSS           |
|   | caller went away, while it ran; it may have run, no result was kept, and   |                     |
|   | it will never run again                                                    |                     |
|12 | no performer is ready for the AVS, its circuit is open, or it could not be  | UNAVAILABLE         |
|   | reached before the task was sent (the claim is released: send it again; so |                     |
|   | is the claim of a caller that went away before the task was sent)          |                     |
|13 | the performer rejected the input (its INVALID_ARGUMENT)                    | INVALID_ARGUMENT    |
|14 | the task ran out of time (`taskTimeout`, or the caller's shorter deadline) | DEADLINE_EXCEEDED   |
|15 | the performer failed otherwise (also: the task was cut by the closing of    | INTERNAL            |
|   | the performer's channel, replaced or removed), or the result could not be  |                     |
|   | signed                                                                     |                     |

Chain reads (the Go executor's `validateOperatorInSet`, `validateTaskSignature`, `signResult`), all
at `task_block_number`: the executor's membership in the operator set and the aggregator's key in
the AVS's aggregator operator set are read together (they share JSON-RPC batches), then judged in
the order above. The signing reads (message hash, certificate digest) are made once before the
claim too, so that a reader that cross-checks them with the chain on first use meets an
unreachable RPC before the task is claimed rather than after it ran; after the run they are local.
A chain read that still fails after the run is row 15: the task ran, so it is not released.

A task id is claimed in its canonical form (`store.task_key`: the hex digits lower-cased), so a
resubmission that spells the id in another case is the same task (the same 32 bytes, signed alike).
After the claim the task is sent to the performer at most once; its outcome is recorded
(`complete_task`) before the answer is sent: "done" with the serialized signed TaskResult, "failed"
with the code and message of the answer, "interrupted" for a task cancelled midway (the caller went
away, or shutdown: it may have run), but "failed" out of time when it was cancelled because the
caller's deadline came (row 14, as when the executor's own timeout fires first). An outcome once
recorded stays (the store never replaces it).
A handler cancelled while its claim was being written never sent the task: the claim is given back
(row 12). A claim still "claimed" that no handler of this process runs was made by an executor that
died while the task ran: interrupted too.

Retries (rows 11-11c). Rows 1-10 run again for a retry, so only an authenticated aggregator gets an
answer from the store. *The same task* is the same fingerprint: the digest the aggregator signed,
keccak256(task_id ‖ avs_address ‖ executor_address ‖ operator_set_id ‖ reference_timestamp ‖
task_block_number ‖ keccak256(payload)) (contract §5). These fields are everything the result
depends on; `aggregator_address`, `signature` and `version` are not part of it, so a retry by
another aggregator of the AVS (a failover) or a re-signed retry gets the stored answer. Any other
submission under a seen id keeps ALREADY_EXISTS, as do ids claimed by an executor that stored no
fingerprint (before results were kept). With the memory store everything is forgotten on exit: a
retry after a restart runs the task again. Results are kept as long as the id (the retention).
A retry that arrives while a handler of this process claims or runs the task waits for that
handler's answer without asking the store (so it gets that answer even when the claim is given back
meanwhile); when that handler has none to share (it was cancelled), the retry claims the id itself
and the store decides.

Why DATA_LOSS for an interrupted task: the answer is final and the code says so — the result is
lost for good, which is gRPC's definition of DATA_LOSS ("unrecoverable data loss"); no other row
uses it, so an aggregator can act on it alone (count this operator's answer as missing for the task
and stop retrying it), and no generic retry policy retries it. ABORTED would invite a retry "at a
higher level" (and the management API uses it for a cancelled deploy); UNAVAILABLE,
DEADLINE_EXCEEDED or INTERNAL would be retried in vain; ALREADY_EXISTS (the former answer) does not
tell the aggregator that no result will ever come.

The result: `task_id` echoed (as the request spells it, a stored result's too), `operator_address`
the configured operator address, `output`, the `result_signature` over the certificate digest
(signed by the executor's key of the operator set's curve), `avs_address` lower-cased,
`operator_set_id`, `auth_signature`, `version` 1. Payloads and outputs are never logged.

Every SubmitTask ends with one log line (INFO; WARNING for INTERNAL, UNAVAILABLE and DATA_LOSS):
`task done` (it ran and its result was stored), `task answered again` (a retry answered from the
store or by the running task), `task cancelled` (the caller went away, or the executor stopped) or
`task refused`, with `task_id`, `avs`, `performer_id` (the
performer it ran on, when it reached one), `duration_seconds`, `code` (`OK` or the status code name)
and, for a refusal, `reason`. The same answer is counted in the metrics (`metrics.py`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

import grpc

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.chain import (
    ChainReader,
    ChainReaderError,
    OperatorNotRegisteredError,
    OperatorSetMember,
    UnknownOperatorSetError,
)
from hourglass_executor.metrics import ExecutorMetrics
from hourglass_executor.performers.client import PerformerCallError
from hourglass_executor.performers.pool import PerformerPool, PerformerUnavailableError
from hourglass_executor.server.log_limit import LogLimit
from hourglass_executor.server.refusal import Refusal
from hourglass_executor.server.unverified import BudgetExceededError, UnverifiedBudget
from hourglass_executor.signing.layouts import aggregator_digest
from hourglass_executor.signing.signer import Signer
from hourglass_executor.store import Store, TaskRecord, task_key
from hourglass_executor.task_signing import (
    MalformedSignatureError,
    SignerMismatchError,
    SignerMissingError,
    TaskSigningError,
    UnknownAggregatorError,
    WrongSignerError,
    aggregator_member,
    check_registered_key,
    sign_result,
    signer_for,
    verify_aggregator_signature,
)
from hourglass_executor.validation import is_address, is_task_id

log = logging.getLogger(__name__)

RESULT_VERSION = 1
DEADLINE_MARGIN = 0.005  # seconds kept back from the caller's deadline to answer in time

Code = grpc.StatusCode
Answer: TypeAlias = executor_pb2.TaskResult | Refusal  # what a task's submission was answered
WARN_CODES = ("INTERNAL", "UNAVAILABLE", "DATA_LOSS")  # logged at WARNING: the operator should look
INTERRUPTED = (
    "was interrupted before it finished (the executor stopped or crashed, or the caller went away, "
    "while it ran): it may have run, its result is lost, and it will not run again"
)
CLAIM_ATTEMPTS = 3  # claims refused for a row that is gone when read (given back, pruned) are retried
OFF_LOOP_PAYLOAD_BYTES = 64 * 1024  # a larger payload is hashed on a worker thread


@dataclass
class _Run:
    """A task id this process claims or runs: the submission's fingerprint, the answer concurrent
    retries wait for (None: no answer to share, the store has the outcome) and the claim."""

    fingerprint: bytes
    answer: asyncio.Future[Answer | None]
    claim: asyncio.Future[bool] | None = None  # the last claim write (made even if cancelled)
    started: bool = False  # claimed: from here on the task may reach the performer


@dataclass
class _Trace:
    """What the task's log line tells beyond its answer."""

    performer_id: str | None = None
    again: bool = False  # answered from the store or by the task already running


class TaskService(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(
        self,
        *,
        operator_address: str,
        chain: ChainReader,
        signers: Mapping[str, Signer],
        store: Store,
        pool: PerformerPool,
        task_timeout: float,
        metrics: ExecutorMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._unverified = UnverifiedBudget()
        self._operator_address = operator_address
        self._operator_lower = operator_address.lower()
        self._chain = chain
        self._signers = dict(signers)
        self._store = store
        self._pool = pool
        self._task_timeout = task_timeout
        self._running: dict[str, _Run] = {}  # by task_key: the task ids this process claims or runs
        self._refusal_log = LogLimit(log)
        self._cleanups: set[asyncio.Task[None]] = set()  # see _give_up

    async def settled(self) -> None:
        """Returns once no handler of this process holds a claim: each has recorded its outcome, or,
        cancelled, given its claim back or recorded the task interrupted (`_give_up`). A stop awaits
        this (after cancelling the handlers) before it closes the store."""
        while pending := [
            future
            for future in (*(run.answer for run in self._running.values()), *self._cleanups)
            if not future.done()
        ]:
            await asyncio.wait(pending)

    async def SubmitTask(
        self, request: executor_pb2.TaskSubmission, context: grpc.aio.ServicerContext
    ) -> executor_pb2.TaskResult:
        started = time.monotonic()
        trace = _Trace()
        code, reason = "UNKNOWN", None  # an unexpected error: gRPC answers UNKNOWN
        try:
            result = await self._submit(request, context, trace)
            code = "OK"
            return result
        except Refusal as refusal:
            code, reason = refusal.code.name, refusal.log_reason
            await context.abort(refusal.code, refusal.message)
            raise AssertionError("unreachable") from None  # abort raises
        except asyncio.CancelledError:
            code = "CANCELLED"  # the caller went away, or the executor stops
            raise
        finally:
            self._answered(request, trace, code, reason, time.monotonic() - started)

    def _answered(
        self,
        request: executor_pb2.TaskSubmission,
        trace: _Trace,
        code: str,
        reason: str | None,
        seconds: float,
    ) -> None:
        """The task's one log line and its metrics."""
        avs = request.avs_address[:42].lower()
        if self._metrics is not None:
            self._metrics.task_answered(avs, code, seconds)
        level = logging.WARNING if code in WARN_CODES else logging.INFO
        if not log.isEnabledFor(level):
            return
        message = (
            "task answered again"
            if trace.again
            else {"OK": "task done", "CANCELLED": "task cancelled"}.get(code, "task refused")
        )
        fields = {
            "task_id": request.task_id[:66],
            "avs": avs,
            "performer_id": trace.performer_id,
            "duration_seconds": round(seconds, 6),
            "code": code,
        }
        if reason is not None:
            fields["reason"] = reason
        if message == "task refused":  # anyone who reaches the port can have thousands a second
            self._refusal_log.log(level, message, {"code": code}, fields)
        else:
            log.log(level, message, extra=fields)

    async def _submit(
        self, request: executor_pb2.TaskSubmission, context: grpc.aio.ServicerContext, trace: _Trace
    ) -> executor_pb2.TaskResult:
        self._check_format(request)
        if request.executor_address.lower() != self._operator_lower:
            raise Refusal(
                Code.PERMISSION_DENIED,
                f"executor_address {request.executor_address} is not this executor's operator address",
            )
        avs = request.avs_address.lower()
        if not self._pool.serves(avs):
            raise Refusal(Code.NOT_FOUND, f"AVS {avs} is not served by this executor")
        try:
            with self._unverified.admit(request.ByteSize()):
                signer, fingerprint = await self._check_chain(request, avs)
        except BudgetExceededError as error:
            raise Refusal(Code.RESOURCE_EXHAUSTED, f"too many tasks wait for their checks: {error}") from None
        key = task_key(request.task_id)
        while (run := self._running.get(key)) is not None:  # a concurrent retry (row 11b)
            result = await self._wait_for(request.task_id, run, fingerprint, context, trace)
            if result is not None:
                return result
        return await self._claim_and_run(request, key, avs, signer, fingerprint, context, trace)

    async def _claim_and_run(
        self,
        request: executor_pb2.TaskSubmission,
        key: str,
        avs: str,
        signer: Signer,
        fingerprint: bytes,
        context: grpc.aio.ServicerContext,
        trace: _Trace,
    ) -> executor_pb2.TaskResult:
        """Claims the task id and runs the task, or answers as the store says when it was claimed
        before (rows 11-11c); retries arriving meanwhile wait for this answer."""
        run = _Run(fingerprint, asyncio.get_running_loop().create_future())
        self._running[key] = run
        try:
            record = await self._claim(key, avs, run)
            if record is None:
                run.started = True
                result = await self._run(request, key, avs, signer, context, trace)
            else:
                result = _answer_again(record, request.task_id, fingerprint, trace)
        except Refusal as refusal:
            self._finish(key, run, refusal)
            raise
        except BaseException as error:  # cancelled (the caller went away, or shutdown), or unexpected
            # The caller's deadline may cancel the handler just before the executor's own timeout
            # fires (a busy event loop): the task still ran out of time (row 14), not interrupted.
            out_of_time = isinstance(error, asyncio.CancelledError) and _deadline_passed(context)
            await self._give_up(key, run, out_of_time)
            raise
        self._finish(key, run, result)
        return result

    async def _claim(self, key: str, avs: str, run: _Run) -> TaskRecord | None:
        """Claims the id (None), or returns the record of the claim made before."""
        for _ in range(CLAIM_ATTEMPTS):
            # Shielded: a claim once queued is written even if this handler is cancelled, so
            # _give_up must learn its outcome to give it back.
            run.claim = asyncio.ensure_future(self._store.claim_task_async(key, avs, run.fingerprint))
            if await asyncio.shield(run.claim):
                return None
            record = self._store.task(key)
            if record is not None:
                return record
        raise Refusal(Code.ALREADY_EXISTS, f"task {key} was already submitted")

    async def _give_up(self, key: str, run: _Run, out_of_time: bool) -> None:
        """After a cancellation or an unexpected error: settles the claim (`_settle_claim`), to its
        end even if this handler is cancelled again."""
        cleanup = asyncio.ensure_future(self._settle_claim(key, run, out_of_time))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        await asyncio.shield(cleanup)

    async def _settle_claim(self, key: str, run: _Run, out_of_time: bool) -> None:
        """Gives back a claim of a task that cannot have reached a performer (row 12); records a
        claimed one that may have as out of time when the caller's deadline had passed (row 14),
        else as "interrupted" (a recorded outcome stays: row 11c). Then the retries waiting for
        this handler look again (the store has the outcome)."""
        try:
            try:
                claimed = run.claim is not None and await run.claim
            except Exception:  # the claim failed: nothing to settle (the handler got this error)
                claimed = False
            if claimed and run.started and out_of_time:
                await self._failed(key, _out_of_time())
            elif claimed and run.started:
                await self._store.complete_task_async(key, "interrupted")
            elif claimed:
                await self._store.release_task_async(key)
        except Exception:
            log.exception("cannot record the end of an interrupted task", extra={"task_id": key})
        finally:
            self._finish(key, run, None)

    def _finish(self, key: str, run: _Run, answer: Answer | None) -> None:
        if self._running.get(key) is run:
            del self._running[key]
        run.answer.set_result(answer)

    async def _wait_for(
        self,
        task_id: str,
        run: _Run,
        fingerprint: bytes,
        context: grpc.aio.ServicerContext,
        trace: _Trace,
    ) -> executor_pb2.TaskResult | None:
        """The answer of the handler of this process that runs the task id (None: it has none to
        share; claim it again)."""
        if run.fingerprint != fingerprint:
            raise _other_task(task_id)
        remaining = context.time_remaining()
        try:
            async with asyncio.timeout(None if remaining is None else remaining - DEADLINE_MARGIN):
                answer = await asyncio.shield(run.answer)
        except TimeoutError:
            raise Refusal(
                Code.DEADLINE_EXCEEDED,
                f"task {task_id} is still running (submitted before); send it again for its answer",
            ) from None
        if answer is None:
            return None
        trace.again = True
        if isinstance(answer, Refusal):
            raise answer
        return _echoed(answer, task_id)

    async def _check_chain(self, request: executor_pb2.TaskSubmission, avs: str) -> tuple[Signer, bytes]:
        """Rows 6-10 of the table; returns the signer of the operator set's curve and the task's
        fingerprint (the digest the aggregator signed)."""
        set_id, block = request.operator_set_id, request.task_block_number
        executor, aggregator = await asyncio.gather(
            self._chain.operator_set_member(avs, set_id, self._operator_address, block),
            aggregator_member(self._chain, avs, request.aggregator_address, block),
            return_exceptions=True,
        )
        where = f"operator set {set_id} of AVS {avs}"
        if isinstance(executor, UnknownOperatorSetError):
            raise Refusal(Code.NOT_FOUND, f"AVS {avs} has no operator set {set_id}: {executor}")
        if isinstance(executor, OperatorNotRegisteredError):
            raise Refusal(
                Code.FAILED_PRECONDITION,
                f"operator {self._operator_address} is not registered in {where}: {executor}",
            )
        for outcome in (executor, aggregator):
            if isinstance(outcome, ChainReaderError):
                raise Refusal(Code.UNAVAILABLE, f"chain read failed: {outcome}")
            if isinstance(outcome, BaseException) and not isinstance(outcome, TaskSigningError):
                raise outcome
        assert isinstance(executor, OperatorSetMember)
        try:
            signer = signer_for(self._signers, executor.curve_type, where)
            check_registered_key(signer, executor, where)
        except (SignerMissingError, SignerMismatchError) as error:
            raise Refusal(Code.FAILED_PRECONDITION, str(error)) from None
        if isinstance(aggregator, UnknownAggregatorError):
            raise Refusal(Code.UNAUTHENTICATED, str(aggregator))
        assert isinstance(aggregator, OperatorSetMember)
        digest = functools.partial(
            aggregator_digest,
            task_id=request.task_id,
            avs_address=avs,
            executor_address=request.executor_address,
            operator_set_id=set_id,
            reference_timestamp=request.reference_timestamp,
            task_block_number=block,
            payload=request.payload,
        )
        try:  # every signed field is in the digest, so it also identifies the task
            # Hashing 4 MiB takes ~25 ms: a large payload is hashed off the event loop.
            large = len(request.payload) > OFF_LOOP_PAYLOAD_BYTES
            fingerprint = await asyncio.to_thread(digest) if large else digest()
        except ValueError as error:
            raise Refusal(Code.INVALID_ARGUMENT, str(error)) from None
        try:
            await verify_aggregator_signature(aggregator, fingerprint, request.signature)
        except (MalformedSignatureError, WrongSignerError) as error:
            raise Refusal(Code.UNAUTHENTICATED, str(error)) from None
        try:  # the signing reads, before the claim (see the module docstring)
            message_hash = await self._chain.message_hash(request.task_id, b"")
            await self._chain.certificate_digest(
                signer.curve, request.reference_timestamp, message_hash, block
            )
        except ChainReaderError as error:
            raise Refusal(Code.UNAVAILABLE, f"chain read failed: {error}") from None
        return signer, fingerprint

    def _check_format(self, request: executor_pb2.TaskSubmission) -> None:
        if request.version not in (0, 1):
            raise Refusal(Code.INVALID_ARGUMENT, f"version must be 0 or 1, got {request.version}")
        if not is_task_id(request.task_id):
            raise Refusal(Code.INVALID_ARGUMENT, 'task_id must be "0x" followed by 64 hex digits')
        for name, value in (
            ("avs_address", request.avs_address),
            ("executor_address", request.executor_address),
        ):
            if not is_address(value):
                raise Refusal(Code.INVALID_ARGUMENT, f'{name} must be "0x" followed by 40 hex digits')
        if not is_address(request.aggregator_address):
            raise Refusal(Code.INVALID_ARGUMENT, 'aggregator_address must be "0x" followed by 40 hex digits')

    async def _run(
        self,
        request: executor_pb2.TaskSubmission,
        key: str,
        avs: str,
        signer: Signer,
        context: grpc.aio.ServicerContext,
        trace: _Trace,
    ) -> executor_pb2.TaskResult:
        """Runs a freshly claimed task and records its outcome (cancelled midway: `_give_up`)."""
        task_id = request.task_id
        timeout = self._timeout(context)
        if timeout <= 0:
            await self._store.release_task_async(key)
            raise Refusal(Code.DEADLINE_EXCEEDED, "the caller's deadline leaves no time to run the task")
        # run_task takes the current performer before its first await: the same one as here.
        current = self._pool.current(avs)
        trace.performer_id = current.performer_id if current is not None else None
        try:
            output = await self._pool.run_task(
                avs, task_id, request.payload, timeout, task_timeout=self._task_timeout
            )
        except PerformerUnavailableError as error:
            await self._store.release_task_async(key)
            raise Refusal(Code.UNAVAILABLE, str(error)) from None
        except PerformerCallError as error:
            if not error.maybe_executed:
                await self._store.release_task_async(key)
                raise Refusal(Code.UNAVAILABLE, f"performer unreachable: {error.message}") from None
            refusal = _performer_failure(error)
            await self._failed(key, refusal)
            raise refusal from None
        try:
            signatures = await sign_result(
                self._chain,
                signer,
                operator_address=self._operator_address,
                task_id=task_id,
                avs_address=avs,
                operator_set_id=request.operator_set_id,
                reference_timestamp=request.reference_timestamp,
                task_block_number=request.task_block_number,
                output=output,
            )
        except (TaskSigningError, ChainReaderError) as error:
            refusal = Refusal(Code.INTERNAL, f"cannot sign the result: {error}")
            await self._failed(key, refusal)
            raise refusal from None
        result = executor_pb2.TaskResult(
            task_id=task_id,
            operator_address=self._operator_address,
            output=output,
            result_signature=signatures.result_signature,
            avs_address=avs,
            operator_set_id=request.operator_set_id,
            auth_signature=signatures.auth_signature,
            version=RESULT_VERSION,
        )
        # Durable before the answer leaves: a retry after a crash gets this very result.
        await self._store.complete_task_async(key, "done", result=result.SerializeToString())
        return result

    async def _failed(self, task_id: str, refusal: Refusal) -> bool:
        return await self._store.complete_task_async(
            task_id, "failed", error=(refusal.code.name, refusal.message)
        )

    def _timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return self._task_timeout
        return min(self._task_timeout, remaining - DEADLINE_MARGIN)


def _answer_again(
    record: TaskRecord, task_id: str, fingerprint: bytes, trace: _Trace
) -> executor_pb2.TaskResult:
    """Rows 11-11c: the answer to a task id claimed before, as the store has it (raises Refusal)."""
    if record.fingerprint is None:
        raise Refusal(Code.ALREADY_EXISTS, f"task {task_id} was already submitted")
    if record.fingerprint != fingerprint:
        raise _other_task(task_id)
    trace.again = True
    answer = _stored_answer(record, task_id)
    if isinstance(answer, Refusal):
        raise answer
    return _echoed(answer, task_id)


def _other_task(task_id: str) -> Refusal:
    return Refusal(
        Code.ALREADY_EXISTS,
        f"task {task_id} was already submitted with other signed fields (avs_address, "
        "operator_set_id, reference_timestamp, task_block_number or payload)",
    )


def _echoed(result: executor_pb2.TaskResult, task_id: str) -> executor_pb2.TaskResult:
    """`result` with `task_id` spelled as in this request (the case of its hex digits changes no
    signature: they sign its 32 bytes)."""
    if result.task_id == task_id:
        return result
    echoed = executor_pb2.TaskResult()
    echoed.CopyFrom(result)
    echoed.task_id = task_id
    return echoed


def _stored_answer(record: TaskRecord, task_id: str) -> Answer:
    """The answer to a retry of a task that no handler of this process runs (rows 11a, 11c)."""
    if record.status == "done" and record.result is not None:
        return executor_pb2.TaskResult.FromString(record.result)
    if record.status == "failed" and record.error_code in Code.__members__:
        code = Code[record.error_code]
        return Refusal(
            code,
            f"task {task_id} ran before: {record.error_message}",
            f"task {task_id} ran before and failed ({code.name})",
        )
    return Refusal(Code.DATA_LOSS, f"task {task_id} {INTERRUPTED}")


def _out_of_time() -> Refusal:
    return Refusal(Code.DEADLINE_EXCEEDED, "the task did not finish in time on the performer")


def _deadline_passed(context: grpc.aio.ServicerContext) -> bool:
    """Whether the caller's deadline has come (less than the margin kept back from it is left)."""
    remaining = context.time_remaining()
    return remaining is not None and remaining <= DEADLINE_MARGIN


def _performer_failure(error: PerformerCallError) -> Refusal:
    """The refusal for a task the performer failed; its own message goes to the caller only."""
    if error.code is Code.INVALID_ARGUMENT:
        return Refusal(
            Code.INVALID_ARGUMENT,
            f"the performer rejected the task: {error.message}",
            "the performer rejected the task (INVALID_ARGUMENT)",
        )
    if error.code is Code.DEADLINE_EXCEEDED:
        return _out_of_time()
    return Refusal(
        Code.INTERNAL,
        f"the performer failed: {error.code.name}: {error.message}",
        f"the performer failed ({error.code.name})",
    )
