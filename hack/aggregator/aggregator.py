"""The test aggregator: a task created on the TaskMailbox → a signed TaskSubmission per executor of its
operator set → verified TaskResults → a certificate → `submitResult` → `TaskVerified`. A test and
demo tool, not a product; it assumes nothing but the executor wire contract and the chain contract
(upstream contract §4, §5), so it can drive any executor that follows them (and the unchanged Go
aggregator can drive ours the same way).

Each step can be called on its own, so that a test can act between them (stop the chain after the
plan, tamper with a submission, ...):

    aggregator = Aggregator(chain, address=..., signers={"BN254": ..., "ECDSA": ...}, transaction_key=...)
    task = aggregator.next_tasks(from_block, count=1)[0]      # TaskCreated logs (or a devnet-created one)
    plan = aggregator.plan(task)                              # hack.aggregator.plan
    deliveries = aggregator.dispatch(plan, on_refused=...)   # SubmitTask, retried while UNAVAILABLE
    certificate = aggregator.certificate(plan, deliveries)    # hack.aggregator.certificate
    verified = aggregator.submit(plan, certificate)           # submitResult, TaskVerified
    # or all of it: aggregator.run(task)

Results are verified as they arrive (`Delivery.problem` says why one is not used).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.signing import CurveType, Signer

from hack.aggregator.certificate import Certificate, build_certificate
from hack.aggregator.chain import ChainView, TaskCreated, TaskVerified
from hack.aggregator.dispatch import Delivery, RefusalCallback, deliver
from hack.aggregator.plan import ExecutorOperator, TaskPlan, plan_task
from hack.aggregator.signatures import ResultInvalid, task_submission, verify_result

POLL_INTERVAL = 0.25


@dataclass(frozen=True)
class TaskRun:
    plan: TaskPlan
    deliveries: list[Delivery]
    certificate: Certificate
    verified: TaskVerified


class Aggregator:
    def __init__(
        self,
        chain: ChainView,
        *,
        address: str,
        signers: Mapping[CurveType, Signer],
        transaction_key: str | None = None,
    ) -> None:
        """`address`: the aggregator operator (TaskSubmission.aggregator_address); `signers`: its keys by
        curve (the AVS's aggregator operator set picks one); `transaction_key`: the private key of the
        account that sends submitResult (needed by `submit` only)."""
        self.chain = chain
        self.address = address
        self.signers = dict(signers)
        self.transaction_key = transaction_key

    # -- finding tasks ------------------------------------------------------------------------------

    def next_tasks(self, from_block: int, count: int = 1, timeout: float = 60.0) -> list[TaskCreated]:
        """The first `count` TaskCreated events from `from_block` on, polling eth_getLogs until they
        are mined (TimeoutError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.chain.task_created_logs(from_block)
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} TaskCreated events from block {from_block}")
            time.sleep(POLL_INTERVAL)

    # -- the steps ----------------------------------------------------------------------------------

    def plan(self, task: TaskCreated) -> TaskPlan:
        return plan_task(self.chain, task)

    def submission(self, plan: TaskPlan, operator: ExecutorOperator) -> executor_pb2.TaskSubmission:
        """The signed TaskSubmission of `plan`'s task for `operator`, with the key of the AVS's
        aggregator operator set's curve."""
        signer = self.signers.get(plan.aggregator_curve)
        if signer is None:
            raise ValueError(
                f"the AVS's aggregator operator set {plan.aggregator_operator_set_id} uses "
                f"{plan.aggregator_curve}; this aggregator has no {plan.aggregator_curve} key"
            )
        task = plan.task
        return task_submission(
            signer,
            aggregator_address=self.address,
            task_id=task.task_id,
            avs=task.avs,
            executor_address=operator.address,
            operator_set_id=task.executor_operator_set_id,
            reference_timestamp=task.reference_timestamp,
            task_block_number=task.block_number,
            payload=task.payload,
        )

    def dispatch(
        self,
        plan: TaskPlan,
        *,
        submissions: Mapping[str, executor_pb2.TaskSubmission] | None = None,
        on_refused: RefusalCallback | None = None,
        give_up_after: float | None = None,
    ) -> list[Delivery]:
        """Sends the task to every operator of the plan at once and verifies each result. `submissions`
        (by operator address) replaces the signed ones (to test tampering); `give_up_after` (seconds)
        ends the retries before the task's deadline."""
        deadline = float(plan.task.task_deadline)
        if give_up_after is not None:
            deadline = min(deadline, time.time() + give_up_after)
        chosen = submissions or {}

        def one(operator: ExecutorOperator) -> Delivery:
            submission = chosen.get(operator.address) or self.submission(plan, operator)
            delivery = deliver(operator, submission, deadline=deadline, on_refused=on_refused)
            if delivery.result is not None:
                try:
                    self.verify(plan, delivery)
                except ResultInvalid as problem:
                    delivery.problem = f"invalid result: {problem}"
            return delivery

        with ThreadPoolExecutor(max_workers=len(plan.operators)) as pool:
            return list(pool.map(one, plan.operators))

    def verify(self, plan: TaskPlan, delivery: Delivery) -> None:
        """ResultInvalid unless the delivery's result is its operator's, over the certificate digest
        of the chain's verifier for the operator set's curve."""
        assert delivery.result is not None
        task = plan.task

        def digest(output: bytes) -> bytes:
            message_hash = self.chain.message_hash(task.task_hash, output)
            return self.chain.certificate_digest(plan.curve, task.reference_timestamp, message_hash)

        verify_result(
            delivery.submission, delivery.result, key=delivery.operator.key, certificate_digest=digest
        )

    def certificate(self, plan: TaskPlan, deliveries: list[Delivery]) -> Certificate:
        task_hash = plan.task.task_hash
        return build_certificate(plan, deliveries, lambda output: self.chain.message_hash(task_hash, output))

    def submit(self, plan: TaskPlan, certificate: Certificate) -> TaskVerified:
        if self.transaction_key is None:
            raise ValueError("this aggregator has no transaction key to send submitResult with")
        return self.chain.submit_result(
            plan.task.task_hash, certificate.encoded, certificate.output, self.transaction_key
        )

    def run(
        self,
        task: TaskCreated,
        *,
        on_refused: RefusalCallback | None = None,
        give_up_after: float | None = None,
        on_step: Callable[[str, object], None] | None = None,
    ) -> TaskRun:
        """Every step; `on_step(name, value)` is told each step's outcome (plan, deliveries,
        certificate, verified)."""
        report = on_step or (lambda name, value: None)
        plan = self.plan(task)
        report("plan", plan)
        deliveries = self.dispatch(plan, on_refused=on_refused, give_up_after=give_up_after)
        report("deliveries", deliveries)
        certificate = self.certificate(plan, deliveries)
        report("certificate", certificate)
        verified = self.submit(plan, certificate)
        report("verified", verified)
        return TaskRun(plan, deliveries, certificate, verified)
