"""Keystore checksum/MAC, IV, secret size, control-character and field-spelling rules of the Go tooling."""

from __future__ import annotations

import copy

import pytest
from hourglass_executor.signing.keystore import (
    KeystoreError,
    WrongPasswordError,
    decrypt_eip2335,
    decrypt_web3_v3,
)

from tests.support.golden import BLS_KEYSTORE, ECDSA_KEYSTORE
from tests.support.keystores import eip2335_by_steps, v3_by_steps

pytestmark = pytest.mark.unit

# Golden keystores written by crypto-libs v0.0.4 (EIP-2335, BN254) and go-ethereum v1.15.11 (v3).
BLS_PASSWORD: str = BLS_KEYSTORE["password"]  # "hourglass-test-password"
BLS_SECRET = bytes.fromhex(BLS_KEYSTORE["privateKey"])
ECDSA_SECRET = bytes.fromhex(ECDSA_KEYSTORE["privateKey"])
PBKDF2_C1000 = {"c": 1000, "dklen": 32, "prf": "hmac-sha256", "salt": bytes(range(32)).hex()}


@pytest.mark.parametrize("control", ["\x1f", "\x7f", "\x80", "\x9f", "\x00"])
def test_eip2335_passwords_lose_every_c0_c1_and_del_character(control: str) -> None:
    # EIP-2335 (and crypto-libs' processPassword) strips 0x00-0x1F, 0x7F and 0x80-0x9F, boundaries included.
    password = BLS_PASSWORD[:9] + control + BLS_PASSWORD[9:]
    assert decrypt_eip2335(BLS_KEYSTORE["keystore"], password) == BLS_SECRET


def test_a_checksum_differing_only_in_its_last_byte_is_a_wrong_password() -> None:
    document = copy.deepcopy(BLS_KEYSTORE["keystore"])
    checksum = bytearray.fromhex(document["crypto"]["checksum"]["message"])
    checksum[-1] ^= 1
    document["crypto"]["checksum"]["message"] = checksum.hex()
    with pytest.raises(WrongPasswordError):
        decrypt_eip2335(document, BLS_PASSWORD)


@pytest.mark.parametrize("size", [15, 17])
def test_an_iv_that_is_not_16_bytes_is_a_keystore_error(size: int) -> None:
    # The IV is not covered by the checksum, so the password still verifies: the IV itself is refused.
    document = copy.deepcopy(BLS_KEYSTORE["keystore"])
    document["crypto"]["cipher"]["params"]["iv"] = "ab" * size
    with pytest.raises(KeystoreError, match=f"iv must be 16 bytes, got {size}"):
        decrypt_eip2335(document, BLS_PASSWORD)
    v3 = copy.deepcopy(ECDSA_KEYSTORE["keystore"])
    v3["crypto"]["cipherparams"]["iv"] = "ab" * size
    with pytest.raises(KeystoreError, match=f"iv must be 16 bytes, got {size}"):
        decrypt_web3_v3(v3, ECDSA_KEYSTORE["password"])


def test_the_ctr_counter_carries_across_all_128_bits() -> None:
    # An IV whose low 64 bits are all ones: the second block's counter carries into the high half.
    iv = bytes(8) + b"\xff" * 8
    document = eip2335_by_steps(BLS_SECRET, "carry", "pbkdf2", PBKDF2_C1000, iv)
    assert decrypt_eip2335(document, "carry") == BLS_SECRET


def test_an_eip2335_keystore_with_an_empty_secret_is_refused() -> None:
    with pytest.raises(KeystoreError, match="secret is 0 bytes"):
        decrypt_eip2335(eip2335_by_steps(b"", "empty", "pbkdf2", PBKDF2_C1000, bytes(range(16))), "empty")


def test_a_v3_keystore_whose_secret_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(KeystoreError, match="secret is 31 bytes, not a 32-byte key"):
        decrypt_web3_v3(v3_by_steps(ECDSA_SECRET[1:], "short"), "short")
    assert decrypt_web3_v3(v3_by_steps(ECDSA_SECRET, "full"), "full") == ECDSA_SECRET


@pytest.mark.parametrize("spelling", ["BN254", "Bn254"])
def test_the_curve_type_is_matched_without_case_as_crypto_libs_does(spelling: str) -> None:
    # crypto-libs GetSigningSchemeForCurveType switches on strings.ToLower(curveType).
    document = copy.deepcopy(BLS_KEYSTORE["keystore"])
    document["curveType"] = spelling
    assert decrypt_eip2335(document, BLS_PASSWORD) == BLS_SECRET


def test_a_v3_keystore_spelling_crypto_with_a_capital_opens() -> None:
    # go-ethereum decodes JSON object keys case-insensitively; some wallets write "Crypto".
    document = copy.deepcopy(ECDSA_KEYSTORE["keystore"])
    document["Crypto"] = document.pop("crypto")
    assert decrypt_web3_v3(document, ECDSA_KEYSTORE["password"]) == ECDSA_SECRET
