"""Decrypting the key files the Go tooling writes: BN254 keys in crypto-libs' EIP-2335 keystores and
ECDSA keys in Ethereum Web3 Secret Storage v3 keystores (go-ethereum's `keystore` package).

EIP-2335 (crypto-libs v0.0.4 `pkg/keystore`): `crypto.kdf` is scrypt or pbkdf2 (hmac-sha256) with
crypto-libs' parameter bounds, `crypto.checksum` is sha256(DK[16:32] ‖ ciphertext), `crypto.cipher`
is aes-128-ctr keyed with DK[0:16]; the password is NFKD-normalised and stripped of control
characters (C0, C1, DEL) first; crypto-libs adds `curveType` ("bn254" or "bls381"). The secret is
the scalar's minimal big-endian bytes, returned here left-padded to 32 bytes.

Web3 v3: `crypto` (or `Crypto`) with `kdf` scrypt or pbkdf2 and `kdfparams`, `cipher` aes-128-ctr
with `cipherparams.iv`, `mac` = keccak256(DK[16:32] ‖ ciphertext); the password is used as UTF-8
bytes as is; the secret is exactly 32 bytes.

Errors are `KeystoreError`s whose messages say what is wrong with the file (`WrongPasswordError` for
a password that does not open it, `InvalidPasswordError` for one that is not Unicode text UTF-8 can
encode, e.g. an environment variable of bytes that are not UTF-8); they never contain the password
(nor any of its characters), the derived key or the secret.
"""

from __future__ import annotations

import hmac
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import PBKDF2, scrypt

from .keccak import keccak256

SECRET_SIZE = 32
DERIVED_KEY_SIZE = 32
MAX_SCRYPT_MEMORY = 1 << 30  # bytes (128·N·r), crypto-libs' bound; also applied to v3 files


class KeystoreError(ValueError):
    """A keystore that cannot be used: malformed, unsupported, for another curve, or a wrong password."""


class WrongPasswordError(KeystoreError):
    """The password does not open the keystore (its checksum or MAC does not match)."""


class InvalidPasswordError(KeystoreError):
    """The password cannot be encoded as UTF-8: it holds a lone surrogate (Python's stand-in for a
    byte that is not UTF-8, e.g. in an environment variable)."""


def _utf8(password: str) -> bytes:
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        # The error's text would show the offending character: a part of the password.
        raise InvalidPasswordError("the password is not valid UTF-8 text") from None


