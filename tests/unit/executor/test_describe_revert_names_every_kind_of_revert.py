"""describe_revert: Error(string) decoded, custom errors named, unknown data shown up to 68 bytes."""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak
from eth_abi import encode
from hourglass_executor.chain.contracts import describe_revert

pytestmark = pytest.mark.unit


def selector(signature: str) -> bytes:
    return keccak.new(digest_bits=256, data=signature.encode()).digest()[:4]


def test_error_string_is_decoded() -> None:
    # Solidity's require(false, "...") reverts with Error(string): selector 0x08c379a0 and the ABI string.
    assert selector("Error(string)").hex() == "08c379a0"
    data = selector("Error(string)") + encode(["string"], ["operator set not configured"])
    assert describe_revert("KeyRegistrar", data) == "Error('operator set not configured')"


def test_a_known_custom_error_is_named_with_its_arguments_or_alone_when_they_do_not_decode() -> None:
    operator = "0x" + "11" * 20
    key_not_found = selector("KeyNotFound((address,uint32),address)")
    arguments = encode(["(address,uint32)", "address"], [("0x" + "22" * 20, 7), operator])
    described = describe_revert("KeyRegistrar", key_not_found + arguments)
    assert described.startswith("KeyNotFound(") and operator in described.lower() and ", 7)" in described
    assert describe_revert("KeyRegistrar", key_not_found + arguments[:40]) == "KeyNotFound"


def test_unknown_revert_data_is_shown_up_to_68_bytes() -> None:
    data = bytes.fromhex("deadbeef") + bytes(range(100))
    assert describe_revert("KeyRegistrar", data) == "revert data 0x" + data[:68].hex()
    assert describe_revert("KeyRegistrar", b"") == "no reason given"
    assert describe_revert("KeyRegistrar", b"\x01\x02") == "revert data 0x0102"
