"""playbooks/install-operator.yml and uninstall-operator.yml against the real API server, into the
test's namespace with object names unique to the test (operator_name), so the cluster-scoped
ClusterRoles and ClusterRoleBinding do not clash with other tests.

Install creates the objects of config/default and waits until the Deployment is available; a
second run changes nothing; an upgrade (server-side apply) removes what the new version no longer
renders; the shared CRD carries no installation's labels, so another installation applies it without
conflicts; watching some namespaces binds the ClusterRole there only (and a later
install without them restores the cluster-wide binding); uninstall removes every object but keeps
the CRD and the Performers. The CRD removal (-e operator_remove_crd=true) runs in check mode only:
it would delete the CRD every other test uses.

On the local control plane kwok plays the kubelet: it reports the operator pod Running and Ready
without running the image, so "available" proves that the objects fit together (scheduling,
admission under the restricted Pod Security Standard, the ServiceAccount), not that the image
works. On a cluster with real kubelets set HOURGLASS_TEST_OPERATOR_IMAGE to a pullable image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import kubernetes
import pytest
import yaml

from tests.support.api import read_or_none
from tests.support.cluster import Cluster
from tests.support.paths import CRD_FILE, REPO
from tests.support.performers import GROUP, PLURAL, VERSION, performer
from tests.support.playbooks import run_playbook
from tests.support.rbac import unique_name

PERFORMER_CRD = "performers.hourglass.eigenlayer.io"
CONFIG_CRD = REPO / "config" / "crd" / "bases" / CRD_FILE.name
IMAGE = os.environ.get("HOURGLASS_TEST_OPERATOR_IMAGE", "ghcr.io/hourglass-operator/operator:0.1.0-kwok")
RBAC = "rbac.authorization.k8s.io"


def recap_changed(output: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith("localhost"))
    return int(line.split("changed=")[1].split()[0])


@pytest.fixture
def installation(cluster: Cluster, namespace: str, performer_crd: dict) -> Iterator[dict]:
    """Arguments naming this test's installation; whatever it leaves is removed afterwards."""
    # The install applies config/crd to the shared cluster: it must be the CRD every test uses.
    assert CONFIG_CRD.read_bytes() == CRD_FILE.read_bytes(), f"{CONFIG_CRD} is stale"
    name = unique_name()
    yield {"namespace": namespace, "name": name}
    # Namespaced leftovers go with the test's namespaces; cluster-scoped ones are deleted here.
    cluster_scoped = [f"clusterrolebinding.{RBAC}/{name}", f"clusterrole.{RBAC}/{name}"] + [
        f"clusterrole.{RBAC}/{name}-performer-{role}" for role in ("editor", "viewer")
    ]
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false", *cluster_scoped, check=False)


def args(cluster: Cluster, namespace: str, name: str, *extra: str) -> list[str]:
    return [
        "-e", f"operator_namespace={namespace}", "-e", f"operator_name={name}",
        "-e", f"operator_image={IMAGE}", "-e", f"operator_kustomize_binary={cluster.kubectl_bin}", *extra,
    ]  # fmt: skip


