"""A password file loses only its final line ending: other leading or trailing whitespace is password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hourglass_executor.config import validate_config
from hourglass_executor.signing_keys import SigningKeyError, load_signers

from tests.support.executor_harness import config_data
from tests.support.golden import ECDSA_KEYSTORE
from tests.support.keystores import v3_by_steps

pytestmark = pytest.mark.unit

PASSWORD = "  spaced password\t "  # go-ethereum uses a v3 password as given, whitespace included
SECRET = bytes.fromhex(ECDSA_KEYSTORE["privateKey"])


def load(tmp_path: Path, password_file_text: str) -> str:
    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(v3_by_steps(SECRET, PASSWORD)))
    password = tmp_path / "password"
    password.write_bytes(password_file_text.encode())
    data = config_data()
    data["operator"]["signingKeys"] = {
        "ecdsa": {"keystoreFile": str(keystore), "passwordFile": str(password)}
    }
    return load_signers(validate_config(data).operator.signing_keys, {})["ECDSA"].address


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"], ids=["none", "lf", "crlf"])
def test_the_password_is_the_file_without_its_line_ending(tmp_path: Path, ending: str) -> None:
    assert load(tmp_path, PASSWORD + ending) == ECDSA_KEYSTORE["public"]


def test_whitespace_that_is_not_the_line_ending_is_part_of_the_password(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="passwordFile: wrong password for the keystore"):
        load(tmp_path, PASSWORD.strip() + "\n")
