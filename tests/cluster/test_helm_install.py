"""The Helm chart installed with a real `helm` (hack/helm/build.sh) into the test's namespace on the
real API server: `helm install --wait` creates the objects and the operator pod is admitted under
the restricted Pod Security Standard, `helm upgrade` with changed values rolls the Deployment, and
`helm uninstall` removes every object of the release but keeps the Performer CRD and Performers.
The executor chart is installed, upgraded and uninstalled the same way.

On the local control plane kwok plays the kubelet: it marks the operator pod Running and Ready
without running the image, so `--wait` succeeds and nothing reconciles the Performer made here. On a
cluster with real kubelets (HOURGLASS_TEST_KUBECONFIG) the image must be pullable; set
HOURGLASS_TEST_OPERATOR_IMAGE (repository:tag) to use another than the chart's default.

The release name is unique per test, so the cluster-scoped names (ClusterRole/ClusterRoleBinding
"<release>-hourglass-operator") do not clash with other tests; the shared CRD is left alone
(`--skip-crds`; the chart's crds/ handling is covered by tests/unit/test_helm_chart.py).
"""

from __future__ import annotations

import os
import uuid

import kubernetes
import pytest
import yaml

from tests.support.api import read_or_none
from tests.support.cluster import Cluster
from tests.support.helm import CHART, EXECUTOR_CHART, Helm, helm_binary
from tests.support.performers import GROUP, PLURAL, VERSION, performer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

PERFORMER_CRD = "performers.hourglass.eigenlayer.io"
WAIT = ["--wait", "--timeout", "180s"]


@pytest.fixture
def helm(cluster: Cluster, tmp_path) -> Helm:
    return Helm(helm_binary(), tmp_path, cluster.kubeconfig)


def image_args() -> list[str]:
    image = os.environ.get("HOURGLASS_TEST_OPERATOR_IMAGE")
    if not image:
        return []
    repository, _, tag = image.rpartition(":")
    return ["--set", f"image.repository={repository}", "--set", f"image.tag={tag}"]


@pytest.fixture
def release(cluster: Cluster, helm: Helm, namespace: str):
    """A unique release name; whatever the test leaves installed is uninstalled afterwards."""
    name = f"hg-{uuid.uuid4().hex[:6]}"
    yield name
    helm.run("uninstall", name, "--namespace", namespace, "--ignore-not-found", "--wait", check=False)
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    for delete in (rbac.delete_cluster_role, rbac.delete_cluster_role_binding):
        for suffix in ("", "-performer-editor", "-performer-viewer"):
            read_or_none(delete, f"{name}-hourglass-operator{suffix}")


def test_helm_installs_upgrades_and_uninstalls_the_operator(
    cluster: Cluster, helm: Helm, namespace: str, release: str, performer_crd: dict
) -> None:
    core = kubernetes.client.CoreV1Api(cluster.api)
    apps = kubernetes.client.AppsV1Api(cluster.api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    ext = kubernetes.client.ApiextensionsV1Api(cluster.api)
    custom = kubernetes.client.CustomObjectsApi(cluster.api)
    fullname = f"{release}-hourglass-operator"
    # The operator pod must be admitted where only restricted pods are.
    core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )

    install = helm.run(
        "install", release, str(CHART), "--namespace", namespace, "--skip-crds", *WAIT, *image_args()
    )
    assert "STATUS: deployed" in install.stdout, install.stdout

    namespaced = {
        "ServiceAccount": (core.read_namespaced_service_account, fullname),
        "Deployment": (apps.read_namespaced_deployment, fullname),
        "Service": (core.read_namespaced_service, f"{fullname}-metrics"),
        "Role": (rbac.read_namespaced_role, f"{fullname}-leader-election"),
        "RoleBinding": (rbac.read_namespaced_role_binding, f"{fullname}-leader-election"),
    }
    cluster_scoped = {
        "ClusterRole": (rbac.read_cluster_role, fullname),
        "ClusterRoleBinding": (rbac.read_cluster_role_binding, fullname),
        "ClusterRole editor": (rbac.read_cluster_role, f"{fullname}-performer-editor"),
        "ClusterRole viewer": (rbac.read_cluster_role, f"{fullname}-performer-viewer"),
    }
    for kind, (read, name) in namespaced.items():
        assert read_or_none(read, name, namespace) is not None, f"{kind} {name} missing"
    for kind, (read, name) in cluster_scoped.items():
        assert read_or_none(read, name) is not None, f"{kind} {name} missing"
    binding = rbac.read_cluster_role_binding(fullname)
    assert (binding.subjects[0].name, binding.subjects[0].namespace) == (fullname, namespace)

    deployment = apps.read_namespaced_deployment(fullname, namespace)
    assert deployment.status.available_replicas == 1
    pods = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={release}").items
    assert [p.status.phase for p in pods] == ["Running"]
    assert pods[0].spec.node_name, "the operator pod was not scheduled"
    assert pods[0].spec.service_account_name == fullname

    manifest = helm.run("get", "manifest", release, "--namespace", namespace).stdout
    assert "CustomResourceDefinition" not in manifest, "the CRD must not be a release object"

    # A user's Performer, to outlive the release.
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer("kept"))

    generation = deployment.metadata.generation
    helm.run(
        "upgrade", release, str(CHART), "--namespace", namespace, "--skip-crds", "--reset-then-reuse-values",
        "--set", "logLevel=debug", "--set", "replicaCount=2", *WAIT,
    )  # fmt: skip
    deployment = apps.read_namespaced_deployment(fullname, namespace)
    assert deployment.metadata.generation > generation
    assert deployment.spec.replicas == 2
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["LOG_LEVEL"] == "debug"
    assert env["LEADER_ELECT"] == "true"
    wait_for(
        lambda: apps.read_namespaced_deployment(fullname, namespace).status.updated_replicas == 2,
        timeout=60,
        what="both replicas of the upgraded Deployment",
    )
    history = yaml.safe_load(helm.run("history", release, "--namespace", namespace, "-o", "yaml").stdout)
    assert [h["revision"] for h in history] == [1, 2]

    helm.run("uninstall", release, "--namespace", namespace, "--wait")
    for kind, (read, name) in namespaced.items():
        wait_for(
            lambda r=read, n=name: read_or_none(r, n, namespace) is None, timeout=60, what=f"{kind} gone"
        )
    for kind, (read, name) in cluster_scoped.items():
        assert read_or_none(read, name) is None, f"{kind} {name} left behind"
    assert read_or_none(ext.read_custom_resource_definition, PERFORMER_CRD) is not None
    kept = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "kept")
    assert kept["metadata"].get("deletionTimestamp") is None


