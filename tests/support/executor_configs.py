"""A minimal valid executor configuration (kubernetes mode, one AVS, inline ECDSA keys), a changed
copy of it as YAML, and the problems parse_config reports for one: for the configuration tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hourglass_executor.config import ConfigError, parse_config

PRIVATE_KEY = "0x" + "5ec7e75ec7e7" * 5 + "5ec7"
AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MINIMAL: dict[str, Any] = {
    "operator": {
        "address": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "operatorPrivateKey": {"privateKey": PRIVATE_KEY},
        "signingKeys": {"ecdsa": {"privateKey": PRIVATE_KEY}},
    },
    "l1Chain": {"rpcUrl": "https://eth.example.org", "chainId": 31337},
    "avsPerformers": [
        {
            "avsAddress": AVS,
            "deploymentMode": "kubernetes",
            "image": {"repository": "r.example/p", "tag": "v1"},
        }
    ],
    "kubernetes": {"namespace": "avs"},
}

Change = Callable[[dict[str, Any]], object]


def edited(change: Change) -> str:
    """MINIMAL changed in place by `change`, as YAML."""
    data = copy.deepcopy(MINIMAL)
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def problems(change: Change) -> list[str]:
    """What parse_config refuses in the changed configuration (it must refuse something)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(edited(change))
    return [str(p) for p in caught.value.problems]
