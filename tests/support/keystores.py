"""Writing signing-key keystores for tests, in the formats the executor reads
(hourglass_executor.signing.keystore): an EIP-2335 BN254 keystore as EigenLayer's crypto-libs writes
it, and an Ethereum v3 (Web3 Secret Storage) keystore as go-ethereum writes it (through eth-account).
Light scrypt parameters (n = 1024) keep them fast; the executor accepts any within its bounds.
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
from Crypto.Protocol.KDF import scrypt
from eth_account import Account
from hourglass_executor.signing import bn254

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
