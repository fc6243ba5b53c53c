"""keccak256, the Ethereum hash (the original Keccak padding, not NIST SHA3-256).

Computed by pycryptodome's Keccak in one call of its C library (`keccak_oneshot`) when that entry
point is there: a task's signatures hash eight times, and the one-shot call is about three times
faster than building a hash object. Other pycryptodome versions fall back to `keccak.new`.
"""

from __future__ import annotations

from Crypto.Hash import keccak

DIGEST_SIZE = 32
_CAPACITY_BYTES, _ROUNDS, _KECCAK_PADDING = 64, 24, 0x01

try:
    from Crypto.Util._raw_api import create_string_buffer, get_raw_buffer

    _oneshot = keccak._raw_keccak_lib.keccak_oneshot
except (ImportError, AttributeError):  # pragma: no cover - depends on the pycryptodome build
    _oneshot = None


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """Return the 32-byte keccak256 digest of `data`."""
    data = bytes(data)
    if _oneshot is None:  # pragma: no cover
        return keccak.new(digest_bits=256, data=data).digest()
    out = create_string_buffer(DIGEST_SIZE)
    if _oneshot(data, len(data), out, DIGEST_SIZE, _CAPACITY_BYTES, _ROUNDS, _KECCAK_PADDING):
        raise ValueError("keccak256 failed in pycryptodome's Keccak library")
    return get_raw_buffer(out)
