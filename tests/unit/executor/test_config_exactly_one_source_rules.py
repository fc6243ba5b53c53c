"""The configuration's exactly-one rules refuse none as well as two: a BLS keystore and an env reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.executor_configs import problems

pytestmark = pytest.mark.unit


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
