"""The README's command blocks, run as a user would run them (tests/support/docs_commands.py finds
the blocks marked `sh test` / `sh test=<group>`; tests/unit/test_docs.py checks that every shell
block of the README is marked): bash from the repository root with kubectl, helm (hack/helm/build.sh)
and the virtualenv's ansible-playbook on PATH, against the test cluster.

The README's namespaces become throw-away ones (`hourglass-system` -> `docs-<id>-system`, `avs` ->
`docs-<id>-avs`) except on the kustomize path, whose namespace is part of config/default. kwok runs
no containers, so the operator the Helm chart deploys cannot reconcile the first Performer; an
operator process watching the Performer's namespace does that, as in the other cluster tests.
Cluster-scoped names (the ClusterRole `hourglass-operator`, the shared CRD) are the README's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes
import pytest

from tests.support.cluster import Cluster
from tests.support.docs_commands import Block, marked
from tests.support.helm import helm_binary
from tests.support.operator import OperatorProcess
from tests.support.paths import REPO
from tests.support.performers import GROUP, PLURAL, VERSION
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

README = REPO / "README.md"
PERFORMER_CRD = "performers.hourglass.eigenlayer.io"


def namespace_token(name: str) -> re.Pattern[str]:
    """`name` as a whole namespace name (not the `avs` of `hello-avs` or of a DNS name)."""
    return re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])")


@dataclass
class DocsShell:
    """Runs README blocks with the namespaces replaced, failing with the block and its output."""

    cluster: Cluster
    home: Path
    namespaces: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        tools = [
            str(helm_binary().parent),
            str(Path(self.cluster.kubectl_bin).parent),
            str(Path(sys.executable).parent),
        ]
        env = dict(os.environ)
        env.update(
            PATH=os.pathsep.join([*tools, env.get("PATH", "")]),
            KUBECONFIG=str(self.cluster.kubeconfig),
            K8S_AUTH_KUBECONFIG=str(self.cluster.kubeconfig),
            HELM_CACHE_HOME=str(self.home / "helm-cache"),
            HELM_CONFIG_HOME=str(self.home / "helm-config"),
            HELM_DATA_HOME=str(self.home / "helm-data"),
        )
        return env

    def script(self, block: Block) -> str:
        text = block.text
        for name, replacement in self.namespaces.items():
            text = namespace_token(name).sub(replacement, text)
        return text

    def run(self, block: Block, check: bool = True) -> subprocess.CompletedProcess[str]:
        script = self.script(block)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        self.ran.append(block.where())
        if check:
            assert result.returncode == 0, (
                f"the README's block at {block.where()} failed ({result.returncode}):\n{script}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def run_all(self, blocks: list[Block]) -> None:
        assert blocks, "no marked blocks"
        for block in blocks:
            self.run(block)


@pytest.fixture
def docs_id() -> str:
    return f"docs-{uuid.uuid4().hex[:5]}"


def exists(read, *args: str) -> bool:
    try:
        read(*args)
    except kubernetes.client.ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def test_the_helm_path_from_install_to_uninstall(
    cluster: Cluster, performer_crd: dict, docs_id: str, tmp_path: Path
):
    system, avs = f"{docs_id}-system", f"{docs_id}-avs"
    shell = DocsShell(cluster, tmp_path, {"hourglass-system": system, "avs": avs})
    core = kubernetes.client.CoreV1Api(cluster.api)
    apps = kubernetes.client.AppsV1Api(cluster.api)
    custom = kubernetes.client.CustomObjectsApi(cluster.api)
    ext = kubernetes.client.ApiextensionsV1Api(cluster.api)
    operator = OperatorProcess(cluster.kubeconfig, avs, tmp_path)
    try:
        operator.wait_ready(timeout=120)  # the first start imports Ansible; slow on a busy machine
        shell.run_all(marked(README, ""))
        # The install: the chart's Deployment in the (throw-away) operator namespace.
        assert apps.read_namespaced_deployment("hourglass-operator", system).status.available_replicas == 1
        labels = core.read_namespace(system).metadata.labels
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        # The first Performer, Ready, its pod replaced by the spec change.
        performer = custom.get_namespaced_custom_object(GROUP, VERSION, avs, PLURAL, "hello-avs")
        assert performer["status"]["ready"] is True
        assert performer["status"]["grpcEndpoint"] == f"performer-hello-avs.{avs}.svc.cluster.local"
        env = {
            e.name: e.value
            for e in core.read_namespaced_pod("performer-hello-avs", avs).spec.containers[0].env
        }
        assert env["LOG_LEVEL"] == "debug"

        conditions = shell.run(marked(README, "troubleshooting")[0]).stdout
        assert "Ready=True" in conditions

        shell.run_all(marked(README, "uninstall"))
        assert not exists(custom.get_namespaced_custom_object, GROUP, VERSION, avs, PLURAL, "hello-avs")
        assert not exists(apps.read_namespaced_deployment, "hourglass-operator", system)
        rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
        assert not exists(rbac.read_cluster_role, "hourglass-operator")
        assert exists(ext.read_custom_resource_definition, PERFORMER_CRD), "helm uninstall must keep the CRD"
    finally:
        cleanup_helm(shell, custom, core, avs, system)
        operator.stop()


def cleanup_helm(shell: DocsShell, custom, core, avs: str, system: str) -> None:
    """What a failed run left: Performers (while the operator runs), the release, the namespaces."""
    if exists(core.read_namespace, avs):
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, avs, PLURAL)
        wait_for(
            lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, avs, PLURAL)["items"],
            timeout=90, what="the README's Performers to be deleted",
        )  # fmt: skip
    helm = str(helm_binary())
    subprocess.run(
        [helm, "uninstall", "hourglass-operator", "-n", system, "--ignore-not-found", "--wait"],
        env=shell.env(), capture_output=True, timeout=300,
    )  # fmt: skip
    for name in (avs, system):
        if exists(core.read_namespace, name):
            core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def no_installation(cluster: Cluster) -> Iterator[None]:
    """The README's kustomize and Ansible paths install the cluster-scoped `hourglass-operator`
    roles; they must not exist before (another installation), and are removed after."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    assert not exists(rbac.read_cluster_role, "hourglass-operator"), (
        "ClusterRole hourglass-operator exists: another installation of the operator is in this cluster"
    )
    yield
    for delete in (rbac.delete_cluster_role, rbac.delete_cluster_role_binding):
        for name in (
            "hourglass-operator",
            "hourglass-operator-performer-editor",
            "hourglass-operator-performer-viewer",
        ):
            try:
                delete(name)
            except kubernetes.client.ApiException as err:
                if err.status != 404:
                    raise


