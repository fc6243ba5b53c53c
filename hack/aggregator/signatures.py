"""An aggregator's two signature jobs on the executor wire (upstream contract §5), shared by the test
aggregator of hack/aggregator and the static-chain one of tests/support/aggregator.py:

- `task_submission`: a version-1 `TaskSubmission` signed with the aggregator's key, as the Go
  aggregator's task session builds it (the key's `sign_digest` over the 224-byte layout's keccak256;
  ECDSA or BN254, the curve of the AVS's aggregator operator set);
- `verify_result`: the checks the Go aggregator makes on a `TaskResult` before it aggregates it
  (task id echoed, the operator it was sent to, the operator set, the result signature over the
  certificate digest and the auth signature, both with the key registered for the operator in the
  set), plus the contract's own rules (lower-cased AVS, version 1).

Where the certificate digest comes from is the caller's business (the chain's verifiers, or a
static domain separator): `verify_result` takes it as a function of the result's output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.signing import BN254, ECDSA, CurveType, Signer, bn254
from hourglass_executor.signing.address import addresses_equal
from hourglass_executor.signing.ecdsa import SignatureError, recover_address
from hourglass_executor.signing.layouts import aggregator_digest, auth_digest

SUBMISSION_VERSION = 1
ECDSA_SIGNATURE_SIZE, BN254_SIGNATURE_SIZE = 65, 64


class ResultInvalid(AssertionError):
    """A TaskResult an aggregator rejects; the message says why."""


@dataclass(frozen=True)
class RegisteredKey:
    """The key the KeyRegistrar holds for an operator in an operator set."""

    curve: CurveType
    ecdsa_address: str | None = None  # ECDSA sets: getECDSAAddress
    bn254_g2: bytes | None = None  # BN254 sets: getBN254Key's G2 point (gnark Marshal bytes)

    def __post_init__(self) -> None:
        if self.curve == ECDSA and not self.ecdsa_address:
            raise ValueError("an ECDSA key needs its address")
        if self.curve == BN254 and not self.bn254_g2:
            raise ValueError("a BN254 key needs its G2 point")


def task_submission(
    signer: Signer,
    *,
    aggregator_address: str,
    task_id: str,
    avs: str,
    executor_address: str,
    operator_set_id: int,
    reference_timestamp: int,
    task_block_number: int,
    payload: bytes,
    version: int = SUBMISSION_VERSION,
) -> executor_pb2.TaskSubmission:
    """The TaskSubmission of one task for one executor, signed by `signer` (the aggregator's key)."""
    digest = aggregator_digest(
        task_id, avs, executor_address, operator_set_id, reference_timestamp, task_block_number, payload
    )
    return executor_pb2.TaskSubmission(
        task_id=task_id,
        aggregator_address=aggregator_address,
        avs_address=avs,
        payload=payload,
        signature=signer.sign_digest(digest),
        operator_set_id=operator_set_id,
        reference_timestamp=reference_timestamp,
        executor_address=executor_address,
        task_block_number=task_block_number,
        version=version,
    )


def verify_result(
    submission: executor_pb2.TaskSubmission,
    result: executor_pb2.TaskResult,
    *,
    key: RegisteredKey,
    certificate_digest: Callable[[bytes], bytes],
) -> None:
    """Raises ResultInvalid unless `result` answers `submission` with both signatures made by `key`.

    `certificate_digest(output)` is the digest the operator's key signs for a certificate over
    `output` (the verifier's calculateCertificateDigest of getMessageHash(taskId, output); for ECDSA
    the keccak256 of calculateCertificateDigestBytes)."""
    expected = {
        "task_id": submission.task_id,
        "avs_address": submission.avs_address.lower(),
        "operator_set_id": submission.operator_set_id,
        "version": SUBMISSION_VERSION,
    }
    for name, value in expected.items():
        if getattr(result, name) != value:
            raise ResultInvalid(f"result {name} is {getattr(result, name)!r}, expected {value!r}")
    if not addresses_equal(result.operator_address, submission.executor_address):
        raise ResultInvalid(
            f"result operator_address {result.operator_address} is not {submission.executor_address}, "
            "the executor the task was sent to"
        )
    if not result.result_signature or not result.auth_signature:
        raise ResultInvalid("result_signature and auth_signature must not be empty")
    digest = certificate_digest(result.output)
    auth = auth_digest(
        result.task_id,
        result.avs_address,
        result.operator_address,
        result.operator_set_id,
        result.result_signature,
    )
    if key.curve == BN254:
        assert key.bn254_g2 is not None
        _check_size(result, BN254_SIGNATURE_SIZE)
        try:
            result_ok = bn254.verify_solidity(key.bn254_g2, digest, result.result_signature)
            auth_ok = bn254.verify(key.bn254_g2, auth, result.auth_signature)
        except bn254.Bn254Error as error:
            raise ResultInvalid(f"a signature is not a BN254 G1 point: {error}") from None
        if not result_ok:
            raise ResultInvalid("result_signature does not verify with the operator's registered BN254 key")
        if not auth_ok:
            raise ResultInvalid("auth_signature does not verify with the operator's registered BN254 key")
        return
    assert key.ecdsa_address is not None
    _check_size(result, ECDSA_SIGNATURE_SIZE)
    for name, signed in (("result_signature", digest), ("auth_signature", auth)):
        try:
            signer = recover_address(signed, getattr(result, name))
        except SignatureError as error:
            raise ResultInvalid(f"{name} is not an ECDSA signature: {error}") from None
        if not addresses_equal(signer, key.ecdsa_address):
            raise ResultInvalid(
                f"{name} recovers to {signer}, not the operator's registered ECDSA key {key.ecdsa_address}"
            )


def _check_size(result: executor_pb2.TaskResult, size: int) -> None:
    for name in ("result_signature", "auth_signature"):
        if len(getattr(result, name)) != size:
            raise ResultInvalid(f"{name} is {len(getattr(result, name))} bytes, expected {size}")
