"""ABI encodings of the certificates `TaskMailbox.submitResult` takes, built off-chain with eth_abi.

They equal `abi.encode(cert)` of the certificate verifiers' structs, which is also what the
TaskMailbox's pure `getECDSACertificateBytes` / `getBN254CertificateBytes` return (tests compare both).
An ECDSA certificate carries the signers' 65-byte R‖S‖V signatures concatenated in ascending signer
address order (the verifier rejects any other order); a BN254 certificate carries the aggregate G1
signature, the signers' aggregate G2 key and a witness per non-signer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from hourglass_executor.signing import bn254

ECDSA_CERTIFICATE = "(uint32,bytes32,bytes)"
BN254_OPERATOR_INFO = "((uint256,uint256),uint256[])"
BN254_CERTIFICATE = (
    f"(uint32,bytes32,(uint256,uint256),(uint256[2],uint256[2]),(uint32,bytes,{BN254_OPERATOR_INFO})[])"
)


@dataclass(frozen=True)
class NonSignerWitness:
    """A BN254 non-signer: its index in the set's operator table, its G1 key and weights, and the
    Merkle proof of that operator info against the table's operatorInfoTreeRoot."""

    operator_index: int
    public_key_g1: bytes
    weights: tuple[int, ...]
    proof: bytes


def ecdsa_certificate(
    reference_timestamp: int, message_hash: bytes, signatures: Mapping[str, bytes]
) -> bytes:
    """`signatures`: signing-key address -> its signature over the certificate digest."""
    ordered = sorted(signatures.items(), key=lambda item: bytes.fromhex(item[0].removeprefix("0x")))
    for address, signature in ordered:
        if len(signature) != 65:
            raise ValueError(
                f"the signature of {address} is {len(signature)} bytes; an ECDSA signature is 65"
            )
    joined = b"".join(signature for _, signature in ordered)
    return abi_encode([ECDSA_CERTIFICATE], [(reference_timestamp, message_hash, joined)])


def bn254_certificate(
    reference_timestamp: int,
    message_hash: bytes,
    signature: bytes,
    apk_g2: bytes,
    non_signers: Iterable[NonSignerWitness] = (),
) -> bytes:
    """`signature`: the signers' aggregate G1 signature (64 bytes); `apk_g2`: their aggregate G2 key."""
    witnesses = [
        (w.operator_index, w.proof, (bn254.g1_to_solidity(w.public_key_g1), list(w.weights)))
        for w in sorted(non_signers, key=lambda w: w.operator_index)
    ]
    certificate = (
        reference_timestamp,
        message_hash,
        bn254.g1_to_solidity(signature),
        bn254.g2_to_solidity(apk_g2),
        witnesses,
    )
    return abi_encode([BN254_CERTIFICATE], [certificate])
