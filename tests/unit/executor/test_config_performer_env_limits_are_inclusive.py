"""In kubernetes mode exactly 254 literal envs and 64 kubernetesEnv entries fit the Performer CRD."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hourglass_executor.config import parse_config

pytestmark = pytest.mark.unit

PRIVATE_KEY = "0x" + "5ec7e75ec7e7" * 5 + "5ec7"


def config_with(envs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        {
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
                    "envs": envs,
                }
            ],
            "kubernetes": {"namespace": "avs"},
        }
    )


def test_the_largest_environment_the_performer_crd_holds_is_accepted() -> None:
    literals = [{"name": f"VAR_{i}", "value": str(i)} for i in range(254)]  # 256 with the executor's two
    references = [
        {"name": f"REF_{i}", "kubernetesEnv": {"valueFrom": {"secretKeyRef": {"name": "s", "key": f"k{i}"}}}}
        for i in range(64)
    ]
    config = parse_config(config_with(literals + references))
    envs = config.avs_performers[0].envs
    assert len(envs) == 318
    assert sum(1 for env in envs if env.kubernetes_env is not None) == 64
