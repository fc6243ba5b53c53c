"""Configuration values at and just past their documented bounds, and the defaults of keys left out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hourglass_executor.config import parse_config

from tests.support.executor_configs import PRIVATE_KEY, edited, problems

pytestmark = pytest.mark.unit


def performer(data: dict[str, Any]) -> dict[str, Any]:
    return data["avsPerformers"][0]


DIGEST = "sha256:" + "ab" * 32
LONG_REPOSITORY = "r.example/" + "p" * (4096 - len("r.example/") - len(DIGEST))  # + "@" + DIGEST: 4097
PORT = "must be a port number (1-65535)"
ENDPOINT = "avsPerformers[0].kubernetes.endpointOverride: must be host:port (for example localhost:9090)"
DURATION = 'taskTimeout: must be a duration such as "30s", "5m" or "1m30s"'

REFUSED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("grpcPort 65536", lambda d: d.update(grpcPort=65536), f"grpcPort: {PORT}"),
    (
        "metricsPort 65536",
        lambda d: d.update(metricsPort=65536),
        f"metricsPort: {PORT}, or 0 to share the grpcPort server",
    ),
    (
        "endpointOverride port 0",
        lambda d: performer(d).update(kubernetes={"endpointOverride": "localhost:0"}),
        ENDPOINT,
    ),
    (
        "endpointOverride port 65536",
        lambda d: performer(d).update(kubernetes={"endpointOverride": "localhost:65536"}),
        ENDPOINT,
    ),
    ("duration with text between its parts", lambda d: d.update(taskTimeout="1x30s"), DURATION),
    ("duration with a trailing unit-less number", lambda d: d.update(taskTimeout="30s5"), DURATION),
    ("boolean as 1", lambda d: d.update(debug=1), "debug: must be true or false"),
    (
        "boolean for a string",
        lambda d: d.update(executorId=True),
        "executorId: must be a string (YAML read true/false here; quote the value)",
    ),
    (
        "rpcUrl with a space",
        lambda d: d["l1Chain"].update(rpcUrl="https://eth.example.org/ key"),
        "l1Chain.rpcUrl: must be an http(s):// or ws(s):// URL",
    ),
    (
        "crdVersion v0",
        lambda d: d["kubernetes"].update(crdVersion="v0"),
        "kubernetes.crdVersion: must be a Kubernetes API version such as v1alpha1 or v1",
    ),
    (
        "crdVersion v1alpha0",
        lambda d: d["kubernetes"].update(crdVersion="v1alpha0"),
        "kubernetes.crdVersion: must be a Kubernetes API version such as v1alpha1 or v1",
    ),
    (
        "a digest that makes the image reference longer than the CRD allows",
        lambda d: performer(d).update(image={"repository": LONG_REPOSITORY, "tag": "v1", "digest": DIGEST}),
        "avsPerformers[0].image: the image reference (repository:tag, or repository@digest) must be at most "
        "4096 characters (the Performer CRD's limit)",
    ),
    (
        "a digest of 31 hex digits",
        lambda d: performer(d)["image"].update(digest="sha256:" + "a" * 31),
        "avsPerformers[0].image.digest: must be an image digest such as sha256:<64 hex digits>",
    ),
    (
        "blank performerNetworkName",
        lambda d: d.update(performerNetworkName="   "),
        "performerNetworkName: must not be empty",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in REFUSED], ids=[n for n, _, _ in REFUSED]
)
def test_a_value_past_its_bound_is_refused_naming_its_key(
    change: Callable[[dict[str, Any]], object], expected: str
) -> None:
    assert problems(change) == [expected]


def test_values_at_their_bounds_are_accepted() -> None:
    def at_bounds(d: dict[str, Any]) -> None:
        d.update(grpcPort=65535, metricsPort=65534, taskTimeout="1h1m1s")
        performer(d)["kubernetes"] = {"endpointOverride": "localhost:65535"}
        d["kubernetes"]["crdVersion"] = "v10beta10"

    config = parse_config(edited(at_bounds))
    assert (config.grpc_port, config.metrics_port) == (65535, 65534)
    assert config.task_timeout == timedelta(hours=1, minutes=1, seconds=1)
    assert config.avs_performers[0].kubernetes is not None
    assert config.avs_performers[0].kubernetes.endpoint_override == "localhost:65535"
    assert config.kubernetes is not None and config.kubernetes.crd_version == "v10beta10"


def test_a_private_key_is_read_without_the_whitespace_around_it() -> None:
    config = parse_config(
        edited(lambda d: d["operator"]["operatorPrivateKey"].update(privateKey=f" {PRIVATE_KEY}\n"))
    )
    key = config.operator.operator_private_key.private_key
    assert key is not None and key.get_secret_value() == PRIVATE_KEY


def test_keys_left_out_take_their_documented_defaults() -> None:
    config = parse_config(edited(lambda d: None))
    assert config.grpc_port == 9090
    assert config.metrics_port == 0 and config.management_server_grpc_port == 0
    assert config.chain.timeout == timedelta(seconds=10)
    assert config.chain.retries == 3
    assert config.chain.cache_size == 4096


def test_without_performers_the_kubernetes_block_selects_kubernetes_mode() -> None:
    with_block = parse_config(edited(lambda d: d.pop("avsPerformers")))
    without = parse_config(edited(lambda d: (d.pop("avsPerformers"), d.pop("kubernetes"))))
    assert (with_block.deployment_mode, without.deployment_mode) == ("kubernetes", "docker")
