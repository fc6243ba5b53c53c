"""Per-task signatures (upstream contract §5), following the Go executor's `validateTaskSignature`
and `signResult`.

- `aggregator_member`: the aggregator's registration in the AVS's aggregator operator set, read at
  the task's block (`registrar.getAvsConfig()`, then the aggregator's key in that set).
- `verify_aggregator_signature`: the TaskSubmission's signature over keccak256 of the 224-byte
  layout, checked with that key: ECDSA, the signature must recover to the registered ECDSA address;
  BN254, `bn254.verify(g2, digest, signature)` (standard hash-to-G1 of the 32-byte digest, as the Go
  executor's `sig.Verify(pub, keccak(msg))`).
- `sign_result`: the result signature over the certificate digest of the executor's operator set
  (`chain.certificate_digest(curve, ts, chain.message_hash(task_id, output))`, signed with the
  signer of that curve's `sign_certificate_digest`), and the auth signature over the 160-byte auth
  layout (`sign_digest`).

BN254 pairing checks and signatures run in a worker thread (the native library releases the GIL),
so the event loop is not held for their milliseconds.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import NamedTuple

from .chain import (
    BN254,
    ECDSA,
    ChainReader,
    CurveType,
    OperatorNotRegisteredError,
    OperatorSetMember,
    UnknownOperatorSetError,
)
from .signing.address import parse_address
from .signing.ecdsa import SignatureError, recover_address_bytes
from .signing.layouts import auth_digest
from .signing.signer import Signer


class TaskSigningError(Exception):
    """Base of the errors below."""


class MalformedTaskError(TaskSigningError, ValueError):
    """A field (task id, address, number) does not have the form the signed layout needs."""


class MalformedSignatureError(TaskSigningError, ValueError):
    """The signature bytes cannot be a signature of the aggregator's curve."""


class WrongSignerError(TaskSigningError):
    """The signature is well formed but was not made by the aggregator's registered key."""


class UnknownAggregatorError(TaskSigningError):
    """`aggregator_address` has no key in the AVS's aggregator operator set."""


class SignerMissingError(TaskSigningError):
    """The executor has no signing key for the operator set's curve (a configuration problem)."""


class SignerMismatchError(TaskSigningError):
    """The executor's signing key is not the key registered for it in the operator set."""


class ResultSignatures(NamedTuple):
    result_signature: bytes
    auth_signature: bytes


def signer_for(signers: Mapping[str, Signer], curve: CurveType, where: str) -> Signer:
    """The executor's signer for `curve`; SignerMissingError naming the configuration key."""
    signer = signers.get(curve)
    if signer is None:
        key = "operator.signingKeys.bls" if curve == BN254 else "operator.signingKeys.ecdsa"
        raise SignerMissingError(
            f"{where} uses {curve}, but this executor has no {curve} signing key ({key})"
        )
    return signer


def check_registered_key(signer: Signer, member: OperatorSetMember, where: str) -> None:
    """SignerMismatchError unless `signer` holds the key the KeyRegistrar has for `member` (a result
    signed with another key would not verify at the aggregator or on chain)."""
    if member.curve_type == ECDSA:
        ours = str(getattr(signer, "address", "")).lower()
        if ours != member.ecdsa_address:
            raise SignerMismatchError(
                f"this executor's ECDSA signing key {ours} is not the key registered for operator "
                f"{member.operator} in {where} ({member.ecdsa_address})"
            )
    elif getattr(signer, "public_key_g1", None) != member.bn254_g1:
        raise SignerMismatchError(
            f"this executor's BN254 signing key is not the key registered for operator {member.operator} "
            f"in {where}"
        )


async def aggregator_member(
    chain: ChainReader, avs_address: str, aggregator_address: str, block: int
) -> OperatorSetMember:
    """The aggregator's registration in the AVS's aggregator operator set at `block`.

    UnknownAggregatorError when it has none; other chain errors (ChainReaderError) propagate."""
    config = await chain.avs_config(avs_address, block)
    try:
        return await chain.operator_set_member(
            avs_address, config.aggregator_operator_set_id, aggregator_address, block
        )
    except (UnknownOperatorSetError, OperatorNotRegisteredError) as error:
        raise UnknownAggregatorError(
            f"aggregator {aggregator_address} is not registered in aggregator operator set "
            f"{config.aggregator_operator_set_id} of AVS {avs_address}: {error}"
        ) from None


async def verify_aggregator_signature(aggregator: OperatorSetMember, digest: bytes, signature: bytes) -> None:
    """Checks a version-1 TaskSubmission signature over `digest` (`layouts.aggregator_digest` of the
    submission's fields) against the aggregator's registered key.

    Raises MalformedSignatureError or WrongSignerError."""
    who = f"aggregator {aggregator.operator}"
    if aggregator.curve_type == ECDSA:
        assert aggregator.ecdsa_address is not None
        try:
            recovered = recover_address_bytes(digest, signature)
        except SignatureError as exc:
            raise MalformedSignatureError(f"aggregator signature is malformed: {exc}") from exc
        if recovered != parse_address(aggregator.ecdsa_address):
            raise WrongSignerError(
                f"the task is not signed by the ECDSA key of {who} (or a signed field was changed)"
            )
        return
    from .signing import bn254

    assert aggregator.bn254_g2 is not None
    if len(signature) != 64:
        raise MalformedSignatureError(f"a BN254 signature is 64 bytes (a G1 point), got {len(signature)}")
    try:
        valid = await asyncio.to_thread(bn254.verify, aggregator.bn254_g2, digest, bytes(signature))
    except bn254.Bn254Error as exc:
        raise MalformedSignatureError(f"aggregator signature is malformed: {exc}") from exc
    if not valid:
        raise WrongSignerError(
            f"the task is not signed by the BN254 key of {who} (or a signed field was changed)"
        )


async def sign_result(
    chain: ChainReader,
    signer: Signer,
    *,
    operator_address: str,
    task_id: str,
    avs_address: str,
    operator_set_id: int,
    reference_timestamp: int,
    task_block_number: int,
    output: bytes,
) -> ResultSignatures:
    """The TaskResult's `result_signature` (over the certificate digest) and `auth_signature`.

    `signer` is the executor's signer for the operator set's curve; `operator_address` is the
    executor's operator address (it can differ from the signing key's); the digest is the verifier's
    at `task_block_number` (0: the latest). Raises MalformedTaskError, or a ChainReaderError when the
    digest cannot be computed."""
    try:
        message_hash = await chain.message_hash(task_id, output)
        digest = await chain.certificate_digest(
            signer.curve, reference_timestamp, message_hash, task_block_number
        )
    except ValueError as exc:
        raise MalformedTaskError(str(exc)) from exc
    sign = functools.partial(
        _sign_both, signer, digest, task_id, avs_address, operator_address, operator_set_id
    )
    # BN254 signing (~0.2 ms for both) leaves the event loop in one hop; ECDSA (~0.05 ms) is cheaper
    # than the hop itself.
    return await asyncio.to_thread(sign) if signer.curve == BN254 else sign()


def _sign_both(
    signer: Signer,
    digest: bytes,
    task_id: str,
    avs_address: str,
    operator_address: str,
    operator_set_id: int,
) -> ResultSignatures:
    result_signature = signer.sign_certificate_digest(digest)
    try:
        auth = auth_digest(task_id, avs_address, operator_address, operator_set_id, result_signature)
    except ValueError as exc:
        raise MalformedTaskError(str(exc)) from exc
    return ResultSignatures(result_signature, signer.sign_digest(auth))
