"""Per-task signatures: check the aggregator's signature on a TaskSubmission, sign the TaskResult (§5).

Only ECDSA operator sets are implemented. BN254 plugs in by adding a BN254 `Signer` (for results) and
an aggregator-key lookup (for submissions), then adding "BN254" to the supported-curve sets below: the
certificate digest already comes from the `ChainReader` for either curve.
"""

from __future__ import annotations

from typing import NamedTuple

from .chain import ChainReader, OperatorSetInfo
from .signing.address import addresses_equal, parse_address, to_lower_address
from .signing.ecdsa import SignatureError, recover_address_bytes
from .signing.layouts import aggregator_digest, auth_digest, result_message_hash
from .signing.signer import ECDSA, Signer

_VERIFIABLE_AGGREGATOR_CURVES = frozenset({ECDSA})
_SIGNABLE_RESULT_CURVES = frozenset({ECDSA})


class TaskSigningError(Exception):
    """Base of the errors below."""


class MalformedTaskError(TaskSigningError, ValueError):
    """A field (task id, address, number) does not have the form the signed layout needs."""


class MalformedSignatureError(TaskSigningError, ValueError):
    """The signature bytes cannot be a signature (length, V, R/S range, or no recoverable key)."""


class WrongSignerError(TaskSigningError):
    """The signature is well formed but was not made by the operator set's aggregator."""


class SignerMismatchError(TaskSigningError):
    """The executor's signer does not match the operator set's curve (a configuration problem)."""


class ResultSignatures(NamedTuple):
    result_signature: bytes
    auth_signature: bytes


def _operator_set(chain: ChainReader, avs_address: str, operator_set_id: int) -> OperatorSetInfo:
    try:
        return chain.operator_set(avs_address, operator_set_id)
    except ValueError as exc:  # a malformed AVS address
        raise MalformedTaskError(str(exc)) from exc


def verify_aggregator_signature(
    chain: ChainReader,
    *,
    task_id: str,
    avs_address: str,
    executor_address: str,
    operator_set_id: int,
    reference_timestamp: int,
    task_block_number: int,
    payload: bytes,
    signature: bytes,
    aggregator_address: str = "",
) -> str:
    """Check a version-1 TaskSubmission signature; return the (lower-case) aggregator address.

    The signer must be the aggregator the chain names for the AVS's operator set. A non-empty
    `aggregator_address` from the submission must name that same aggregator. Raises MalformedTaskError,
    MalformedSignatureError, WrongSignerError, chain.UnknownOperatorSetError, or NotImplementedError
    for a BN254 operator set.
    """
    info = _operator_set(chain, avs_address, operator_set_id)
    if info.curve_type not in _VERIFIABLE_AGGREGATOR_CURVES:
        raise NotImplementedError(
            f"verifying aggregator signatures for {info.curve_type} operator sets is not implemented yet "
            "(only ECDSA)"
        )
    if aggregator_address and not addresses_equal(aggregator_address, info.aggregator_address):
        raise WrongSignerError(
            f"the task names aggregator {aggregator_address}, but operator set {operator_set_id} "
            f"of AVS {avs_address} has aggregator {info.aggregator_address}"
        )
    try:
        digest = aggregator_digest(
            task_id,
            avs_address,
            executor_address,
            operator_set_id,
            reference_timestamp,
            task_block_number,
            payload,
        )
    except ValueError as exc:
        raise MalformedTaskError(str(exc)) from exc
    try:
        signer = recover_address_bytes(digest, signature)
    except SignatureError as exc:
        raise MalformedSignatureError(f"aggregator signature is malformed: {exc}") from exc
    if signer != parse_address(info.aggregator_address):
        raise WrongSignerError(
            f"the task is not signed by aggregator {info.aggregator_address} of operator set "
            f"{operator_set_id} (or a signed field was changed)"
        )
    return to_lower_address(info.aggregator_address)


def sign_result(
    chain: ChainReader,
    signer: Signer,
    *,
    operator_address: str,
    task_id: str,
    avs_address: str,
    operator_set_id: int,
    reference_timestamp: int,
    output: bytes,
) -> ResultSignatures:
    """The TaskResult's `result_signature` (over the certificate digest) and `auth_signature`.

    `operator_address` is the executor's operator address (it can differ from the signing key's
    address). Raises MalformedTaskError, SignerMismatchError, chain.UnknownOperatorSetError, or
    NotImplementedError for a BN254 operator set.
    """
    info = _operator_set(chain, avs_address, operator_set_id)
    if info.curve_type not in _SIGNABLE_RESULT_CURVES:
        raise NotImplementedError(
            f"signing results for {info.curve_type} operator sets is not implemented yet (only ECDSA)"
        )
    if signer.curve != info.curve_type:
        raise SignerMismatchError(
            f"operator set {operator_set_id} of AVS {avs_address} uses {info.curve_type}, "
            f"but the signer is {signer.curve}"
        )
    try:
        message_hash = result_message_hash(task_id, output)
        digest = chain.certificate_digest(
            info.curve_type, avs_address, operator_set_id, reference_timestamp, message_hash
        )
        result_signature = signer.sign_digest(digest)
        auth = auth_digest(task_id, avs_address, operator_address, operator_set_id, result_signature)
    except ValueError as exc:
        raise MalformedTaskError(str(exc)) from exc
    return ResultSignatures(result_signature, signer.sign_digest(auth))