def parse_keystore(text: str) -> dict[str, Any]:
    """The JSON object of a keystore file's text."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise KeystoreError(f"not JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except ValueError:  # an integer of more digits than int() reads (4300)
        raise KeystoreError("not a keystore: it holds an integer of thousands of digits") from None
    if not isinstance(document, dict):
        raise KeystoreError("a keystore is a JSON object")
    return document


def _field(container: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = container.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = {str: "a string", dict: "an object", int: "an integer"}.get(kind, kind.__name__)
        raise KeystoreError(f"{where}{name} must be {expected}")
    return value


def _hex(container: Mapping[str, Any], name: str, where: str) -> bytes:
    text = _field(container, name, str, where)
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise KeystoreError(f"{where}{name} must be hexadecimal") from None


def _integer(params: Mapping[str, Any], name: str, where: str) -> int:
    value = params.get(name)
    # JSON numbers: Go decodes them as float64, so 262144.0 is accepted as well.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise KeystoreError(f"{where}{name} must be an integer")
    return value


def _in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise KeystoreError(f"{what} must be between {low} and {high}, got {value}")
    return value


def _scrypt(password: bytes, params: Mapping[str, Any], where: str, *, eip2335: bool) -> bytes:
    salt = _hex(params, "salt", where)
    n, r, p = (_integer(params, name, where) for name in ("n", "r", "p"))
    dklen = _integer(params, "dklen", where)
    if eip2335:  # crypto-libs' bounds
        _in_range(len(salt), 16, 64, f"{where}salt length")
        _in_range(n, 1024, 1 << 20, f"{where}n")
        _in_range(r, 1, 32, f"{where}r")
        _in_range(p, 1, 16, f"{where}p")
    else:
        _in_range(r, 1, 1 << 16, f"{where}r")
        _in_range(p, 1, 1 << 16, f"{where}p")
    if n < 2 or n & (n - 1):
        raise KeystoreError(f"{where}n must be a power of 2, got {n}")
    if 128 * n * r > MAX_SCRYPT_MEMORY:
        raise KeystoreError(
            f"{where}n and r need {128 * n * r} bytes of memory, more than {MAX_SCRYPT_MEMORY}"
        )
    if dklen != DERIVED_KEY_SIZE:
        raise KeystoreError(f"{where}dklen must be {DERIVED_KEY_SIZE}, got {dklen}")
    return scrypt(password, salt, DERIVED_KEY_SIZE, N=n, r=r, p=p)


def _pbkdf2(password: bytes, params: Mapping[str, Any], where: str, *, eip2335: bool) -> bytes:
    salt = _hex(params, "salt", where)
    count = _integer(params, "c", where)
    dklen = _integer(params, "dklen", where)
    if params.get("prf") != "hmac-sha256":
        raise KeystoreError(f"{where}prf must be hmac-sha256")
    if eip2335:
        _in_range(len(salt), 16, 64, f"{where}salt length")
        _in_range(count, 1000, 10_000_000, f"{where}c")
    else:
        _in_range(count, 1, 10_000_000, f"{where}c")
    if dklen != DERIVED_KEY_SIZE:
        raise KeystoreError(f"{where}dklen must be {DERIVED_KEY_SIZE}, got {dklen}")
    return PBKDF2(password, salt, DERIVED_KEY_SIZE, count=count, hmac_hash_module=SHA256)


def _derive(
    function: object, password: bytes, params: Mapping[str, Any], where: str, *, eip2335: bool
) -> bytes:
    if function == "scrypt":
        return _scrypt(password, params, where, eip2335=eip2335)
    if function == "pbkdf2":
        return _pbkdf2(password, params, where, eip2335=eip2335)
    raise KeystoreError(f"unsupported key derivation function {function!r} (scrypt or pbkdf2)")


def _aes_128_ctr(key: bytes, iv: bytes, data: bytes, where: str) -> bytes:
    if len(iv) != 16:
        raise KeystoreError(f"{where}iv must be 16 bytes, got {len(iv)}")
    return AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv).decrypt(data)


# --- EIP-2335 (crypto-libs) -------------------------------------------------------------------------


def eip2335_password(password: str) -> bytes:
    """EIP-2335 password processing as crypto-libs does it: NFKD, then drop C0, C1 and DEL."""
    normalized = unicodedata.normalize("NFKD", password)
    return _utf8("".join(c for c in normalized if not (ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F)))


def decrypt_eip2335(keystore: Mapping[str, Any], password: str, curve: str = "bn254") -> bytes:
    """The 32-byte secret of an EIP-2335 keystore written for `curve` (crypto-libs' curveType)."""
    curve_type = keystore.get("curveType")
    if curve_type not in (None, "") and (not isinstance(curve_type, str) or curve_type.lower() != curve):
        raise KeystoreError(f"the keystore is for curve {curve_type!r}, not {curve}")
    if not keystore.get("pubkey"):
        raise KeystoreError("not an EIP-2335 keystore: pubkey is missing")
    crypto = _field(keystore, "crypto", dict, "")
    kdf = _field(crypto, "kdf", dict, "crypto.")
    checksum = _field(crypto, "checksum", dict, "crypto.")
    cipher = _field(crypto, "cipher", dict, "crypto.")
    if checksum.get("function") != "sha256":
        raise KeystoreError(f"unsupported checksum function {checksum.get('function')!r} (sha256)")
    if cipher.get("function") != "aes-128-ctr":
        raise KeystoreError(f"unsupported cipher {cipher.get('function')!r} (aes-128-ctr)")
    ciphertext = _hex(cipher, "message", "crypto.cipher.")
    expected = _hex(checksum, "message", "crypto.checksum.")
    cipher_params = _field(cipher, "params", dict, "crypto.cipher.")
    iv = _hex(cipher_params, "iv", "crypto.cipher.params.")
    params = _field(kdf, "params", dict, "crypto.kdf.")
    derived = _derive(
        kdf.get("function"), eip2335_password(password), params, "crypto.kdf.params.", eip2335=True
    )
    if not hmac.compare_digest(SHA256.new(derived[16:32] + ciphertext).digest(), expected):
        raise WrongPasswordError("wrong password for the keystore")
    secret = _aes_128_ctr(derived[:16], iv, ciphertext, "crypto.cipher.params.")
    if not 0 < len(secret) <= SECRET_SIZE:
        raise KeystoreError(
            f"the keystore's secret is {len(secret)} bytes, not a key of at most {SECRET_SIZE}"
        )
    return secret.rjust(SECRET_SIZE, b"\x00")


# --- Web3 Secret Storage v3 (go-ethereum) -----------------------------------------------------------


def decrypt_web3_v3(keystore: Mapping[str, Any], password: str) -> bytes:
    """The 32-byte secp256k1 secret of a version-3 Ethereum keystore."""
    version = keystore.get("version")
    if version != 3 or isinstance(version, bool):
        raise KeystoreError(f"not an Ethereum v3 keystore: version must be 3, got {version!r}")
    # go-ethereum decodes JSON keys case-insensitively; some wallets write "Crypto".
    crypto = keystore.get("crypto", keystore.get("Crypto"))
    if not isinstance(crypto, dict):
        raise KeystoreError("crypto must be an object")
    if crypto.get("cipher") != "aes-128-ctr":
        raise KeystoreError(f"unsupported cipher {crypto.get('cipher')!r} (aes-128-ctr)")
    ciphertext = _hex(crypto, "ciphertext", "crypto.")
    mac = _hex(crypto, "mac", "crypto.")
    iv = _hex(_field(crypto, "cipherparams", dict, "crypto."), "iv", "crypto.cipherparams.")
    params = _field(crypto, "kdfparams", dict, "crypto.")
    derived = _derive(crypto.get("kdf"), _utf8(password), params, "crypto.kdfparams.", eip2335=False)
    if not hmac.compare_digest(keccak256(derived[16:32] + ciphertext), mac):
        raise WrongPasswordError("wrong password for the keystore")
    secret = _aes_128_ctr(derived[:16], iv, ciphertext, "crypto.cipherparams.")
    if len(secret) != SECRET_SIZE:
        raise KeystoreError(f"the keystore's secret is {len(secret)} bytes, not a {SECRET_SIZE}-byte key")
    return secret
