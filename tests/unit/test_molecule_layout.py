"""The molecule scenarios (molecule/) are wired as documented: every scenario shares converge,
verify and cleanup, Galaxy is off, the kwok scenario runs the CI sequence, every playbook it names
exists; and the placement filter that decides which samples a cluster can host (and where verify
expects their pods) agrees with the kwok node catalog and the performer role's tables."""

from __future__ import annotations

import sys

import pytest
import yaml

from tests.support.paths import CATALOG, REPO, SAMPLES

sys.path.insert(0, str(REPO / "molecule" / "shared" / "filter_plugins"))
from performer_placement import performer_placement, performer_with_image

pytestmark = pytest.mark.smoke  # checks the test environment, not the product

MOLECULE = REPO / "molecule"
SCENARIOS = ["kwok", "default", "kind"]
ROLE_DEFAULTS = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
NODES = [d for d in yaml.safe_load_all((CATALOG / "nodes.yaml").read_text()) if d]
RUNTIME_CLASSES = [d for d in yaml.safe_load_all((CATALOG / "runtimeclasses.yaml").read_text()) if d]


def config(scenario: str) -> dict:
    return yaml.safe_load((MOLECULE / scenario / "molecule.yml").read_text())


def sample(file: str) -> dict:
    return next(d for d in yaml.safe_load_all((SAMPLES / file).read_text()) if d["kind"] == "Performer")


def place(performer: dict, nodes: list[dict] = NODES, runtime_classes: list[dict] = RUNTIME_CLASSES) -> dict:
    return performer_placement(performer, nodes, runtime_classes, ROLE_DEFAULTS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_shares_converge_verify_and_cleanup(scenario: str):
    playbooks = config(scenario)["ansible"]["playbooks"]
    for step in ("prepare", "converge", "verify", "cleanup"):
        assert playbooks[step] == f"../shared/{step}.yml"
    for path in playbooks.values():
        assert (MOLECULE / scenario / path).is_file(), path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_galaxy_is_off_and_inventories_exist(scenario: str):
    data = config(scenario)
    assert data["dependency"] == {"name": "galaxy", "enabled": False}
    inventories = data["ansible"]["executor"]["args"]["ansible_playbook"]
    assert inventories == [
        "--inventory=${MOLECULE_PROJECT_DIRECTORY}/molecule/shared/inventory/",
        "--inventory=${MOLECULE_SCENARIO_DIRECTORY}/inventory/",
    ]
    assert (MOLECULE / scenario / "inventory" / "hosts.yml").is_file()


def test_kwok_runs_the_ci_sequence():
    assert config("kwok")["scenario"]["test_sequence"] == [
        "dependency", "create", "prepare", "converge", "idempotence", "verify", "cleanup", "destroy",
    ]  # fmt: skip


def test_gpu_sample_fits_only_the_a100_node():
    placement = place(sample("performer-gpu.yaml"))
    assert placement["nodes"] == ["kwok-gpu-a100-0"]
    assert "nvidia.com/gpu.product in" in placement["requires"]


def test_tee_sample_fits_only_the_sgx_node():
    assert place(sample("performer-tee.yaml"))["nodes"] == ["kwok-tee-sgx-0"]


@pytest.mark.parametrize("file", ["performer-basic.yaml", "performer-upstream-executor.yaml"])
def test_plain_samples_fit_only_untainted_nodes(file: str):
    untainted = sorted(n["metadata"]["name"] for n in NODES if not n["spec"].get("taints"))
    assert place(sample(file))["nodes"] == untainted
    assert untainted


def test_a_cluster_without_gpu_nodes_gets_a_reason():
    no_gpus = [n for n in NODES if "nvidia.com/gpu.product" not in n["metadata"]["labels"]]
    placement = place(sample("performer-gpu.yaml"), nodes=no_gpus)
    assert placement["nodes"] == []
    assert "nvidia.com/gpu.product" in placement["reason"]


def test_a_missing_runtime_class_gets_a_reason():
    placement = place(sample("performer-tee.yaml"), runtime_classes=[])
    assert placement == {
        "nodes": [],
        "requires": "RuntimeClass enclave-cc",
        "reason": "RuntimeClass enclave-cc does not exist",
    }


def test_a_node_without_the_extended_resource_does_not_fit():
    sgx = next(n for n in NODES if n["metadata"]["name"] == "kwok-tee-sgx-0")
    drained = {**sgx, "status": {"allocatable": {"cpu": "16", "sgx.intel.com/epc": "0"}}}
    assert place(sample("performer-tee.yaml"), nodes=[drained])["nodes"] == []


def test_with_image_keeps_the_grpc_port():
    upstream = performer_with_image(sample("performer-upstream-executor.yaml"), "echo:1", 8080)
    assert upstream["spec"]["image"] == "echo:1"
    assert upstream["spec"]["imagePullPolicy"] == "IfNotPresent"
    assert upstream["spec"]["config"]["grpcPort"] == 8080
    assert upstream["spec"]["config"]["environment"]["GRPC_PORT"] == "8080"
    assert upstream["spec"]["config"]["environmentFrom"]  # the rest of the spec stays
    tee = performer_with_image(sample("performer-tee.yaml"), "echo:1", 8080)
    assert tee["spec"]["config"] == {"grpcPort": 9090, "environment": {"GRPC_PORT": "9090"}}
    bare = performer_with_image({"spec": {"image": "x"}}, "echo:1", 8080)
    assert bare["spec"]["config"]["grpcPort"] == 8080