def playbook(
    cluster: Cluster, name: str, installation: dict, *extra: str
) -> subprocess.CompletedProcess[str]:
    result = run_playbook(
        f"playbooks/{name}", *args(cluster, installation["namespace"], installation["name"], *extra),
        kubeconfig=cluster.kubeconfig,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    return result


def test_install_is_idempotent_and_uninstall_keeps_the_crd_and_performers(
    cluster, core, custom, installation
):
    namespace, name = installation["namespace"], installation["name"]
    apps = kubernetes.client.AppsV1Api(cluster.api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    playbook(cluster, "install-operator.yml", installation)

    deployment = apps.read_namespaced_deployment(name, namespace)
    conditions = {c.type: c.status for c in deployment.status.conditions}
    assert conditions["Available"] == "True"
    assert deployment.status.available_replicas == deployment.spec.replicas == 1
    pod_spec = deployment.spec.template.spec
    assert pod_spec.service_account_name == name
    [container] = pod_spec.containers
    assert container.image == IMAGE
    env = {e.name: e.value or "" for e in container.env}  # the API drops an empty value
    assert (env["LEADER_ELECT"], env["LEADER_ELECTION_ID"], env["WATCH_NAMESPACE"]) == ("true", name, "")
    assert core.read_namespaced_service_account(name, namespace)
    assert core.read_namespaced_service(f"{name}-metrics", namespace).spec.ports[0].port == 8080
    labels = core.read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    shipped = yaml.safe_load((REPO / "config" / "rbac" / "role.yaml").read_text())["rules"]
    cluster_role = cluster.api.sanitize_for_serialization(rbac.read_cluster_role(name))
    assert cluster_role["rules"] == shipped
    binding = rbac.read_cluster_role_binding(name)
    assert binding.role_ref.name == name
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", name, namespace)]
    leader = rbac.read_namespaced_role(f"{name}-leader-election", namespace)
    assert leader.rules[1].resource_names == [name]
    assert rbac.read_namespaced_role_binding(f"{name}-leader-election", namespace).subjects[0].name == name
    for suffix in ("performer-editor", "performer-viewer"):
        assert rbac.read_cluster_role(f"{name}-{suffix}")

    again = playbook(cluster, "install-operator.yml", installation)
    assert recap_changed(again.stdout) == 0, again.stdout[-6000:]

    # A user's Performer (nothing reconciles it here: the operator pod is a kwok fake).
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer("kept"))
    uninstall = playbook(cluster, "uninstall-operator.yml", installation)
    # Performers left behind keep the finalizer: the play says so and how to delete them first.
    assert "Performers remain" in uninstall.stdout and "operator_remove_performers=true" in uninstall.stdout
    assert read_or_none(apps.read_namespaced_deployment, name, namespace) is None
    operator_pods = "app.kubernetes.io/name=hourglass-operator,app.kubernetes.io/component=operator"
    assert not core.list_namespaced_pod(namespace, label_selector=operator_pods).items  # waited for
    assert read_or_none(core.read_namespaced_service_account, name, namespace) is None
    assert read_or_none(core.read_namespaced_service, f"{name}-metrics", namespace) is None
    assert read_or_none(rbac.read_namespaced_role, f"{name}-leader-election", namespace) is None
    assert read_or_none(rbac.read_namespaced_role_binding, f"{name}-leader-election", namespace) is None
    for cluster_scoped in (name, f"{name}-performer-editor", f"{name}-performer-viewer"):
        assert read_or_none(rbac.read_cluster_role, cluster_scoped) is None
    assert read_or_none(rbac.read_cluster_role_binding, name) is None
    extensions = kubernetes.client.ApiextensionsV1Api(cluster.api)
    assert extensions.read_custom_resource_definition(PERFORMER_CRD)
    assert custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "kept")
    assert core.read_namespace(namespace).status.phase == "Active"  # kept: operator_remove_namespace=false

    # Removing the CRD, in check mode only (a dry run: the shared CRD stays).
    check = playbook(
        cluster, "uninstall-operator.yml", installation, "--check", "-e", "operator_remove_crd=true"
    )
    crd_task_title = "TASK [hourglass.operator.operator : Delete the Performer CRD]"
    assert crd_task_title in check.stdout
    crd_task = check.stdout.split(crd_task_title)[1].split("TASK")[0]
    assert "changed: [localhost]" in crd_task
    assert extensions.read_custom_resource_definition(PERFORMER_CRD)
    assert custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "kept")


def test_an_upgrade_removes_what_the_new_version_no_longer_renders(cluster, installation, tmp_path):
    """The install applies server-side as operator_field_manager, so a field the previous version
    set and the new one does not (here an environment variable of the operator) goes away."""
    namespace, name = installation["namespace"], installation["name"]
    previous = tmp_path / "config"
    shutil.copytree(REPO / "config", previous)
    manager = previous / "manager" / "manager.yaml"
    env = "          env:\n"
    assert manager.read_text().count(env) == 1
    manager.write_text(manager.read_text().replace(env, env + '            - {name: OBSOLETE, value: "1"}\n'))
    apps = kubernetes.client.AppsV1Api(cluster.api)

    def deployed() -> tuple[dict[str, str], set[tuple[str, str]]]:
        deployment = apps.read_namespaced_deployment(name, namespace)
        variables = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
        return variables, {(m.manager, m.operation) for m in deployment.metadata.managed_fields}

    playbook(
        cluster, "install-operator.yml", installation, "-e", f"operator_kustomize_dir={previous / 'default'}"
    )
    variables, managers = deployed()
    assert variables["OBSOLETE"] == "1" and ("hourglass-install", "Apply") in managers, managers

    playbook(cluster, "install-operator.yml", installation)
    variables, managers = deployed()
    assert "OBSOLETE" not in variables and variables["LEADER_ELECT"] == "true"
    assert ("hourglass-install", "Apply") in managers, managers


