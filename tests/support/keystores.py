"""Writing signing-key keystores for tests, in the formats the executor reads
(hourglass_executor.signing.keystore): an EIP-2335 BN254 keystore as EigenLayer's crypto-libs writes
it, and an Ethereum v3 (Web3 Secret Storage) keystore as go-ethereum writes it (through eth-account).
Light scrypt parameters (n = 1024) keep them fast; the executor accepts any within its bounds.
Also both formats built step by step from their specifications with chosen KDF parameters, salt and
IV (`eip2335_by_steps`, `v3_by_steps`), for the edges the writers above never produce.
TEST KEYS ONLY.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
import uuid
from pathlib import Path

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import PBKDF2, scrypt
from eth_account import Account
from hourglass_executor.signing import bn254
from hourglass_executor.signing.keccak import keccak256

SCRYPT_N, SCRYPT_R, SCRYPT_P = 1024, 8, 1


def _eip2335_password(password: str) -> bytes:
    normalized = unicodedata.normalize("NFKD", password)
    return "".join(c for c in normalized if not (ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F)).encode()


def bn254_keystore(private_key: bytes, password: str) -> dict:
    """An EIP-2335 keystore of a BN254 key (curveType bn254, pubkey = the G2 key's gnark bytes)."""
    salt, iv = secrets.token_bytes(32), secrets.token_bytes(16)
    derived = scrypt(_eip2335_password(password), salt, 32, N=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    ciphertext = AES.new(derived[:16], AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(private_key)
    checksum = SHA256.new(derived[16:32] + ciphertext).hexdigest()
    return {
        "crypto": {
            "kdf": {
                "function": "scrypt",
                "params": {"dklen": 32, "n": SCRYPT_N, "p": SCRYPT_P, "r": SCRYPT_R, "salt": salt.hex()},
                "message": "",
            },
            "checksum": {"function": "sha256", "params": {}, "message": checksum},
            "cipher": {"function": "aes-128-ctr", "params": {"iv": iv.hex()}, "message": ciphertext.hex()},
        },
        "pubkey": bn254.public_key_g2(private_key).hex(),
        "path": "m/1/0/0",
        "uuid": str(uuid.uuid4()),
        "version": 4,
        "curveType": "bn254",
    }


def ecdsa_keystore(private_key: str, password: str) -> dict:
    """A v3 keystore of a secp256k1 key (hex)."""
    return Account.encrypt(private_key, password, kdf="scrypt", iterations=SCRYPT_N)


def write_keystore(path: Path, keystore: dict) -> Path:
    path.write_text(json.dumps(keystore))
    path.chmod(0o600)
    return path


def aes_128_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR of NIST SP 800-38A (Go's cipher.NewCTR): the whole 128-bit block is the counter."""
    ecb = AES.new(key, AES.MODE_ECB)
    counter = int.from_bytes(iv, "big")
    blocks = (len(data) + 15) // 16
    stream = b"".join(ecb.encrypt(((counter + i) % (1 << 128)).to_bytes(16, "big")) for i in range(blocks))
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def eip2335_by_steps(
    secret: bytes, password: str, function: str, params: dict, iv: bytes = bytes(range(16))
) -> dict:
    """An EIP-2335 BN254 keystore built by the specification's steps with these KDF parameters (the
    password used as its ASCII bytes: no normalisation)."""
    salt = bytes.fromhex(params["salt"])
    if function == "scrypt":
        key = scrypt(password.encode(), salt, 32, N=params["n"], r=params["r"], p=params["p"])
    else:
        key = PBKDF2(password.encode(), salt, 32, count=params["c"], hmac_hash_module=SHA256)
    ciphertext = aes_128_ctr(key[:16], iv, secret)
    return {
        "crypto": {
            "kdf": {"function": function, "params": params, "message": ""},
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


def v3_by_steps(secret: bytes, password: str) -> dict:
    """A Web3 Secret Storage v3 keystore built by the definition's steps (pbkdf2, c = 1; the password
    as given, whitespace included, as go-ethereum uses it)."""
    salt, iv = bytes(range(32)), bytes(range(16))
    key = PBKDF2(password.encode(), salt, 32, count=1, hmac_hash_module=SHA256)
    ciphertext = aes_128_ctr(key[:16], iv, secret)
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
