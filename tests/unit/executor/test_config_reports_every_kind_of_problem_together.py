"""A configuration's YAML, key-name and value problems are reported together, each at its key."""

from __future__ import annotations

import textwrap

import pytest
from hourglass_executor.config import ConfigError, parse_config

pytestmark = pytest.mark.unit

PRIVATE_KEY = "0x" + "5ec7e75ec7e7" * 5 + "5ec7"


def config(extra: str = "", private_key: str = PRIVATE_KEY, secret_key: str = "token") -> str:
    return (
        textwrap.dedent(
            f"""\
        operator:
          address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
          operatorPrivateKey: {{privateKey: "{private_key}"}}
          signingKeys: {{ecdsa: {{privateKey: "{PRIVATE_KEY}"}}}}
        l1Chain: {{rpcUrl: "https://eth.example.org", chainId: 31337}}
        avsPerformers:
          - avsAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            deploymentMode: kubernetes
            image: {{repository: r.example/p, tag: v1}}
            envs:
              - name: TOKEN
                kubernetesEnv: {{valueFrom: {{secretKeyRef: {{name: tokens, key: "{secret_key}"}}}}}}
        kubernetes: {{namespace: avs}}
        """
        )
        + extra
    )


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return [str(p) for p in caught.value.problems]


def test_a_duplicate_key_is_reported_with_the_invalid_values() -> None:
    text = config("grpcPort: 9090\ngrpcPort: 0\n")
    assert problems(text) == [
        'line 15, column 1: duplicate key "grpcPort"',
        "grpcPort: must be a port number (1-65535)",
    ]


def test_a_key_in_other_letter_case_is_suggested_in_its_right_case() -> None:
    assert problems(config("LOGFORMAT: text\n")) == ['LOGFORMAT: unknown key; did you mean "logFormat"?']


def test_a_private_key_of_63_hex_digits_is_refused() -> None:
    assert problems(config(private_key=PRIVATE_KEY[:-1])) == [
        "operator.operatorPrivateKey.privateKey: must be a secp256k1 private key: 64 hexadecimal digits "
        "(32 bytes), optionally 0x-prefixed"
    ]


def test_a_secret_key_name_has_at_most_253_characters() -> None:
    parse_config(config(secret_key="k" * 253))
    assert problems(config(secret_key="k" * 254)) == [
        "avsPerformers[0].envs[0].kubernetesEnv.valueFrom.secretKeyRef.key: must be a key of alphanumerics, "
        "'-', '_' or '.' (at most 253 characters)"
    ]