def test_another_installation_can_apply_the_shared_crd_after_this_one(cluster, installation):
    """Every installation of a cluster applies the one Performer CRD; the playbook does not claim it
    with its own instance and managed-by labels, which the next installation would conflict over."""
    playbook(cluster, "install-operator.yml", installation)
    rendered = yaml.safe_load_all(cluster.kubectl("kustomize", str(REPO / "config" / "default")))
    crd = next(d for d in rendered if d and d["kind"] == "CustomResourceDefinition")
    cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=another-installation", "-f", "-",
        stdin=yaml.safe_dump(crd),
    )  # fmt: skip


def test_watching_some_namespaces_binds_the_cluster_role_there_only(cluster, core, installation):
    namespace, name = installation["namespace"], installation["name"]
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    watched = f"{namespace[:55]}-w"
    core.create_namespace({"metadata": {"name": watched, "labels": {"hourglass.eigenlayer.io/test": "true"}}})
    try:
        role_vars = {"operator_role_vars": {"performer_cluster_domain": "corp.example"}}
        playbook(
            cluster, "install-operator.yml", installation,
            "-e", f"operator_watch_namespaces={watched}", "-e", json.dumps(role_vars),
        )  # fmt: skip
        binding = rbac.read_namespaced_role_binding(name, watched)
        assert (binding.role_ref.kind, binding.role_ref.name) == ("ClusterRole", name)
        assert [(s.name, s.namespace) for s in binding.subjects] == [(name, namespace)]
        assert read_or_none(rbac.read_cluster_role_binding, name) is None
        # Reading a Node cannot be granted in a namespace: that binding stays cluster-wide.
        nodes = rbac.read_cluster_role_binding(f"{name}-nodes")
        assert nodes.role_ref.name == f"{name}-nodes" and nodes.subjects[0].namespace == namespace
        deployment = kubernetes.client.AppsV1Api(cluster.api).read_namespaced_deployment(name, namespace)
        env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
        assert env["WATCH_NAMESPACE"] == watched
        assert json.loads(env["ROLE_VARS"]) == role_vars["operator_role_vars"]

        playbook(cluster, "install-operator.yml", installation)  # all namespaces again
        assert rbac.read_cluster_role_binding(name).subjects[0].namespace == namespace
        assert read_or_none(rbac.read_namespaced_role_binding, name, watched) is None

        playbook(cluster, "install-operator.yml", installation, "-e", f"operator_watch_namespaces={watched}")
        # operator_remove_performers deletes the watched namespaces' Performers only (nothing holds
        # a finalizer on these: the operator pod is a kwok fake).
        custom = kubernetes.client.CustomObjectsApi(cluster.api)
        custom.create_namespaced_custom_object(GROUP, VERSION, watched, PLURAL, performer("watched"))
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer("unwatched"))
        uninstall = playbook(
            cluster, "uninstall-operator.yml", installation,
            "-e", f"operator_watch_namespaces={watched}", "-e", "operator_remove_performers=true",
        )  # fmt: skip
        assert "Performers remain" not in uninstall.stdout
        assert (
            read_or_none(custom.get_namespaced_custom_object, GROUP, VERSION, watched, PLURAL, "watched")
            is None
        )
        assert custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "unwatched")
        assert read_or_none(rbac.read_namespaced_role_binding, name, watched) is None
        assert read_or_none(rbac.read_cluster_role, name) is None
        assert read_or_none(rbac.read_cluster_role_binding, f"{name}-nodes") is None
    finally:
        core.delete_namespace(watched, propagation_policy="Background")
