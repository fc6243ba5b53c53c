"""Signing primitives at their boundaries: the low-s edge, the public key, address forms, word widths."""

from __future__ import annotations

import pytest
from eth_account.messages import encode_typed_data
from hourglass_executor.signing import keccak256
from hourglass_executor.signing.address import to_checksum_address, to_lower_address
from hourglass_executor.signing.ecdsa import EcdsaSigner, recover_address, signed_by
from hourglass_executor.signing.layouts import auth_message, eip712_domain_separator

from tests.support import curve_math
from tests.support.golden import VECTORS

pytestmark = pytest.mark.unit

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = 2**256 - 2**32 - 977
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
GOLDEN_KEY = VECTORS["ecdsa"]["keys"][0]  # go-ethereum's key and address
TASK_ID = "0x" + "ab" * 32
AVS = "0x" + "11" * 20
OPERATOR = "0x" + "22" * 20


def _point_address(point: tuple[int, int]) -> str:
    return to_checksum_address(keccak256(point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big"))[-20:])


def _slow_recover(digest: bytes, r: int, s: int, odd: int) -> str:
    """SEC 1 §4.1.6 public key recovery, textbook arithmetic."""
    y = pow((r**3 + 7) % P, (P + 1) // 4, P)
    big_r = (r, y if y % 2 == odd else P - y)
    z = int.from_bytes(digest, "big")
    r_inv = pow(r, -1, N)
    q = curve_math.add(
        curve_math.multiply(big_r, s * r_inv % N, P), curve_math.multiply(G, -z * r_inv % N, P), P
    )
    assert q is not None
    return _point_address(q)


def test_an_s_of_exactly_half_the_order_is_low_and_recovers() -> None:
    # EIP-2 and OpenZeppelin's ECDSA.tryRecover accept s <= n/2 (0x7FFF...20A0): the boundary is valid.
    digest = keccak256(b"the low-s boundary")
    r, s = G[0], N // 2
    assert hex(s) == "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
    for v in (27, 28):
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
        expected = _slow_recover(digest, r, s, v - 27)
        assert recover_address(digest, signature) == expected
        assert signed_by(digest, signature, expected)


def test_the_public_key_is_the_64_byte_x_y_of_the_key_times_g() -> None:
    signer = EcdsaSigner(GOLDEN_KEY["privateKey"])
    x, y = curve_math.multiply(G, int(GOLDEN_KEY["privateKey"], 16), P)
    assert signer.public_key == x.to_bytes(32, "big") + y.to_bytes(32, "big")
    assert _point_address((x, y)) == GOLDEN_KEY["address"] == signer.address


@pytest.mark.parametrize("address", ["", "0x1234", "not an address", "0x" + "g" * 40])
def test_signed_by_a_malformed_address_is_false(address: str) -> None:
    signer = EcdsaSigner(GOLDEN_KEY["privateKey"])
    digest = keccak256(b"message")
    assert signed_by(digest, signer.sign_digest(digest), address) is False


@pytest.mark.parametrize("size", [0, 19, 21, 32])
def test_addresses_of_the_wrong_size_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match=f"an address is 20 bytes, got {size}"):
        to_checksum_address(bytes(size))
    with pytest.raises(ValueError, match=f"an address is 20 bytes, got {size}"):
        to_lower_address(bytes(size))


def test_the_lower_case_form_is_lower_case() -> None:
    checksummed = GOLDEN_KEY["address"]  # mixed case (EIP-55)
    assert to_lower_address(checksummed) == checksummed.lower()
    assert to_lower_address(bytes.fromhex(checksummed[2:])) == checksummed.lower()


@pytest.mark.parametrize("operator_set_id", [-1, 1 << 32])
def test_the_auth_layout_refuses_an_operator_set_id_beyond_uint32(operator_set_id: int) -> None:
    with pytest.raises(ValueError, match=r"operator set id must be an integer in \[0, 2\^32\)"):
        auth_message(TASK_ID, AVS, OPERATOR, operator_set_id, b"\x01" * 65)
    assert len(auth_message(TASK_ID, AVS, OPERATOR, (1 << 32) - 1, b"\x01" * 65)) == 160


@pytest.mark.parametrize("chain_id", [1, 1 << 64, (1 << 256) - 1])
def test_the_eip712_domain_separator_takes_any_uint256_chain_id(chain_id: int) -> None:
    # Reference: eth-account's EIP-712 implementation (the header of a typed-data message).
    domain = {"name": "Verifier", "version": "1", "chainId": chain_id, "verifyingContract": AVS}
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Empty": [],
            },
            "primaryType": "Empty",
            "domain": domain,
            "message": {},
        }
    )
    assert eip712_domain_separator("Verifier", "1", chain_id, AVS) == message.header
