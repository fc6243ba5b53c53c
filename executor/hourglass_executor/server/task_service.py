"""ExecutorService.SubmitTask: check a signed task from the aggregator, run it once on the AVS's
performer, sign the result (upstream contract §4, §5).

Status codes (a stable contract: aggregators act on them). Checks run in this order, cheapest
first, and everything before the claim leaves no trace, so a bad request never burns a task id:

| # | condition                                                                  | code                |
|---|----------------------------------------------------------------------------|---------------------|
| 1 | `version` is not 0 or 1 (0: senders that predate the field; same layout)    | INVALID_ARGUMENT    |
| 2 | `task_id` is not "0x" + 64 hex digits                                      | INVALID_ARGUMENT    |
| 3 | `avs_address` or `executor_address` is not "0x" + 40 hex digits, or a       | INVALID_ARGUMENT    |
|   | non-empty `aggregator_address` is not                                      |                     |
| 4 | `executor_address` is not this executor's operator address (any case)      | PERMISSION_DENIED   |
| 5 | the AVS is not served here (not in `avsPerformers`)                        | NOT_FOUND           |
| 6 | the AVS has no operator set `operator_set_id`                              | NOT_FOUND           |
| 7 | the operator set uses BN254 (not implemented yet)                          | UNIMPLEMENTED       |
| 8 | this executor's operator is not a member of the operator set               | FAILED_PRECONDITION |
| 9 | the signature is malformed, not by the operator set's aggregator, or a     | UNAUTHENTICATED     |
|   | signed field was changed; or `aggregator_address` names another aggregator |                     |
|10 | the task id was seen before (within the store's retention)                 | ALREADY_EXISTS      |
|11 | no performer is ready for the AVS, its circuit is open, or it could not be  | UNAVAILABLE         |
|   | reached before the task was sent (the claim is released: send it again)    |                     |
|12 | the performer rejected the input (its INVALID_ARGUMENT)                    | INVALID_ARGUMENT    |
|13 | the task ran out of time (`taskTimeout`, or the caller's shorter deadline) | DEADLINE_EXCEEDED   |
|14 | the performer failed otherwise, or the result could not be signed          | INTERNAL            |

A chain read that fails for another reason than an unknown operator set is UNAVAILABLE.
After the claim the task is sent to the performer at most once; its outcome is recorded
(`complete_task` done/failed). A task cancelled midway (the caller went away, or shutdown) is
recorded as failed: it may have run.

The result: `task_id` echoed, `operator_address` the configured operator address, `output`, the
`result_signature` over the certificate digest, `avs_address` lower-cased, `operator_set_id`,
`auth_signature`, `version` 1. Payloads and outputs are never logged.
"""

from __future__ import annotations

import logging
import re
import time

import grpc

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.chain import ChainReader, ChainReaderError, UnknownOperatorSetError
from hourglass_executor.performers.client import PerformerCallError
from hourglass_executor.performers.pool import PerformerPool, PerformerUnavailableError
from hourglass_executor.server.refusal import Refusal
from hourglass_executor.signing.signer import ECDSA, Signer
from hourglass_executor.store import Store
from hourglass_executor.task_signing import (
    MalformedSignatureError,
    MalformedTaskError,
    TaskSigningError,
    WrongSignerError,
    sign_result,
    verify_aggregator_signature,
)

log = logging.getLogger(__name__)

TASK_ID_RE = re.compile(r"0x[0-9a-fA-F]{64}")
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
RESULT_VERSION = 1
DEADLINE_MARGIN = 0.005  # seconds kept back from the caller's deadline to answer in time

Code = grpc.StatusCode


