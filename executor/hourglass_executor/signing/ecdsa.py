"""secp256k1 ECDSA the Ethereum way: a private-key `EcdsaSigner`, 65-byte R‖S‖V signatures, address recovery.

Signatures produced here always have a low `s` (libsecp256k1 normalises it). `recover_address` rejects a
high `s` (s > n/2) as malformed, as EIP-2 and OpenZeppelin's ECDSA library (used by the on-chain
certificate verifiers) do; go-ethereum and Web3Signer never produce one.
"""

from __future__ import annotations

import hmac
from typing import ClassVar

import coincurve

from hourglass_executor.validation import is_private_key_hex

from .address import is_address, parse_address, to_checksum_address
from .keccak import keccak256
from .signer import ECDSA, CurveType

SIGNATURE_SIZE = 65
DIGEST_SIZE = 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2


class SignatureError(ValueError):
    """A signature that cannot be a valid 65-byte secp256k1 signature, or that recovers to no key."""


def _check_digest(digest: bytes) -> bytes:
    if not isinstance(digest, bytes | bytearray | memoryview) or len(digest) != DIGEST_SIZE:
        raise ValueError(f"a digest is {DIGEST_SIZE} bytes")
    return bytes(digest)


def address_bytes_of_public_key(public_key: coincurve.PublicKey) -> bytes:
    """The 20-byte address of a public key: the last 20 bytes of keccak256 of the 64-byte X‖Y."""
    return keccak256(public_key.format(compressed=False)[1:])[-20:]


class EcdsaSigner:
    """Signs digests with an in-memory secp256k1 private key. The key never appears in reprs or errors."""

    __slots__ = ("_address", "_address_bytes", "_key")
    curve: ClassVar[CurveType] = ECDSA

    def __init__(self, private_key: str | bytes) -> None:
        if isinstance(private_key, str):
            text = private_key.strip()
            if not is_private_key_hex(text):
                raise ValueError("an ECDSA private key is 64 hex digits, optionally prefixed with 0x")
            secret = bytes.fromhex(text.removeprefix("0x"))
        elif isinstance(private_key, bytes | bytearray) and len(private_key) == 32:
            secret = bytes(private_key)
        else:
            raise ValueError("an ECDSA private key is 32 bytes")
        if not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            raise ValueError("an ECDSA private key must be between 1 and the secp256k1 group order - 1")
        self._key = coincurve.PrivateKey(secret)
        self._address_bytes = address_bytes_of_public_key(self._key.public_key)
        self._address = to_checksum_address(self._address_bytes)

    @property
    def address(self) -> str:
        """The EIP-55 checksummed address."""
        return self._address

    @property
    def address_lower(self) -> str:
        return self._address.lower()

    @property
    def public_key(self) -> bytes:
        """The 64-byte uncompressed public key X‖Y (no 0x04 prefix)."""
        return self._key.public_key.format(compressed=False)[1:]

    def sign_digest(self, digest: bytes) -> bytes:
        """65 bytes R‖S‖V over the 32-byte `digest` (not hashed again), V 27 or 28, s low."""
        signature = self._key.sign_recoverable(_check_digest(digest), hasher=None)
        return signature[:64] + bytes([signature[64] + 27])

    def sign_certificate_digest(self, digest: bytes) -> bytes:
        """The certificate signature: ECDSA certificate verifiers check a plain `sign_digest`."""
        return self.sign_digest(digest)

    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        """True when `signature` over `digest` recovers to this key's address (False when malformed)."""
        try:
            return hmac.compare_digest(recover_address_bytes(digest, signature), self._address_bytes)
        except SignatureError:
            return False

    def __repr__(self) -> str:
        return f"EcdsaSigner(address={self._address})"


def _split_signature(signature: bytes) -> tuple[bytes, int]:
    """(R‖S, recovery id 0/1) of a 65-byte signature, or SignatureError saying what is wrong."""
    if not isinstance(signature, bytes | bytearray | memoryview):
        raise SignatureError("a signature must be bytes")
    signature = bytes(signature)
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"a signature is {SIGNATURE_SIZE} bytes (R‖S‖V), got {len(signature)}")
    v = signature[64]
    if v not in (0, 1, 27, 28):
        raise SignatureError(f"signature V must be 0, 1, 27 or 28, got {v}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise SignatureError("signature R is out of range")
    if not 0 < s <= _HALF_N:
        raise SignatureError("signature S is out of range (zero or not in the low half of the curve order)")
    return signature[:64], v - 27 if v >= 27 else v


def recover_address_bytes(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address whose key made `signature` (65 bytes R‖S‖V, V 0/1 or 27/28) over `digest`
    (no EIP-55 formatting: what hot paths compare)."""
    digest = _check_digest(digest)
    rs, recovery_id = _split_signature(signature)
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            rs + bytes([recovery_id]), digest, hasher=None
        )
    except ValueError as exc:
        raise SignatureError("signature does not recover to a public key") from exc
    return address_bytes_of_public_key(public_key)


def recover_address(digest: bytes, signature: bytes) -> str:
    """The EIP-55 address whose key made `signature` (65 bytes R‖S‖V, V 0/1 or 27/28) over `digest`."""
    return to_checksum_address(recover_address_bytes(digest, signature))


def signed_by(digest: bytes, signature: bytes, address: str) -> bool:
    """True when `signature` over `digest` recovers to `address`; SignatureError when it is malformed."""
    return is_address(address) and hmac.compare_digest(
        recover_address_bytes(digest, signature), parse_address(address)
    )
