"""Keystore checksum/MAC, IV, secret size, control-character and field-spelling rules of the Go tooling."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import PBKDF2
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.keystore import (
    KeystoreError,
    WrongPasswordError,
    decrypt_eip2335,
    decrypt_web3_v3,
)

from tests.support.golden import BLS_KEYSTORE, ECDSA_KEYSTORE

pytestmark = pytest.mark.unit

# Golden keystores written by crypto-libs v0.0.4 (EIP-2335, BN254) and go-ethereum v1.15.11 (v3).
BLS_PASSWORD: str = BLS_KEYSTORE["password"]  # "hourglass-test-password"
BLS_SECRET = bytes.fromhex(BLS_KEYSTORE["privateKey"])
ECDSA_SECRET = bytes.fromhex(ECDSA_KEYSTORE["privateKey"])


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR of NIST SP 800-38A (Go's cipher.NewCTR): the whole 128-bit block is the counter."""
    ecb = AES.new(key, AES.MODE_ECB)
    counter = int.from_bytes(iv, "big")
    blocks = (len(data) + 15) // 16
    stream = b"".join(ecb.encrypt(((counter + i) % (1 << 128)).to_bytes(16, "big")) for i in range(blocks))
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def _pbkdf2_eip2335(secret: bytes, password: str, iv: bytes) -> dict[str, Any]:
    """An EIP-2335 keystore made by the specification's steps (ASCII password, pbkdf2, c = 1000)."""
    salt = bytes(range(32))
    key = PBKDF2(password.encode(), salt, 32, count=1000, hmac_hash_module=SHA256)
    ciphertext = _ctr(key[:16], iv, secret)
    params = {"c": 1000, "dklen": 32, "prf": "hmac-sha256", "salt": salt.hex()}
    return {
        "crypto": {
            "kdf": {"function": "pbkdf2", "params": params, "message": ""},
            "checksum": {
                "function": "sha256",
                "params": {},
                "message": SHA256.new(key[16:] + ciphertext).hexdigest(),
            },
            "cipher": {"function": "aes-128-ctr", "params": {"iv": iv.hex()}, "message": ciphertext.hex()},
        },
        "pubkey": "00",
        "curveType": "bn254",
        "version": 4,
    }


def _pbkdf2_v3(secret: bytes, password: str) -> dict[str, Any]:
    """A Web3 Secret Storage v3 keystore made by the definition's steps (pbkdf2, c = 1)."""
    salt, iv = bytes(range(32)), bytes(range(16))
    key = PBKDF2(password.encode(), salt, 32, count=1, hmac_hash_module=SHA256)
    ciphertext = _ctr(key[:16], iv, secret)
    return {
        "version": 3,
        "crypto": {
            "cipher": "aes-128-ctr",
            "ciphertext": ciphertext.hex(),
            "cipherparams": {"iv": iv.hex()},
            "kdf": "pbkdf2",
            "kdfparams": {"c": 1, "dklen": 32, "prf": "hmac-sha256", "salt": salt.hex()},
            "mac": keccak256(key[16:] + ciphertext).hex(),
        },
    }


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
    document = _pbkdf2_eip2335(BLS_SECRET, "carry", iv)
    assert decrypt_eip2335(document, "carry") == BLS_SECRET


def test_an_eip2335_keystore_with_an_empty_secret_is_refused() -> None:
    with pytest.raises(KeystoreError, match="secret is 0 bytes"):
        decrypt_eip2335(_pbkdf2_eip2335(b"", "empty", bytes(range(16))), "empty")


def test_a_v3_keystore_whose_secret_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(KeystoreError, match="secret is 31 bytes, not a 32-byte key"):
        decrypt_web3_v3(_pbkdf2_v3(ECDSA_SECRET[1:], "short"), "short")
    assert decrypt_web3_v3(_pbkdf2_v3(ECDSA_SECRET, "full"), "full") == ECDSA_SECRET


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
