"""The test aggregator's certificates (hack/aggregator/certificate.py) without a chain: results grouped by
message hash with the heaviest group winning, the threshold, ECDSA signatures in signing-address
order, BN254 aggregation (the aggregate signature verifies with the aggregate key) and non-signer
witnesses whose Merkle proofs lead to the operator table's root. The chain accepting them is
tested end to end (tests/cluster/executor/test_chain_e2e.py)."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.signing import BN254, ECDSA, EcdsaSigner, bn254, keccak256

from hack.aggregator.certificate import ThresholdNotMet, build_certificate
from hack.aggregator.chain import Bn254OperatorInfo, TaskCreated
from hack.aggregator.dispatch import Delivery
from hack.aggregator.plan import ExecutorOperator, TaskPlan, operator_info_leaves
from hack.aggregator.signatures import RegisteredKey
from hack.devnet import certificates, merkle

pytestmark = pytest.mark.unit

TASK = TaskCreated(
    task_hash=b"\x11" * 32,
    creator="0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    avs="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    executor_operator_set_id=1,
    reference_timestamp=1_700_000_000,
    refund_collector="0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    avs_fee=0,
    task_deadline=1_700_003_600,
    payload=b"payload",
    block_number=42,
    transaction_hash=b"\x22" * 32,
)
ECDSA_KEYS = [EcdsaSigner("0x" + f"{i:064x}") for i in (7, 8, 9)]
BN254_KEYS = [i.to_bytes(32, "big") for i in (41, 42, 43)]


def message_hash(output: bytes) -> bytes:
    return keccak256(TASK.task_hash + output)


def digest(output: bytes) -> bytes:
    return keccak256(b"certificate digest" + message_hash(output))


def ecdsa_plan(weights: list[int], threshold_bips: int = 10_000) -> TaskPlan:
    operators = tuple(
        ExecutorOperator(
            f"0x{i + 1:040x}", f"127.0.0.1:{9000 + i}", RegisteredKey(ECDSA, key.address), (w,), i
        )
        for i, (key, w) in enumerate(zip(ECDSA_KEYS, weights, strict=False))
    )
    return TaskPlan(TASK, 0, BN254, ECDSA, threshold_bips, operators, (), sum(weights))


def bn254_plan(weights: list[int]) -> TaskPlan:
    table = tuple(
        Bn254OperatorInfo(bn254.public_key_g1(key), (w,)) for key, w in zip(BN254_KEYS, weights, strict=True)
    )
    operators = tuple(
        ExecutorOperator(
            f"0x{i + 1:040x}",
            f"127.0.0.1:{9000 + i}",
            RegisteredKey(BN254, bn254_g2=bn254.public_key_g2(key)),
            (w,),
            i,
        )
        for i, (key, w) in enumerate(zip(BN254_KEYS, weights, strict=True))
    )
    return TaskPlan(TASK, 0, BN254, BN254, 10_000 // 2, operators, (), sum(weights), table)


def delivered(plan: TaskPlan, index: int, output: bytes, *, problem: str | None = None) -> Delivery:
    operator = plan.operators[index]
    if plan.curve == ECDSA:
        signature = ECDSA_KEYS[index].sign_digest(digest(output))
    else:
        signature = bn254.sign_solidity(BN254_KEYS[index], digest(output))
    result = executor_pb2.TaskResult(task_id=TASK.task_id, output=output, result_signature=signature)
    return Delivery(operator, executor_pb2.TaskSubmission(), result=result, problem=problem)


def test_ecdsa_signatures_are_in_ascending_signing_address_order():
    plan = ecdsa_plan([1, 1, 1])
    deliveries = [delivered(plan, i, b"answer") for i in (2, 0, 1)]

    certificate = build_certificate(plan, deliveries, message_hash)

    (timestamp, hashed, joined) = abi_decode([certificates.ECDSA_CERTIFICATE], certificate.encoded)[0]
    assert (timestamp, hashed, certificate.output) == (
        TASK.reference_timestamp,
        message_hash(b"answer"),
        b"answer",
    )
    by_address = sorted(range(3), key=lambda i: bytes.fromhex(ECDSA_KEYS[i].address[2:]))
    assert joined == b"".join(deliveries[[2, 0, 1].index(i)].result.result_signature for i in by_address)
    assert certificate.signed_weight == 3 and len(certificate.signers) == 3


def test_the_heaviest_output_wins_and_invalid_results_do_not_count():
    plan = ecdsa_plan([1, 2, 4], threshold_bips=5_000)
    deliveries = [
        delivered(plan, 0, b"minority"),
        delivered(plan, 1, b"minority"),
        delivered(plan, 2, b"majority"),
    ]
    certificate = build_certificate(plan, deliveries, message_hash)
    assert certificate.output == b"majority" and certificate.signers == (plan.operators[2].address,)

    deliveries[2].problem = "invalid result: a signature does not verify"
    certificate = build_certificate(plan, deliveries, message_hash)
    assert certificate.output == b"minority" and certificate.signed_weight == 3


def test_a_certificate_below_the_threshold_is_refused():
    plan = ecdsa_plan([1, 1, 2], threshold_bips=6_000)  # needs 4 * 6000 // 10000 = 2
    with pytest.raises(ThresholdNotMet, match=r"weight 1 of 4.*needs 2"):
        build_certificate(plan, [delivered(plan, 0, b"x")], message_hash)
    with pytest.raises(ThresholdNotMet, match="no executor returned a valid result"):
        build_certificate(plan, [delivered(plan, 2, b"x", problem="refused: UNAUTHENTICATED")], message_hash)
    assert build_certificate(plan, [delivered(plan, 2, b"x")], message_hash).signed_weight == 2


def verify_proof(leaf: bytes, index: int, proof: bytes, root: bytes) -> bool:
    node = leaf
    for offset in range(0, len(proof), 32):
        sibling = proof[offset : offset + 32]
        node = keccak256(node + sibling) if index % 2 == 0 else keccak256(sibling + node)
        index //= 2
    return node == root


def test_bn254_aggregates_the_signers_and_proves_each_non_signer_against_the_table_root():
    plan = bn254_plan([3, 5, 2])
    deliveries = [delivered(plan, 0, b"answer"), delivered(plan, 2, b"answer")]

    certificate = build_certificate(plan, deliveries, message_hash)

    timestamp, hashed, signature, apk, witnesses = abi_decode(
        [certificates.BN254_CERTIFICATE], certificate.encoded
    )[0]
    assert (timestamp, hashed) == (TASK.reference_timestamp, message_hash(b"answer"))
    aggregate_signature = bn254.g1_from_solidity(*signature)
    aggregate_key = bn254.g2_from_solidity(*apk)
    assert aggregate_key == bn254.aggregate_g2(bn254.public_key_g2(BN254_KEYS[i]) for i in (0, 2))
    assert bn254.verify_solidity(aggregate_key, digest(b"answer"), aggregate_signature)
    assert certificate.signed_weight == 5 and certificate.non_signer_indexes == (1,)

    [(index, proof, ((x, y), weights))] = witnesses
    assert (index, bn254.g1_from_solidity(x, y), tuple(weights)) == (
        1,
        bn254.public_key_g1(BN254_KEYS[1]),
        (5,),
    )
    leaves = operator_info_leaves(plan.bn254_table)
    assert verify_proof(leaves[1], 1, proof, merkle.root(leaves))
