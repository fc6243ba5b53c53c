"""Rules between configuration fields report the key at fault, and a repeated value names its first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.executor_configs import AVS, problems

pytestmark = pytest.mark.unit


def three_performers_of_one_avs(d: dict[str, Any]) -> None:
    first = d["avsPerformers"][0]
    spellings = (AVS, AVS.lower(), "0x" + AVS[2:].upper())  # one address, in three cases
    d["avsPerformers"] = [{**first, "avsAddress": spelling} for spelling in spellings]


def three_envs_of_one_name(d: dict[str, Any]) -> None:
    d["avsPerformers"][0]["envs"] = [{"name": "LOG", "value": str(i)} for i in range(3)]


RULES: list[tuple[str, Callable[[dict[str, Any]], object], list[str]]] = [
    (
        "the third of three equal AVS addresses",
        three_performers_of_one_avs,
        [
            "avsPerformers[1].avsAddress: duplicate of avsPerformers[0].avsAddress",
            "avsPerformers[2].avsAddress: duplicate of avsPerformers[0].avsAddress",
        ],
    ),
    (
        "the third of three equal env names",
        three_envs_of_one_name,
        [
            "avsPerformers[0].envs[1].name: duplicate of envs[0].name",
            "avsPerformers[0].envs[2].name: duplicate of envs[0].name",
        ],
    ),
    (
        "a TLS key without its certificate",
        lambda d: d["kubernetes"].update(tls={"enabled": True, "keyFile": "/tls/key.pem"}),
        ["kubernetes.tls.certFile: required with keyFile"],
    ),
    (
        "a sqlite block without its path",
        lambda d: d.update(storage={"type": "sqlite", "sqlite": {}}),
        ["storage.sqlite.path: required when type is sqlite"],
    ),
    (
        "a chain file for the rpc reader",
        lambda d: d.update(chain={"type": "rpc", "file": "/chain.yaml"}),
        ["chain.file: only used with type static"],
    ),
    (
        "a kubeConfigPath with inCluster and no performers",
        lambda d: (d.pop("avsPerformers"), d["kubernetes"].update(inCluster=True, kubeConfigPath="/k")),
        ["kubernetes.kubeConfigPath: must not be set when inCluster is true"],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in RULES], ids=[n for n, _, _ in RULES])
def test_a_broken_rule_is_reported_at_its_key(
    change: Callable[[dict[str, Any]], object], expected: list[str]
) -> None:
    assert problems(change) == expected
