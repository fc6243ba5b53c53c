"""Ethereum addresses: strict parsing of "0x" + 40 hex, EIP-55 checksums, case-insensitive equality.

Mixed-case input is accepted without checking its EIP-55 checksum, as go-ethereum does, so addresses
written by upstream tools always parse.
"""

from __future__ import annotations

import hmac

from hourglass_executor.validation import ADDRESS_SIZE, is_address

from .keccak import keccak256


def parse_address(value: object, what: str = "address") -> bytes:
    """The 20 bytes of `value`; ValueError (naming `what`) unless it is "0x" followed by 40 hex digits."""
    if not is_address(value):
        raise ValueError(f"{what} must be '0x' followed by 40 hex digits, got {value!r}")
    return bytes.fromhex(value[2:])


def to_checksum_address(address: bytes | str) -> str:
    """The EIP-55 mixed-case form of a 20-byte address (given as bytes or as a "0x" string)."""
    raw = parse_address(address) if isinstance(address, str) else bytes(address)
    if len(raw) != ADDRESS_SIZE:
        raise ValueError(f"an address is {ADDRESS_SIZE} bytes, got {len(raw)}")
    lower = raw.hex()
    nibbles = keccak256(lower.encode("ascii")).hex()[: len(lower)]
    return "0x" + "".join(c.upper() if int(n, 16) >= 8 else c for c, n in zip(lower, nibbles, strict=True))


def to_lower_address(address: bytes | str, what: str = "address") -> str:
    raw = parse_address(address, what) if isinstance(address, str) else bytes(address)
    if len(raw) != ADDRESS_SIZE:
        raise ValueError(f"an address is {ADDRESS_SIZE} bytes, got {len(raw)}")
    return "0x" + raw.hex()


def addresses_equal(a: str, b: str) -> bool:
    """True when both are well-formed and name the same address (case-insensitive, constant time)."""
    if not (is_address(a) and is_address(b)):
        return False
    return hmac.compare_digest(parse_address(a), parse_address(b))
