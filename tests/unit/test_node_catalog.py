"""The local control plane's node catalog is consistent with the conventions it imitates: GPU nodes
advertise as many GPUs as their labels say and carry the GPU taint, each TEE node is tainted for its
TEE kind, and every TEE RuntimeClass can place pods on some node."""

from __future__ import annotations

import pytest
import yaml

from tests.support.paths import CATALOG

pytestmark = pytest.mark.smoke  # checks the test environment, not the product

NODES = [d for d in yaml.safe_load_all((CATALOG / "nodes.yaml").read_text()) if d]
RUNTIME_CLASSES = [d for d in yaml.safe_load_all((CATALOG / "runtimeclasses.yaml").read_text()) if d]
TEE_LABEL = "feature.node.kubernetes.io/cpu-security.{}.enabled"


def labels(node: dict) -> dict[str, str]:
    return node["metadata"]["labels"]


def taints(node: dict) -> list[dict]:
    return node["spec"].get("taints", [])


def test_node_names_are_unique_and_match_hostname_labels():
    names = [n["metadata"]["name"] for n in NODES]
    assert len(names) == len(set(names))
    for node in NODES:
        assert labels(node)["kubernetes.io/hostname"] == node["metadata"]["name"]
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


@pytest.mark.parametrize(
    "node", [n for n in NODES if "nvidia.com/gpu.present" in labels(n)], ids=lambda n: n["metadata"]["name"]
)
def test_gpu_node_follows_gpu_operator_conventions(node: dict):
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == labels(node)["nvidia.com/gpu.count"]
    assert labels(node)["nvidia.com/gpu.product"].startswith("NVIDIA-")
    assert " " not in labels(node)["nvidia.com/gpu.product"]
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in taints(node)


@pytest.mark.parametrize(
    "node",
    [n for n in NODES if labels(n).get("hourglass.eigenlayer.io/node-pool") == "tee"],
    ids=lambda n: n["metadata"]["name"],
)
def test_tee_node_is_tainted_for_its_strongest_tee(node: dict):
    [taint] = [t for t in taints(node) if t["key"] == "hourglass.eigenlayer.io/tee"]
    feature = {"sev-snp": "sev.snp"}.get(taint["value"], taint["value"])
    assert labels(node)[TEE_LABEL.format(feature)] == "true"
    if taint["value"] == "sgx":
        assert "sgx.intel.com/epc" in node["status"]["allocatable"]


def test_general_nodes_are_untainted():
    general = [n for n in NODES if labels(n)["hourglass.eigenlayer.io/node-pool"] == "general"]
    assert len(general) >= 3
    assert all(not taints(n) for n in general)


@pytest.mark.parametrize("runtime_class", RUNTIME_CLASSES, ids=lambda r: r["metadata"]["name"])
def test_runtime_class_selects_at_least_one_node(runtime_class: dict):
    selector = runtime_class["scheduling"]["nodeSelector"]
    assert any(selector.items() <= labels(n).items() for n in NODES)