def test_helm_installs_upgrades_and_uninstalls_an_executor(
    cluster: Cluster, helm: Helm, namespace: str, release: str
) -> None:
    """The executor chart (charts/hourglass-executor) with its configuration from values and the
    in-memory store (kwok provisions no volumes): `--wait` sees the StatefulSet ready under the
    restricted Pod Security Standard, the API server accepts both NetworkPolicies, a changed
    configuration rolls the pod, uninstall removes it all. As for the operator, kwok marks the pod
    Ready without running the image (HOURGLASS_TEST_EXECUTOR_IMAGE for a cluster with real kubelets)."""
    from tests.unit.test_executor_chart import AGGREGATOR, CONFIG, PROMETHEUS

    core = kubernetes.client.CoreV1Api(cluster.api)
    apps = kubernetes.client.AppsV1Api(cluster.api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    values = helm.home / f"{release}-values.yaml"
    executor_policy = {"enabled": True, "grpcFrom": [AGGREGATOR], "metricsFrom": [PROMETHEUS]}
    chosen = {
        "persistence": {"enabled": False},
        "networkPolicy": {"enabled": True, "executor": executor_policy},
    }
    values.write_text(yaml.safe_dump({"config": CONFIG, **chosen}))
    image = os.environ.get("HOURGLASS_TEST_EXECUTOR_IMAGE")
    image_set = []
    if image:
        repository, _, tag = image.rpartition(":")
        image_set = ["--set", f"image.repository={repository}", "--set", f"image.tag={tag}"]
    fullname = f"{release}-hourglass-executor"

    install = helm.run("install", release, str(EXECUTOR_CHART), "--namespace", namespace,
                       "--values", str(values), *WAIT, *image_set)  # fmt: skip
    assert "STATUS: deployed" in install.stdout, install.stdout
    assert f'Its Performers are created in namespace "{namespace}"' in install.stdout
    statefulset = apps.read_namespaced_stateful_set(fullname, namespace)
    assert statefulset.status.ready_replicas == 1
    [pod] = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={release}").items
    assert pod.status.phase == "Running" and pod.spec.service_account_name == fullname
    assert rbac.read_namespaced_role(fullname, namespace).rules[0].resources == ["performers"]
    assert core.read_namespaced_secret(f"{fullname}-config", namespace).data["config.yaml"]
    rollout_hash = statefulset.spec.template.metadata.annotations["hourglass.eigenlayer.io/config-sha256"]
    networking = kubernetes.client.NetworkingV1Api(cluster.api)
    stored = cluster.api.sanitize_for_serialization(
        networking.read_namespaced_network_policy(fullname, namespace)
    )
    assert [(rule["ports"], rule["from"]) for rule in stored["spec"]["ingress"]] == [
        ([{"port": 9090, "protocol": "TCP"}], [AGGREGATOR]),
        ([{"port": 9095, "protocol": "TCP"}], [PROMETHEUS]),
    ]
    assert networking.read_namespaced_network_policy(f"{fullname}-performers", namespace).spec.ingress

    values.write_text(yaml.safe_dump({"config": {**CONFIG, "taskTimeout": "45s"}, **chosen}))
    helm.run("upgrade", release, str(EXECUTOR_CHART), "--namespace", namespace,
             "--values", str(values), *WAIT, *image_set)  # fmt: skip
    template = apps.read_namespaced_stateful_set(fullname, namespace).spec.template
    assert template.metadata.annotations["hourglass.eigenlayer.io/config-sha256"] != rollout_hash

    helm.run("uninstall", release, "--namespace", namespace, "--wait")
    for read, name in (
        (apps.read_namespaced_stateful_set, fullname),
        (core.read_namespaced_secret, f"{fullname}-config"),
        (core.read_namespaced_service, fullname),
        (rbac.read_namespaced_role, fullname),
        (core.read_namespaced_service_account, fullname),
        (networking.read_namespaced_network_policy, fullname),
    ):
        wait_for(
            lambda r=read, n=name: read_or_none(r, n, namespace) is None, timeout=60, what=f"{name} gone"
        )
