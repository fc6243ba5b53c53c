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
from hourglass_operator.startup import Permission, quota_permissions, required_permissions
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
    """The cluster-scoped rule (get nodes) as a cluster permission; the namespaced rules of the
    operator's ClusterRole and the leader-election Role as (namespaced) permissions."""
    spec = load(CSV)["spec"]["install"]["spec"]
    rules = load(REPO / "config/rbac/role.yaml")["rules"]
    node_rules = next(yaml.safe_load_all((REPO / "config/rbac/node_role.yaml").read_text()))["rules"]
    assert spec["clusterPermissions"] == [{"serviceAccountName": "hourglass-operator", "rules": node_rules}]
    leader = load(REPO / "config/rbac/leader_election_role.yaml")["rules"]
    assert spec["permissions"] == [
        {"serviceAccountName": "hourglass-operator", "rules": rules},
        {"serviceAccountName": "hourglass-operator", "rules": leader},
    ]


OPERATOR_NAMESPACE = "operators"
# The OperatorGroup's target namespaces (status.namespaces) of each install mode; [""] is all.
INSTALL_MODES = {
    "OwnNamespace": [OPERATOR_NAMESPACE],
    "SingleNamespace": ["avs-a"],
    "MultiNamespace": ["avs-a", "avs-b"],
    "AllNamespaces": [""],
}


def olm_grants(spec: dict, targets: list[str]) -> list[tuple[str, dict]]:
    """The rules OLM grants the operator's ServiceAccount, each with where ("" is cluster-wide), as
    operator-lifecycle-manager does (pkg/controller/registry/resolver/rbac.go,
    pkg/controller/operators/olm/operatorgroup.go): each clusterPermission a ClusterRole bound
    cluster-wide, in every install mode; each permission a Role in the operator's namespace, copied
    into every target namespace (ensureTenantRBAC), or, when the OperatorGroup targets all namespaces,
    made a ClusterRole bound cluster-wide (ensureSingletonRBAC)."""
    grants = [("", rule) for p in spec["clusterPermissions"] for rule in p["rules"]]
    scopes = [""] if targets == [""] else sorted({OPERATOR_NAMESPACE, *targets})
    return grants + [(where, rule) for p in spec["permissions"] for rule in p["rules"] for where in scopes]


def granted(grants: list[tuple[str, dict]], permission: Permission) -> bool:
    """Whether `grants` allow `permission` (namespace "": in all namespaces, or cluster-scoped)."""
    return any(
        where in ("", permission.namespace)
        and permission.group in rule["apiGroups"]
        and permission.resource in rule["resources"]
        and permission.verb in rule["verbs"]
        and ("resourceNames" not in rule or permission.name in rule["resourceNames"])
        for where, rule in grants
    )


@pytest.mark.parametrize("mode", INSTALL_MODES)
def test_every_install_mode_grants_what_the_operator_needs_in_its_namespaces_only(mode: str):
    """What the operator checks at start-up (hourglass_operator/startup.py) for the namespaces OLM
    gives it (WATCH_NAMESPACE is olm.targetNamespaces) and its Lease in its own namespace, the
    optional ResourceQuota watch and reading a Node are granted; outside the OperatorGroup's
    namespaces it cannot touch a pod (OLM binds clusterPermissions cluster-wide, so no namespaced
    rule may be one)."""
    csv = load(CSV)
    spec = csv["spec"]["install"]["spec"]
    assert {"type": mode, "supported": True} in csv["spec"]["installModes"]
    targets = INSTALL_MODES[mode]
    grants = olm_grants(spec, targets)
    (deployment,) = spec["deployments"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    namespaces = [n for n in ",".join(targets).split(",") if n]
    crd = load(REPO / "crds" / "hourglass.eigenlayer.io_performers.yaml")
    needed = [
        *required_permissions(
            crd["spec"]["group"], crd["spec"]["names"]["plural"], namespaces,
            (OPERATOR_NAMESPACE, env["LEADER_ELECTION_ID"]),
        ),
        *quota_permissions(namespaces),
        Permission("get", "", "nodes"),
    ]  # fmt: skip
    assert [p for p in needed if not granted(grants, p)] == []
    if mode == "AllNamespaces":
        return
    for namespace in ("", "elsewhere"):
        for verb in ("create", "patch", "delete", "list"):
            assert not granted(grants, Permission(verb, "", "pods", namespace)), (verb, namespace)
        assert not granted(grants, Permission("patch", crd["spec"]["group"], "performers", namespace))


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
