"""The configuration's exactly-one rules refuse none as well as two: a BLS keystore and an env reference."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hourglass_executor.config import ConfigError, parse_config

pytestmark = pytest.mark.unit

PRIVATE_KEY = "0x" + "5ec7e75ec7e7" * 5 + "5ec7"

BASE: dict[str, Any] = {
    "operator": {
        "address": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "operatorPrivateKey": {"privateKey": PRIVATE_KEY},
        "signingKeys": {"ecdsa": {"privateKey": PRIVATE_KEY}},
    },
    "l1Chain": {"rpcUrl": "https://eth.example.org", "chainId": 31337},
    "avsPerformers": [
        {
            "avsAddress": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "deploymentMode": "kubernetes",
            "image": {"repository": "r.example/p", "tag": "v1"},
        }
    ],
    "kubernetes": {"namespace": "avs"},
}


def problems(change: Callable[[dict[str, Any]], object]) -> list[str]:
    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data, sort_keys=False))
    return [str(p) for p in caught.value.problems]


def reference(value_from: dict[str, Any]) -> Callable[[dict[str, Any]], object]:
    env = {"name": "TOKEN", "kubernetesEnv": {"valueFrom": value_from}}
    return lambda d: d["avsPerformers"][0].update(envs=[env])


REF = {"name": "tokens", "key": "token"}
EXACTLY_ONE_REF = (
    "avsPerformers[0].envs[0].kubernetesEnv.valueFrom: set exactly one of secretKeyRef, configMapKeyRef"
)


@pytest.mark.parametrize(
    "bls",
    [{"password": "p"}, {"keystore": "{}", "keystoreFile": "/k.json"}],
    ids=["neither keystore nor keystoreFile", "both"],
)
def test_a_bls_key_needs_exactly_one_keystore_source(bls: dict[str, str]) -> None:
    assert problems(lambda d: d["operator"]["signingKeys"].update(bls=bls)) == [
        "operator.signingKeys.bls: set exactly one of keystore, keystoreFile"
    ]


@pytest.mark.parametrize(
    "value_from",
    [{}, {"secretKeyRef": REF, "configMapKeyRef": REF}],
    ids=["neither reference", "both references"],
)
def test_an_env_reference_needs_exactly_one_of_secret_and_config_map(value_from: dict[str, Any]) -> None:
    assert problems(reference(value_from)) == [EXACTLY_ONE_REF]
