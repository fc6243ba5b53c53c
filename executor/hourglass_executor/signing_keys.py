"""The executor's signing keys from `operator.signingKeys`: one signer per configured curve.

- `ecdsa`: `privateKey` inline, or an Ethereum v3 keystore (`keystore` inline JSON or `keystoreFile`);
- `bls`: a BN254 EIP-2335 keystore as crypto-libs writes it (`keystore` or `keystoreFile`).

A keystore's password is `password` (inline), `passwordFile` (the file's content without a trailing
newline) or `passwordEnv` (an environment variable of the executor); none means the empty password,
as upstream. Anything that stops a key from loading is a `SigningKeyError` naming the configuration
key, e.g. `operator.signingKeys.bls.passwordFile: wrong password for the keystore`, or
`...passwordEnv: the password is not valid UTF-8 text` (bytes that are not UTF-8 in the variable);
no message contains a key, a password (nor any of its characters) or a keystore's content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import BlsKeyConfig, EcdsaKeyConfig, SigningKeys
from .signing.bn254 import Bn254Error, Bn254LibraryError, Bn254Signer
from .signing.ecdsa import EcdsaSigner
from .signing.keystore import (
    InvalidPasswordError,
    KeystoreError,
    WrongPasswordError,
    decrypt_eip2335,
    decrypt_web3_v3,
    parse_keystore,
)
from .signing.signer import BN254, ECDSA, CurveType, Signer

ECDSA_PATH = "operator.signingKeys.ecdsa"
BLS_PATH = "operator.signingKeys.bls"


class SigningKeyError(Exception):
    """A configured key that cannot be loaded; `path` is the configuration key to fix."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SigningKeyError(what, f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SigningKeyError(what, f"{path} is not UTF-8 text") from None


def _keystore(config: BlsKeyConfig | EcdsaKeyConfig, path: str) -> tuple[dict[str, Any], str]:
    """The keystore's JSON object and the configuration key it came from."""
    if config.keystore is not None:
        where, text = f"{path}.keystore", config.keystore.get_secret_value()
    else:
        assert config.keystore_file is not None  # the configuration requires one of them
        where = f"{path}.keystoreFile"
        text = _read_text(config.keystore_file, where)
    try:
        return parse_keystore(text), where
    except KeystoreError as error:
        raise SigningKeyError(where, str(error)) from None


def _password(
    config: BlsKeyConfig | EcdsaKeyConfig, path: str, environ: Mapping[str, str]
) -> tuple[str, str]:
    """The keystore password and the configuration key it came from."""
    if config.password_file is not None:
        where = f"{path}.passwordFile"
        text = _read_text(config.password_file, where)
        return text.removesuffix("\n").removesuffix("\r"), where
    if config.password_env is not None:
        where = f"{path}.passwordEnv"
        value = environ.get(config.password_env)
        if value is None:
            raise SigningKeyError(where, f"{config.password_env} is not set in the executor's environment")
        return value, where
    password = config.password.get_secret_value() if config.password is not None else ""
    return password, f"{path}.password"


def _decrypt(decrypt: Any, keystore: dict[str, Any], where: str, password: str, password_key: str) -> bytes:
    try:
        return decrypt(keystore, password)
    except (WrongPasswordError, InvalidPasswordError) as error:
        raise SigningKeyError(password_key, str(error)) from None
    except KeystoreError as error:
        raise SigningKeyError(where, str(error)) from None


def ecdsa_signer(
    config: EcdsaKeyConfig, path: str = ECDSA_PATH, environ: Mapping[str, str] = os.environ
) -> EcdsaSigner:
    if config.remote_signer:
        raise SigningKeyError(
            f"{path}.remoteSigner",
            "remote signers are not implemented yet; configure privateKey or a keystore",
        )
    if config.private_key is not None:
        try:
            return EcdsaSigner(config.private_key.get_secret_value())
        except ValueError as error:  # the message never contains the key
            raise SigningKeyError(f"{path}.privateKey", str(error)) from None
    keystore, where = _keystore(config, path)
    password, password_key = _password(config, path, environ)
    secret = _decrypt(decrypt_web3_v3, keystore, where, password, password_key)
    try:
        signer = EcdsaSigner(secret)
    except ValueError as error:
        raise SigningKeyError(where, f"the keystore holds no valid secp256k1 key: {error}") from None
    address = keystore.get("address")
    if isinstance(address, str) and address.lower().removeprefix("0x") != signer.address_lower[2:]:
        raise SigningKeyError(
            where,
            f"the keystore's address {address} is not the address of the key it holds ({signer.address})",
        )
    return signer


def bn254_signer(
    config: BlsKeyConfig, path: str = BLS_PATH, environ: Mapping[str, str] = os.environ
) -> Bn254Signer:
    keystore, where = _keystore(config, path)
    password, password_key = _password(config, path, environ)
    secret = _decrypt(decrypt_eip2335, keystore, where, password, password_key)
    try:
        return Bn254Signer(secret)
    except Bn254Error as error:
        raise SigningKeyError(where, f"the keystore holds no valid BN254 key: {error}") from None
    except Bn254LibraryError as error:
        raise SigningKeyError(path, str(error)) from None


def load_signers(keys: SigningKeys, environ: Mapping[str, str] = os.environ) -> dict[CurveType, Signer]:
    """{"ECDSA": ..., "BN254": ...} for the configured keys (at least one: the configuration requires it)."""
    signers: dict[CurveType, Signer] = {}
    if keys.ecdsa is not None:
        signers[ECDSA] = ecdsa_signer(keys.ecdsa, ECDSA_PATH, environ)
    if keys.bls is not None:
        signers[BN254] = bn254_signer(keys.bls, BLS_PATH, environ)
    return signers


def describe(signer: Signer) -> str:
    """The public identity of a signer for logs: the ECDSA address, or the BN254 G1 public key."""
    if isinstance(signer, EcdsaSigner):
        return signer.address
    if isinstance(signer, Bn254Signer):
        return "0x" + signer.public_key_g1.hex()
    return signer.curve
