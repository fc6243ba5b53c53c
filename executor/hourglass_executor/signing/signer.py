"""The `Signer` protocol every signing backend implements (in-process ECDSA and BN254; remote later)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Protocol, runtime_checkable

CurveType = Literal["ECDSA", "BN254"]
ECDSA: Final = "ECDSA"
BN254: Final = "BN254"
CURVE_TYPES: Final[tuple[str, ...]] = (ECDSA, BN254)


@runtime_checkable
class Signer(Protocol):
    """Signs 32-byte digests with one key; the digest is never hashed again by the signer."""

    @property
    def curve(self) -> CurveType:
        """The curve name, spelled as operator sets spell their curve type ("ECDSA" or "BN254")."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """What the Go signer's `SignMessage(data)` returns when keccak256(data) is `digest`
        (ECDSA: 65 bytes R‖S‖V, V 27/28; BN254: the standard hash-to-G1 signature, 64 bytes)."""
        ...

    def sign_certificate_digest(self, digest: bytes) -> bytes:
        """What a certificate verifier checks for the 32-byte certificate `digest` (the Go signer's
        `SignMessageForSolidity`; ECDSA: as sign_digest; BN254: the BN254.sol hash-to-G1 signature)."""
        ...

    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's `sign_digest` signature over `digest`."""
        ...


Signers = Mapping[CurveType, Signer]
"""The executor's signing keys by curve: an ECDSA and/or a BN254 signer (operator.signingKeys)."""