def test_the_kustomize_install_and_uninstall(
    cluster: Cluster, performer_crd: dict, no_installation, tmp_path: Path
):
    core = kubernetes.client.CoreV1Api(cluster.api)
    if exists(core.read_namespace, "hourglass-system"):
        pytest.skip(
            "namespace hourglass-system exists: config/default would install into someone's namespace"
        )
    shell = DocsShell(cluster, tmp_path)
    install, uninstall = marked(README, "kustomize")
    apps = kubernetes.client.AppsV1Api(cluster.api)
    try:
        shell.run(install)
        deployment = apps.read_namespaced_deployment("hourglass-operator", "hourglass-system")
        assert deployment.status.available_replicas == 1
        assert deployment.metadata.labels["app.kubernetes.io/name"] == "hourglass-operator"
        shell.run(uninstall)
        rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
        assert not exists(rbac.read_cluster_role, "hourglass-operator")
        ext = kubernetes.client.ApiextensionsV1Api(cluster.api)
        assert exists(ext.read_custom_resource_definition, PERFORMER_CRD), (
            "the README's uninstall keeps the CRD"
        )
    finally:
        if exists(core.read_namespace, "hourglass-system"):
            core.delete_namespace("hourglass-system", propagation_policy="Background")


def test_the_ansible_install_and_uninstall(
    cluster: Cluster, performer_crd: dict, no_installation, docs_id: str, tmp_path: Path
):
    system = f"{docs_id}-system"
    shell = DocsShell(cluster, tmp_path, {"hourglass-system": system})
    install, uninstall = marked(README, "ansible")
    apps = kubernetes.client.AppsV1Api(cluster.api)
    core = kubernetes.client.CoreV1Api(cluster.api)
    try:
        shell.run(install)
        assert apps.read_namespaced_deployment("hourglass-operator", system).status.available_replicas == 1
        shell.run(uninstall)
        assert not exists(apps.read_namespaced_deployment, "hourglass-operator", system)
        ext = kubernetes.client.ApiextensionsV1Api(cluster.api)
        assert exists(ext.read_custom_resource_definition, PERFORMER_CRD), (
            "uninstall-operator.yml keeps the CRD"
        )
    finally:
        if exists(core.read_namespace, system):
            core.delete_namespace(system, propagation_policy="Background")
