"""Keystore KDF parameters outside crypto-libs' (and our v3) bounds are refused before the KDF runs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hourglass_executor.signing import keystore as keystore_module
from hourglass_executor.signing.keystore import KeystoreError, decrypt_eip2335, decrypt_web3_v3

from tests.support.golden import BLS_KEYSTORE, ECDSA_KEYSTORE
from tests.support.keystores import eip2335_by_steps

pytestmark = pytest.mark.unit

# The bounds are crypto-libs v0.0.4 pkg/keystore `deriveKeyFromPassword`: salt 16..64 bytes; scrypt
# N a power of 2 in [1024, 2^20], r in [1, 32], p in [1, 16], 128·N·r at most 1 GiB; pbkdf2 prf
# hmac-sha256, c in [1000, 10^7]; dklen 32 for both.
SCRYPT_BN254 = BLS_KEYSTORE["keystore"]
PBKDF2_PARAMS = {"c": 262144, "dklen": 32, "prf": "hmac-sha256", "salt": "11" * 32}


@pytest.fixture
def no_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused parameters must never reach the (expensive, memory-hungry) KDF."""

    def refuse(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("the KDF ran for parameters that must be refused first")

    monkeypatch.setattr(keystore_module, "scrypt", refuse)
    monkeypatch.setattr(keystore_module, "PBKDF2", refuse)


def eip2335_with(params: dict[str, Any], function: str = "scrypt") -> dict[str, Any]:
    document = copy.deepcopy(SCRYPT_BN254)
    document["crypto"]["kdf"] = {"function": function, "params": params, "message": ""}
    return document


def scrypt_params(**changes: Any) -> dict[str, Any]:
    params = dict(SCRYPT_BN254["crypto"]["kdf"]["params"])
    params.update(changes)
    return params


def pbkdf2_params(**changes: Any) -> dict[str, Any]:
    params = dict(PBKDF2_PARAMS)
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


@pytest.mark.usefixtures("no_kdf")
@pytest.mark.parametrize(
    ("params", "function", "message"),
    [
        (scrypt_params(r=33), "scrypt", "r must be between 1 and 32, got 33"),
        (scrypt_params(p=17), "scrypt", "p must be between 1 and 16, got 17"),
        (scrypt_params(n=1536), "scrypt", "n must be a power of 2, got 1536"),
        (scrypt_params(n=512), "scrypt", "n must be between 1024 and 1048576, got 512"),
        (scrypt_params(salt="22" * 65), "scrypt", "salt length must be between 16 and 64, got 65"),
        (scrypt_params(salt="22" * 15), "scrypt", "salt length must be between 16 and 64, got 15"),
        (scrypt_params(dklen=16), "scrypt", "dklen must be 32, got 16"),
        # 128·2^20·9 bytes: 1.125 GiB, over the 1 GiB limit although n and r are each in range.
        (scrypt_params(n=1 << 20, r=9), "scrypt", "need 1207959552 bytes of memory, more than 1073741824"),
        (pbkdf2_params(c=999), "pbkdf2", "c must be between 1000 and 10000000, got 999"),
        (pbkdf2_params(c=10_000_001), "pbkdf2", "c must be between 1000 and 10000000, got 10000001"),
        (pbkdf2_params(salt="22" * 15), "pbkdf2", "salt length must be between 16 and 64, got 15"),
        (pbkdf2_params(prf=None), "pbkdf2", "prf must be hmac-sha256"),
        (pbkdf2_params(prf="hmac-sha512"), "pbkdf2", "prf must be hmac-sha256"),
        (pbkdf2_params(dklen=64), "pbkdf2", "dklen must be 32, got 64"),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else None,
)
def test_eip2335_parameters_crypto_libs_refuses_are_refused(
    params: dict[str, Any], function: str, message: str
) -> None:
    with pytest.raises(KeystoreError, match=message):
        decrypt_eip2335(eip2335_with(params, function), BLS_KEYSTORE["password"])


@pytest.mark.usefixtures("no_kdf")
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"p": (1 << 16) + 1}, "p must be between 1 and 65536, got 65537"),
        ({"r": (1 << 16) + 1}, "r must be between 1 and 65536, got 65537"),
        ({"n": 3 << 10}, "n must be a power of 2, got 3072"),
        ({"dklen": 16}, "dklen must be 32, got 16"),
    ],
)
def test_v3_scrypt_parameters_out_of_bounds_are_refused(changes: dict[str, int], message: str) -> None:
    document = copy.deepcopy(ECDSA_KEYSTORE["keystore"])
    document["crypto"]["kdfparams"].update(changes)
    with pytest.raises(KeystoreError, match=message):
        decrypt_web3_v3(document, ECDSA_KEYSTORE["password"])


@pytest.mark.parametrize(
    ("function", "params"),
    [
        ("scrypt", {"dklen": 32, "n": 1024, "r": 32, "p": 1, "salt": "33" * 64}),
        ("scrypt", {"dklen": 32, "n": 1024, "r": 1, "p": 16, "salt": "33" * 16}),
        ("pbkdf2", {"dklen": 32, "c": 1000, "prf": "hmac-sha256", "salt": "33" * 16}),
    ],
)
def test_eip2335_parameters_at_crypto_libs_bounds_are_accepted(function: str, params: dict[str, Any]) -> None:
    secret = bytes.fromhex("0365f51190aaec9e9f3b2b19195152e8d50ad4dc867b7463334b6c73f9761a9b")
    document = eip2335_by_steps(secret, "bounds", function, params)
    assert decrypt_eip2335(document, "bounds") == secret