class TaskService(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(
        self,
        *,
        operator_address: str,
        chain: ChainReader,
        signer: Signer,
        store: Store,
        pool: PerformerPool,
        task_timeout: float,
    ) -> None:
        self._operator_address = operator_address
        self._operator_lower = operator_address.lower()
        self._chain = chain
        self._signer = signer
        self._store = store
        self._pool = pool
        self._task_timeout = task_timeout

    async def SubmitTask(
        self, request: executor_pb2.TaskSubmission, context: grpc.aio.ServicerContext
    ) -> executor_pb2.TaskResult:
        try:
            return await self._submit(request, context)
        except Refusal as refusal:
            level = logging.WARNING if refusal.code in (Code.INTERNAL, Code.UNAVAILABLE) else logging.INFO
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "task refused",
                    extra={
                        "task_id": request.task_id[:66],
                        "code": refusal.code.name,
                        "reason": refusal.log_reason,
                    },
                )
            await context.abort(refusal.code, refusal.message)
            raise AssertionError("unreachable") from None  # abort raises

    async def _submit(
        self, request: executor_pb2.TaskSubmission, context: grpc.aio.ServicerContext
    ) -> executor_pb2.TaskResult:
        self._check_format(request)
        if request.executor_address.lower() != self._operator_lower:
            raise Refusal(
                Code.PERMISSION_DENIED,
                f"executor_address {request.executor_address} is not this executor's operator address",
            )
        avs = request.avs_address.lower()
        set_id = request.operator_set_id
        self._check_operator_set(avs, set_id)
        try:
            verify_aggregator_signature(
                self._chain,
                task_id=request.task_id,
                avs_address=avs,
                executor_address=request.executor_address,
                operator_set_id=set_id,
                reference_timestamp=request.reference_timestamp,
                task_block_number=request.task_block_number,
                payload=request.payload,
                signature=request.signature,
                aggregator_address=request.aggregator_address,
            )
        except (MalformedSignatureError, WrongSignerError) as error:
            raise Refusal(Code.UNAUTHENTICATED, str(error)) from None
        except MalformedTaskError as error:
            raise Refusal(Code.INVALID_ARGUMENT, str(error)) from None
        except NotImplementedError as error:
            raise Refusal(Code.UNIMPLEMENTED, str(error)) from None
        except ChainReaderError as error:
            raise Refusal(Code.UNAVAILABLE, f"chain read failed: {error}") from None
        if not self._store.claim_task(request.task_id, avs):
            raise Refusal(Code.ALREADY_EXISTS, f"task {request.task_id} was already submitted")
        return await self._run(request, avs, context)

    def _check_format(self, request: executor_pb2.TaskSubmission) -> None:
        if request.version not in (0, 1):
            raise Refusal(Code.INVALID_ARGUMENT, f"version must be 0 or 1, got {request.version}")
        if not TASK_ID_RE.fullmatch(request.task_id):
            raise Refusal(Code.INVALID_ARGUMENT, 'task_id must be "0x" followed by 64 hex digits')
        for name, value in (
            ("avs_address", request.avs_address),
            ("executor_address", request.executor_address),
        ):
            if not ADDRESS_RE.fullmatch(value):
                raise Refusal(Code.INVALID_ARGUMENT, f'{name} must be "0x" followed by 40 hex digits')
        if request.aggregator_address and not ADDRESS_RE.fullmatch(request.aggregator_address):
            raise Refusal(Code.INVALID_ARGUMENT, 'aggregator_address must be "0x" followed by 40 hex digits')

    def _check_operator_set(self, avs: str, set_id: int) -> None:
        if not self._pool.serves(avs):
            raise Refusal(Code.NOT_FOUND, f"AVS {avs} is not served by this executor")
        try:
            info = self._chain.operator_set(avs, set_id)
        except UnknownOperatorSetError:
            raise Refusal(Code.NOT_FOUND, f"AVS {avs} has no operator set {set_id}") from None
        except ChainReaderError as error:
            raise Refusal(Code.UNAVAILABLE, f"chain read failed: {error}") from None
        if info.curve_type != ECDSA:
            raise Refusal(
                Code.UNIMPLEMENTED,
                f"operator set {set_id} of AVS {avs} uses {info.curve_type}; only ECDSA is implemented",
            )
        if not self._chain.is_member(avs, set_id, self._operator_address):
            raise Refusal(
                Code.FAILED_PRECONDITION,
                f"operator {self._operator_address} is not a member of operator set {set_id} of AVS {avs}",
            )

    async def _run(
        self, request: executor_pb2.TaskSubmission, avs: str, context: grpc.aio.ServicerContext
    ) -> executor_pb2.TaskResult:
        task_id = request.task_id
        settled = False
        started = time.monotonic()
        try:
            timeout = self._timeout(context)
            if timeout <= 0:
                settled = self._store.release_task(task_id)
                raise Refusal(Code.DEADLINE_EXCEEDED, "the caller's deadline leaves no time to run the task")
            try:
                output = await self._pool.run_task(avs, task_id, request.payload, timeout)
            except PerformerUnavailableError as error:
                settled = self._store.release_task(task_id)
                raise Refusal(Code.UNAVAILABLE, str(error)) from None
            except PerformerCallError as error:
                if not error.maybe_executed:
                    settled = self._store.release_task(task_id)
                    raise Refusal(Code.UNAVAILABLE, f"performer unreachable: {error.message}") from None
                settled = self._store.complete_task(task_id, "failed")
                raise _performer_failure(error) from None
            try:
                signatures = sign_result(
                    self._chain,
                    self._signer,
                    operator_address=self._operator_address,
                    task_id=task_id,
                    avs_address=avs,
                    operator_set_id=request.operator_set_id,
                    reference_timestamp=request.reference_timestamp,
                    output=output,
                )
            except (TaskSigningError, ChainReaderError, NotImplementedError) as error:
                settled = self._store.complete_task(task_id, "failed")
                raise Refusal(Code.INTERNAL, f"cannot sign the result: {error}") from None
            settled = self._store.complete_task(task_id, "done")
        finally:
            if not settled:  # cancelled or an unexpected error: the task may have run
                self._store.complete_task(task_id, "failed")
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "task done",
                extra={"task_id": task_id, "avs": avs, "seconds": round(time.monotonic() - started, 6)},
            )
        return executor_pb2.TaskResult(
            task_id=task_id,
            operator_address=self._operator_address,
            output=output,
            result_signature=signatures.result_signature,
            avs_address=avs,
            operator_set_id=request.operator_set_id,
            auth_signature=signatures.auth_signature,
            version=RESULT_VERSION,
        )

    def _timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return self._task_timeout
        return min(self._task_timeout, remaining - DEADLINE_MARGIN)


def _performer_failure(error: PerformerCallError) -> Refusal:
    """The refusal for a task the performer failed; its own message goes to the caller only."""
    if error.code is Code.INVALID_ARGUMENT:
        return Refusal(
            Code.INVALID_ARGUMENT,
            f"the performer rejected the task: {error.message}",
            "the performer rejected the task (INVALID_ARGUMENT)",
        )
    if error.code is Code.DEADLINE_EXCEEDED:
        return Refusal(Code.DEADLINE_EXCEEDED, "the task did not finish in time on the performer")
    return Refusal(
        Code.INTERNAL,
        f"the performer failed: {error.code.name}: {error.message}",
        f"the performer failed ({error.code.name})",
    )
