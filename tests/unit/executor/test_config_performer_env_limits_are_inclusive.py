"""In kubernetes mode exactly 254 literal envs and 64 kubernetesEnv entries fit the Performer CRD."""

from __future__ import annotations

from typing import Any

import pytest
from hourglass_executor.config import parse_config

from tests.support.executor_configs import edited

pytestmark = pytest.mark.unit


def config_with(envs: list[dict[str, Any]]) -> str:
    return edited(lambda d: d["avsPerformers"][0].update(envs=envs))


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
