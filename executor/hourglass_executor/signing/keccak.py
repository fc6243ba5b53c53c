"""keccak256, the Ethereum hash (the original Keccak padding, not NIST SHA3-256), through
pycryptodome's public `Crypto.Hash.keccak` API."""

from __future__ import annotations

from Crypto.Hash import keccak

DIGEST_SIZE = 32


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """Return the 32-byte keccak256 digest of `data`."""
    return keccak.new(digest_bits=256, data=data).digest()
