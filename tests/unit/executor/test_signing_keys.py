"""operator.signingKeys → signers: inline keys and keystore files written by the Go tooling (the golden
vectors' crypto-libs EIP-2335 and go-ethereum v3 keystores), passwords inline / from a file / from
the environment, and a clear error naming the configuration key for every way a key cannot load.
An executor with only a BN254 key starts, and its management API accepts BN254-signed challenges."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from hourglass_executor.config import validate_config
from hourglass_executor.server import components
from hourglass_executor.server.components import StartupError
from hourglass_executor.signing.bn254 import Bn254Signer
from hourglass_executor.signing.ecdsa import EcdsaSigner
from hourglass_executor.signing.keystore import (
    InvalidPasswordError,
    KeystoreError,
    decrypt_eip2335,
    decrypt_web3_v3,
)
from hourglass_executor.signing_keys import SigningKeyError, load_signers

from tests.support.executor_harness import config_data, running_executor, static_chain
from tests.support.golden import BLS_KEYSTORE as BLS
from tests.support.golden import ECDSA_KEYSTORE as ECDSA
from tests.support.golden import EIP2335, WEB3V3
from tests.support.management import ManagementClient

pytestmark = pytest.mark.unit


def keystore_file(tmp_path: Path, vector: dict, name: str = "key.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(vector["keystore"]))
    return str(path)


def signers(signing_keys: dict, environ: dict | None = None):
    data = config_data()
    data["operator"]["signingKeys"] = signing_keys
    return load_signers(validate_config(data).operator.signing_keys, environ or {})


def problem(signing_keys: dict, environ: dict | None = None) -> str:
    with pytest.raises(SigningKeyError) as error:
        signers(signing_keys, environ)
    # Nothing chained that a traceback would print.
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__
    return str(error.value)


# --- what loads --------------------------------------------------------------------------------------


def test_an_inline_ecdsa_key():
    key = "0x" + ECDSA["privateKey"]
    loaded = signers({"ecdsa": {"privateKey": key}})
    assert list(loaded) == ["ECDSA"] and loaded["ECDSA"].address == ECDSA["public"]


def test_a_v3_keystore_file_with_an_inline_password(tmp_path):
    loaded = signers(
        {"ecdsa": {"keystoreFile": keystore_file(tmp_path, ECDSA), "password": ECDSA["password"]}}
    )
    assert isinstance(loaded["ECDSA"], EcdsaSigner) and loaded["ECDSA"].address == ECDSA["public"]


def test_an_inline_v3_keystore_with_a_password_from_the_environment():
    vector = WEB3V3["unicode-password"]
    keys = {"ecdsa": {"keystore": json.dumps(vector["keystore"]), "passwordEnv": "ECDSA_PASSWORD"}}
    loaded = signers(keys, {"ECDSA_PASSWORD": vector["password"]})
    assert loaded["ECDSA"].address == vector["public"]


def test_an_eip2335_keystore_file_with_a_password_file(tmp_path):
    password = tmp_path / "password"
    password.write_text(BLS["password"] + "\n")  # a trailing newline is not part of the password
    loaded = signers({"bls": {"keystoreFile": keystore_file(tmp_path, BLS), "passwordFile": str(password)}})
    assert list(loaded) == ["BN254"]
    assert isinstance(loaded["BN254"], Bn254Signer)
    assert loaded["BN254"].public_key_g2.hex() == BLS["public"]


def test_both_curves_and_an_empty_password(tmp_path):
    bls, ecdsa = EIP2335["empty-password"], WEB3V3["empty-password"]
    loaded = signers(
        {
            "bls": {"keystore": json.dumps(bls["keystore"])},  # no password key: the empty password
            "ecdsa": {"keystoreFile": keystore_file(tmp_path, ecdsa), "password": ""},
        }
    )
    assert loaded["BN254"].public_key_g2.hex() == bls["public"]
    assert loaded["ECDSA"].address == ecdsa["public"]


def test_a_bls_keystore_with_a_unicode_password_and_a_short_key(tmp_path):
    vector = EIP2335["short-key-unicode-password"]
    loaded = signers(
        {"bls": {"keystoreFile": keystore_file(tmp_path, vector), "password": vector["password"]}}
    )
    assert loaded["BN254"].public_key_g2.hex() == vector["public"]


# --- what does not, and the key each error names ------------------------------------------------------


def test_a_wrong_password_names_where_the_password_came_from(tmp_path):
    path = keystore_file(tmp_path, BLS)
    assert problem({"bls": {"keystoreFile": path, "password": "nope"}}) == (
        "operator.signingKeys.bls.password: wrong password for the keystore"
    )
    wrong = tmp_path / "wrong-password"
    wrong.write_text("nope")
    assert problem({"bls": {"keystoreFile": path, "passwordFile": str(wrong)}}) == (
        "operator.signingKeys.bls.passwordFile: wrong password for the keystore"
    )
    keys = {"ecdsa": {"keystoreFile": keystore_file(tmp_path, ECDSA, "e.json"), "passwordEnv": "PW"}}
    assert (
        problem(keys, {"PW": "nope"})
        == "operator.signingKeys.ecdsa.passwordEnv: wrong password for the keystore"
    )
    assert problem({"bls": {"keystoreFile": path}}) == (
        "operator.signingKeys.bls.password: wrong password for the keystore"
    )


def test_missing_files_and_variables(tmp_path):
    missing = tmp_path / "missing.json"
    assert problem({"bls": {"keystoreFile": str(missing), "password": "x"}}) == (
        f"operator.signingKeys.bls.keystoreFile: cannot read {missing}: No such file or directory"
    )
    path = keystore_file(tmp_path, BLS)
    assert problem({"bls": {"keystoreFile": path, "passwordFile": str(missing)}}) == (
        f"operator.signingKeys.bls.passwordFile: cannot read {missing}: No such file or directory"
    )
    assert problem({"ecdsa": {"keystoreFile": path, "passwordEnv": "ECDSA_PASSWORD"}}) == (
        "operator.signingKeys.ecdsa.passwordEnv: ECDSA_PASSWORD is not set in the executor's environment"
    )


def test_files_that_are_not_keystores(tmp_path):
    not_json = tmp_path / "not.json"
    not_json.write_text("this is not json")
    assert problem({"bls": {"keystoreFile": str(not_json)}}) == (
        "operator.signingKeys.bls.keystoreFile: not JSON: Expecting value at line 1, column 1"
    )
    assert problem({"bls": {"keystore": "[1, 2]"}}) == (
        "operator.signingKeys.bls.keystore: a keystore is a JSON object"
    )
    # A v3 (ECDSA) keystore given as the BN254 key, and an EIP-2335 one as the ECDSA key.
    assert problem({"bls": {"keystoreFile": keystore_file(tmp_path, ECDSA)}}) == (
        "operator.signingKeys.bls.keystoreFile: not an EIP-2335 keystore: pubkey is missing"
    )
    assert problem({"ecdsa": {"keystore": json.dumps(BLS["keystore"])}}) == (
        "operator.signingKeys.ecdsa.keystore: not an Ethereum v3 keystore: version must be 3, got 4"
    )


def test_a_keystore_of_another_curve(tmp_path):
    vector = EIP2335["bls381"]
    assert problem(
        {"bls": {"keystoreFile": keystore_file(tmp_path, vector), "password": vector["password"]}}
    ) == ("operator.signingKeys.bls.keystoreFile: the keystore is for curve 'bls381', not bn254")


def test_a_v3_keystore_whose_address_is_not_its_key(tmp_path):
    keystore = dict(ECDSA["keystore"], address="11" * 20)
    message = problem({"ecdsa": {"keystore": json.dumps(keystore), "password": ECDSA["password"]}})
    assert message == (
        "operator.signingKeys.ecdsa.keystore: the keystore's address "
        f"1111111111111111111111111111111111111111 is not the address of the key it holds ({ECDSA['public']})"
    )


def test_a_tampered_keystore_is_a_wrong_password_or_a_bad_field(tmp_path):
    keystore = json.loads(json.dumps(BLS["keystore"]))
    keystore["crypto"]["cipher"]["message"] = "00" + keystore["crypto"]["cipher"]["message"][2:]
    assert problem({"bls": {"keystore": json.dumps(keystore), "password": BLS["password"]}}) == (
        "operator.signingKeys.bls.password: wrong password for the keystore"
    )
    keystore["crypto"]["kdf"]["params"]["n"] = 1 << 30
    assert problem({"bls": {"keystore": json.dumps(keystore), "password": BLS["password"]}}) == (
        "operator.signingKeys.bls.keystore: "
        "crypto.kdf.params.n must be between 1024 and 1048576, got 1073741824"
    )
    keystore["crypto"]["kdf"]["function"] = "argon2"
    assert problem({"bls": {"keystore": json.dumps(keystore), "password": BLS["password"]}}) == (
        "operator.signingKeys.bls.keystore: unsupported key derivation function 'argon2' (scrypt or pbkdf2)"
    )


def test_no_error_shows_a_secret(tmp_path):
    messages = [
        problem({"bls": {"keystore": json.dumps(BLS["keystore"]), "password": "hunter2-wrong"}}),
        problem({"ecdsa": {"keystore": json.dumps(ECDSA["keystore"]), "passwordEnv": "P"}}, {"P": "hunter2"}),
        problem({"bls": {"keystore": "{" + BLS["privateKey"]}}),
    ]
    for message in messages:
        for secret in (
            "hunter2",
            BLS["privateKey"],
            ECDSA["privateKey"],
            BLS["keystore"]["crypto"]["cipher"]["message"],
        ):
            assert secret not in message


def test_a_password_that_is_not_utf8_names_its_key_and_shows_none_of_it(tmp_path):
    # os.environ holds a byte that is not UTF-8 as a lone surrogate (here "\udcff" for b"\xff"), and
    # YAML's "\ud800" escape is one too: encoding them was a UnicodeEncodeError quoting the character.
    for curve, vector in (("ecdsa", ECDSA), ("bls", BLS)):
        path = keystore_file(tmp_path, vector, f"{curve}.json")
        assert problem({curve: {"keystoreFile": path, "passwordEnv": "PW"}}, {"PW": "pass\udcff"}) == (
            f"operator.signingKeys.{curve}.passwordEnv: the password is not valid UTF-8 text"
        )
        assert problem({curve: {"keystoreFile": path, "password": "a\ud800"}}) == (
            f"operator.signingKeys.{curve}.password: the password is not valid UTF-8 text"
        )
    for decrypt, vector in ((decrypt_web3_v3, ECDSA), (decrypt_eip2335, BLS)):
        with pytest.raises(KeystoreError) as error:
            decrypt(vector["keystore"], "secret\udcff")
        assert isinstance(error.value, InvalidPasswordError)
        assert error.value.__suppress_context__ and "\udcff" not in str(error.value)


def test_a_keystore_holding_an_integer_too_long_to_read_is_named(tmp_path):
    """json.loads raises a plain ValueError beyond 4300 digits: it was a traceback at start-up."""
    path = tmp_path / "long.json"
    path.write_text('{"version": ' + "3" * 5000 + "}")
    assert problem({"ecdsa": {"keystoreFile": str(path), "password": "x"}}).endswith(
        "not a keystore: it holds an integer of thousands of digits"
    )


def test_a_remote_ecdsa_signer_is_not_implemented_yet():
    remote = {
        "remoteSigner": True,
        "remoteSignerConfig": {
            "url": "https://signer.example",
            "fromAddress": "0x" + "11" * 20,
            "publicKey": "0x04",
        },
    }
    assert problem({"ecdsa": remote}) == (
        "operator.signingKeys.ecdsa.remoteSigner: remote signers are not implemented yet; "
        "configure privateKey or a keystore"
    )


# --- in the executor ---------------------------------------------------------------------------------


def test_build_signers_turns_key_problems_into_startup_errors(tmp_path):
    data = config_data()
    data["operator"]["signingKeys"] = {
        "bls": {"keystoreFile": keystore_file(tmp_path, BLS), "passwordEnv": "PW"}
    }
    config = validate_config(data)
    with pytest.raises(StartupError, match=r"^operator.signingKeys.bls.passwordEnv: wrong password"):
        components.build_signers(config, {"PW": "nope"})
    built = components.build_signers(config, {"PW": BLS["password"]})
    assert components.auth_signer(built) is built["BN254"]


def test_the_ecdsa_key_signs_management_challenges_when_both_are_configured(tmp_path):
    data = config_data()
    data["operator"]["signingKeys"]["bls"] = {
        "keystoreFile": keystore_file(tmp_path, BLS),
        "password": BLS["password"],
    }
    built = components.build_signers(validate_config(data), {})
    assert set(built) == {"ECDSA", "BN254"}
    assert components.auth_signer(built) is built["ECDSA"]


def test_an_executor_with_only_a_bn254_key_starts_and_checks_bn254_challenges(tmp_path):
    data = config_data(authentication={"enabled": True})
    data["operator"]["signingKeys"] = {
        "bls": {"keystoreFile": keystore_file(tmp_path, BLS), "passwordEnv": "PW"}
    }
    key = Bn254Signer(bytes.fromhex(BLS["privateKey"]))

    async def scenario():
        async with (
            running_executor(
                validate_config(data), chain=static_chain(), environ={"PW": BLS["password"]}
            ) as executor,
            grpc.aio.insecure_channel(f"127.0.0.1:{executor.management_port}") as channel,
        ):
            listed = await ManagementClient(channel, signer=key).list()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await ManagementClient(channel).list()  # the ECDSA test key is not this executor's
            return len(listed), refused.value.code(), refused.value.details()

    count, code, details = asyncio.run(scenario())
    assert count == 1
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "BN254 signing key" in details
