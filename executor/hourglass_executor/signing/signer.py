"""The `Signer` protocol every signing backend implements (in-process ECDSA now; BN254 and remote later)."""

from __future__ import annotations

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

    @property
    def address(self) -> str:
        """The EIP-55 address identifying the key."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """The signature over `digest` in the curve's wire format (ECDSA: 65 bytes R‖S‖V, V 27/28)."""
        ...
