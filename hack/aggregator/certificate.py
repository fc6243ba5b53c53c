"""Step 3: the certificate `TaskMailbox.submitResult` takes, aggregated from verified TaskResults the way
the Go aggregator aggregates them (`build_certificate`):

- results are grouped by the message hash of their output (TaskMailbox.getMessageHash(taskId,
  output)); the group with the most weight (first stake weight) wins;
- the winning group's weight must reach the operator set's threshold (total weight * bps / 10 000);
- ECDSA: the signers' 65-byte result signatures, concatenated in ascending order of the signing key's
  address (what the ECDSA verifier recovers and checks; hack/devnet/certificates.py encodes it);
- BN254: the sum of the signers' G1 signatures, the sum of their G2 keys, and a witness for every
  other entry of the transported operator table (its index, G1 key, weights and the Merkle proof of
  its operator info against the table's root), in index order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hourglass_executor.signing import BN254, bn254

from hack.aggregator.dispatch import Delivery
from hack.aggregator.plan import ExecutorOperator, TaskPlan, operator_info_leaves
from hack.devnet import certificates, merkle


class ThresholdNotMet(Exception):
    """The results do not carry the operator set's threshold of weight; the message says how far off."""


@dataclass(frozen=True)
class Certificate:
    curve: str
    reference_timestamp: int
    message_hash: bytes
    output: bytes  # the result the certificate is for (submitResult's `result`)
    encoded: bytes  # submitResult's `executorCert`
    signers: tuple[str, ...]  # operators whose signatures are in it
    signed_weight: int
    non_signer_indexes: tuple[int, ...] = ()  # BN254: table entries carried as non-signer witnesses


def build_certificate(
    plan: TaskPlan, deliveries: Sequence[Delivery], message_hash: Callable[[bytes], bytes]
) -> Certificate:
    """The certificate of the deliveries with a verified result (`Delivery.result` set, `problem`
    None). `message_hash(output)` is TaskMailbox.getMessageHash(taskHash, output)."""
    groups: dict[bytes, list[Delivery]] = {}
    outputs: dict[bytes, bytes] = {}
    for delivery in deliveries:
        if delivery.result is None or delivery.problem is not None:
            continue
        digest = message_hash(delivery.result.output)
        groups.setdefault(digest, []).append(delivery)
        outputs[digest] = delivery.result.output
    if not groups:
        raise ThresholdNotMet("no executor returned a valid result")

    def weight(group: list[Delivery]) -> int:
        return sum(_first_weight(d.operator) for d in group)

    winning = max(groups, key=lambda digest: weight(groups[digest]))  # the first of equals wins
    signers = groups[winning]
    signed = weight(signers)
    if signed < plan.required_weight or signed == 0:
        raise ThresholdNotMet(
            f"the results carry weight {signed} of {plan.total_weight}; the threshold of "
            f"{plan.threshold_bips} bps needs {plan.required_weight}"
        )
    timestamp = plan.task.reference_timestamp
    names = tuple(d.operator.address for d in signers)
    if plan.curve != BN254:
        signatures = {}
        for delivery in signers:
            assert delivery.operator.key.ecdsa_address is not None and delivery.result is not None
            signatures[delivery.operator.key.ecdsa_address] = delivery.result.result_signature
        encoded = certificates.ecdsa_certificate(timestamp, winning, signatures)
        return Certificate(plan.curve, timestamp, winning, outputs[winning], encoded, names, signed)

    signer_indexes = {d.operator.table_index for d in signers}
    leaves = operator_info_leaves(plan.bn254_table)
    witnesses = [
        certificates.NonSignerWitness(index, info.public_key_g1, info.weights, merkle.proof(leaves, index))
        for index, info in enumerate(plan.bn254_table)
        if index not in signer_indexes
    ]
    signature = bn254.aggregate_g1(d.result.result_signature for d in signers if d.result is not None)
    apk = bn254.aggregate_g2(d.operator.key.bn254_g2 for d in signers if d.operator.key.bn254_g2)
    encoded = certificates.bn254_certificate(timestamp, winning, signature, apk, witnesses)
    return Certificate(
        plan.curve,
        timestamp,
        winning,
        outputs[winning],
        encoded,
        names,
        signed,
        tuple(w.operator_index for w in witnesses),
    )


def _first_weight(operator: ExecutorOperator) -> int:
    return operator.weights[0] if operator.weights else 0
