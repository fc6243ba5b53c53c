"""The OLM bundle (bundle/): what hack/bundle/generate.py writes from config/ and VERSION, and
valid by the operator-framework/api validators behind `operator-sdk bundle validate`
(hack/bundle/validate/, built from the Go module proxy; skipped without a Go toolchain)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hack.bundle import generate
from hack.release.version import read_version
from tests.support.go_tools import BUILD_TIMEOUT, NO_GO_TOOLCHAIN
from tests.support.paths import REPO

pytestmark = pytest.mark.unit

BUNDLE = REPO / "bundle"
CSV = BUNDLE / "manifests" / "hourglass-operator.clusterserviceversion.yaml"
VALIDATE = REPO / "hack" / "bundle" / "validate" / "validate.sh"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_committed_bundle_is_what_the_generator_writes():
    assert generate.on_disk(BUNDLE) == generate.generate()


def test_the_csv_carries_the_release_version_and_image():
    csv = load(CSV)
    version = read_version()
    assert csv["metadata"]["name"] == f"hourglass-operator.v{version}"
    assert csv["spec"]["version"] == version
    image = csv["metadata"]["annotations"]["containerImage"]
    assert image == f"ghcr.io/hourglass-operator/operator:{version}"
    (deployment,) = csv["spec"]["install"]["spec"]["deployments"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_the_csv_grants_exactly_the_rbac_of_config():
    spec = load(CSV)["spec"]["install"]["spec"]
    rules = load(REPO / "config/rbac/role.yaml")["rules"]
    node_rules = next(yaml.safe_load_all((REPO / "config/rbac/node_role.yaml").read_text()))["rules"]
    assert spec["clusterPermissions"] == [
        {"serviceAccountName": "hourglass-operator", "rules": rules + node_rules}
    ]
    leader = load(REPO / "config/rbac/leader_election_role.yaml")["rules"]
    assert spec["permissions"] == [{"serviceAccountName": "hourglass-operator", "rules": leader}]


def test_the_operator_watches_the_operator_groups_namespaces():
    (deployment,) = load(CSV)["spec"]["install"]["spec"]["deployments"]
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WATCH_NAMESPACE"] == {
        "name": "WATCH_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['olm.targetNamespaces']"}},
    }


def validate(bundle: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(VALIDATE), str(bundle)], capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if result.returncode == NO_GO_TOOLCHAIN:
        pytest.skip(f"the bundle validator cannot be built without a Go toolchain: {result.stderr.strip()}")
    return result


def test_the_bundle_passes_the_operator_framework_validators():
    result = validate(BUNDLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundle hourglass-operator.v" in result.stdout


def test_the_validators_refuse_a_bundle_without_its_crd(tmp_path: Path):
    broken = tmp_path / "bundle"
    shutil.copytree(BUNDLE, broken)
    (broken / "manifests" / "hourglass.eigenlayer.io_performers.yaml").unlink()
    result = validate(broken)
    assert result.returncode == 1
    assert 'owned CRD "hourglass.eigenlayer.io/v1alpha1, Kind=Performer" not found in bundle' in result.stdout


def test_the_operatorhub_checks_run_too(tmp_path: Path):
    broken = tmp_path / "bundle"
    shutil.copytree(BUNDLE, broken)
    csv = broken / "manifests" / CSV.name
    csv.write_text(csv.read_text().replace("categories: Application Runtime", "categories: Blockchain"))
    result = validate(broken)
    assert result.returncode == 1
    assert 'value "Blockchain" is not in the set of standard categories' in result.stdout
