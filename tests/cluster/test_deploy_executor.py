"""playbooks/deploy-executor.yml against the real control plane: the executor's objects are
created in a namespace that enforces the restricted Pod Security profile, its pod becomes ready,
a second run changes nothing, no key reaches the output, `executor_state=absent` removes it; the
ServiceAccount can do exactly what the executor's Kubernetes backend needs; and the real executor
process, authenticated with that ServiceAccount's token (TokenRequest), deploys its Performer
(made ready by the operator), runs a signed task and deletes the Performer on shutdown; removal with
executor_remove_performers deletes that executor's Performers only.

Under kwok the StatefulSet's pod runs nothing: kwok reports it Running and Ready, so "ready" there
proves scheduling, admission (restricted profile), the volume claim and the StatefulSet controller,
not the container; the executor itself runs as a local process in the last test. NetworkPolicies
are not enforced without a CNI plugin (the local control plane has none): the policy's selectors
are checked, not its effect.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator

import grpc
import kubernetes
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2_grpc

from tests.support.aggregator import EXECUTOR, TestAggregator
from tests.support.api import exists
from tests.support.executor_deploy import NAME, deploy, executor_vars, new_key
from tests.support.executor_harness import static_chain
from tests.support.executor_process import ExecutorProcess, kubernetes_config
from tests.support.performers import GROUP, PLURAL, VERSION, performer
from tests.support.playbooks import recap
from tests.support.rbac import InstalledRbac, can_i, forbidden_lines, service_account_kubeconfig
from tests.support.waiting import wait_for
from tests.unit.test_executor_role import AGGREGATOR

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
CLAIM = f"data-{NAME}-0"


def executor_objects(cluster, namespace: str) -> dict[str, bool]:
    """Which of the playbook's objects exist (by kind)."""
    core = kubernetes.client.CoreV1Api(cluster.api)
    apps = kubernetes.client.AppsV1Api(cluster.api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    network = kubernetes.client.NetworkingV1Api(cluster.api)
    return {
        "ServiceAccount": exists(core.read_namespaced_service_account, NAME, namespace),
        "Role": exists(rbac.read_namespaced_role, NAME, namespace),
        "RoleBinding": exists(rbac.read_namespaced_role_binding, NAME, namespace),
        "ConfigMap": exists(core.read_namespaced_config_map, NAME, namespace),
        "Secret": exists(core.read_namespaced_secret, f"{NAME}-keys", namespace),
        "Service": exists(core.read_namespaced_service, NAME, namespace),
        "StatefulSet": exists(apps.read_namespaced_stateful_set, NAME, namespace),
        "NetworkPolicy": exists(network.read_namespaced_network_policy, f"{NAME}-performers", namespace),
        "NetworkPolicy of the executor": exists(network.read_namespaced_network_policy, NAME, namespace),
    }


def image_vars(cluster) -> dict[str, str]:
    """The executor image: under kwok it is never pulled; another cluster needs one it can run."""
    image = os.environ.get("HOURGLASS_TEST_EXECUTOR_IMAGE")
    if image:
        return {"executor_image": image}
    if not cluster.local:
        pytest.skip("a pod of the executor image must become ready here: set HOURGLASS_TEST_EXECUTOR_IMAGE")
    return {}


@pytest.fixture
def storage_class(cluster, core, namespace: str) -> Iterator[str]:
    """Where the executor's claim is bound: on the local control plane (no provisioner) a
    PersistentVolume made for the test's claim; elsewhere the cluster's default StorageClass."""
    if not cluster.local:
        classes = kubernetes.client.StorageV1Api(cluster.api).list_storage_class().items
        default = "storageclass.kubernetes.io/is-default-class"
        if not any((c.metadata.annotations or {}).get(default) == "true" for c in classes):
            pytest.skip("the cluster has no default StorageClass for the executor's volume claim")
        yield ""
        return
    name = f"hourglass-test-{uuid.uuid4().hex[:8]}"
    core.create_persistent_volume(
        {
            "metadata": {"name": name, "labels": {"hourglass.eigenlayer.io/test": "true"}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": name,
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/tmp/{name}"},  # never mounted: kwok runs no containers
                "claimRef": {"namespace": namespace, "name": CLAIM},
            },
        }
    )
    yield name
    core.delete_persistent_volume(name)


def test_deploy_is_ready_restricted_idempotent_silent_about_keys_and_removable(
    cluster, core, namespace, storage_class, tmp_path
):
    core.patch_namespace(namespace, {"metadata": {"labels": RESTRICTED}})
    key = new_key()
    variables = executor_vars(
        namespace,
        executor_network_policy=True,
        executor_ingress_policy=True,
        executor_grpc_from=[AGGREGATOR],
        executor_storage_class_name=storage_class,
        executor_wait_timeout=120,
        **image_vars(cluster),
    )
    keys = {"executor_operator_private_key": key}

    first = deploy(tmp_path, variables, keys, "-v", kubeconfig=cluster.kubeconfig)
    assert first.returncode == 0, first.stdout + first.stderr
    output = first.stdout + first.stderr
    assert key[2:].lower() not in output.lower()

    assert all(executor_objects(cluster, namespace).values()), executor_objects(cluster, namespace)
    # The playbook waited for the StatefulSet; its pod passed restricted admission and is Ready.
    pod = core.read_namespaced_pod(f"{NAME}-0", namespace)
    assert pod.metadata.labels["app.kubernetes.io/name"] == "hourglass-executor"
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert core.read_namespaced_persistent_volume_claim(CLAIM, namespace).status.phase == "Bound"
    secret = core.read_namespaced_secret(f"{NAME}-keys", namespace)
    assert secret.metadata.annotations is None or not any(
        "last-applied" in name for name in secret.metadata.annotations
    )  # server-side apply: no second copy of the keys in an annotation
    assert secret.data["config.yaml"] not in output
    configmap = core.read_namespaced_config_map(NAME, namespace)
    assert key[2:] not in json.dumps(configmap.data)
    policy = kubernetes.client.NetworkingV1Api(cluster.api).read_namespaced_network_policy(
        f"{NAME}-performers", namespace
    )
    assert policy.spec.pod_selector.match_labels == {"app": "hourglass-performer"}
    assert policy.spec.policy_types == ["Ingress"]
    [rule] = policy.spec.ingress
    assert rule.ports is None
    assert [peer.pod_selector.match_labels for peer in rule._from] == [
        {"app.kubernetes.io/name": "hourglass-executor"}
    ]
    # Only the aggregators may reach the executor, on its task port; its other ports are closed.
    stored = cluster.api.sanitize_for_serialization(
        kubernetes.client.NetworkingV1Api(cluster.api).read_namespaced_network_policy(NAME, namespace)
    )
    assert [(rule["ports"], rule["from"]) for rule in stored["spec"]["ingress"]] == [
        ([{"port": 9090, "protocol": "TCP"}], [AGGREGATOR])
    ]

    second = deploy(tmp_path, variables, keys, kubeconfig=cluster.kubeconfig)
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second.stdout)["changed"] == 0, second.stdout

    removal = {"executor_namespace": namespace, "executor_state": "absent"}
    removed = deploy(tmp_path, removal, {}, "-v", kubeconfig=cluster.kubeconfig)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert key[2:].lower() not in (removed.stdout + removed.stderr).lower()
    assert not any(executor_objects(cluster, namespace).values()), executor_objects(cluster, namespace)
    assert not exists(core.read_namespaced_pod, f"{NAME}-0", namespace)
    # The claim is kept (it holds the claimed task ids) unless executor_remove_data=true.
    assert exists(core.read_namespaced_persistent_volume_claim, CLAIM, namespace)
    again = deploy(tmp_path, removal, {}, kubeconfig=cluster.kubeconfig)
    assert again.returncode == 0 and recap(again.stdout)["changed"] == 0, again.stdout


def test_service_account_may_manage_performers_in_its_namespace_and_nothing_else(
    cluster, namespace, tmp_path
):
    variables = executor_vars(namespace, executor_replicas=0, executor_storage="memory")
    result = deploy(
        tmp_path, variables, {"executor_operator_private_key": new_key()}, kubeconfig=cluster.kubeconfig
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Its own credential (a TokenRequest token), not impersonation.
    kubeconfig = service_account_kubeconfig(
        cluster, InstalledRbac(namespace, NAME, []), tmp_path / "sa.kubeconfig"
    )
    performers = f"{PLURAL}.{GROUP}"

    def allowed(verb: str, resource: str, where: str | None = namespace, **kwargs) -> bool:
        return can_i(cluster, kubeconfig, verb, resource, namespace=where, **kwargs)

    for verb in ("create", "get", "list", "watch", "delete"):
        assert allowed(verb, performers), verb
    denied = [
        ("patch", performers, namespace),
        ("update", performers, namespace),
        ("deletecollection", performers, namespace),
        ("create", performers, "default"),
        ("list", performers, None),  # all namespaces
        ("get", "secrets", namespace),
        ("list", "secrets", namespace),
        ("get", "configmaps", namespace),
        ("get", "pods", namespace),
        ("create", "pods", namespace),
        ("create", "services", namespace),
        ("get", "statefulsets.apps", namespace),
        ("create", "rolebindings.rbac.authorization.k8s.io", namespace),
    ]
    for verb, resource, where in denied:
        assert not allowed(verb, resource, where), (verb, resource, where)
    assert not allowed("update", performers, subresource="status")


def test_a_network_policy_of_the_users_named_like_the_executor_is_left_alone(cluster, namespace, tmp_path):
    """The docs tell users to keep strangers off the executor's ports with a NetworkPolicy: one they
    wrote under the executor's name is not the role's, to delete when executor_ingress_policy is off
    or the executor is removed."""
    network = kubernetes.client.NetworkingV1Api(cluster.api)
    theirs = {"metadata": {"name": NAME, "labels": {"team": "ops"}},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}  # fmt: skip
    network.create_namespaced_network_policy(namespace, theirs)
    variables = executor_vars(namespace, executor_replicas=0, executor_storage="memory")
    keys = {"executor_operator_private_key": new_key()}
    deployed = deploy(tmp_path, variables, keys, kubeconfig=cluster.kubeconfig)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert exists(network.read_namespaced_network_policy, NAME, namespace)
    removal = {"executor_namespace": namespace, "executor_state": "absent"}
    removed = deploy(tmp_path, removal, {}, kubeconfig=cluster.kubeconfig)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not exists(kubernetes.client.AppsV1Api(cluster.api).read_namespaced_stateful_set, NAME, namespace)
    assert network.read_namespaced_network_policy(NAME, namespace).metadata.labels == {"team": "ops"}


def test_executor_process_runs_under_the_service_account_token(
    cluster, custom, namespace, operator, performers_dir, tmp_path
):
    # replicas 0: only the local process below acts as this executor (a real pod would share its key).
    variables = executor_vars(namespace, executor_replicas=0, executor_storage="memory")
    result = deploy(
        tmp_path, variables, {"executor_operator_private_key": new_key()}, kubeconfig=cluster.kubeconfig
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kubeconfig = service_account_kubeconfig(
        cluster, InstalledRbac(namespace, NAME, []), tmp_path / "sa.kubeconfig"
    )

    config = kubernetes_config(tmp_path, kubeconfig, namespace)
    config["kubernetes"]["deletePerformersOnShutdown"] = True  # exercises delete with the token too
    executor = ExecutorProcess(config, tmp_path, performers_dir)
    try:
        executor.wait_serving(timeout=150)
        [deployed] = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        assert deployed["status"]["ready"] is True  # the operator (admin credentials) made it ready

        aggregator = TestAggregator(static_chain())
        submission = aggregator.submission(json.dumps({"op": "echo", "data": "least privilege"}).encode())
        with grpc.insecure_channel(f"127.0.0.1:{executor.task_port}") as channel:
            task_result = executor_pb2_grpc.ExecutorServiceStub(channel).SubmitTask(submission, timeout=30)
        aggregator.verify(submission, task_result)
    finally:
        returncode = executor.stop()
    assert returncode == 0, executor.logs()
    wait_for(
        lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
        timeout=60,
        what="the executor to delete its Performer on shutdown",
    )
    assert not forbidden_lines(executor.log_lines())

    # executor_state=absent with executor_remove_performers deletes this executor's Performers
    # (by its owner label) and no one else's.
    owner = hashlib.sha256(EXECUTOR.address.lower().encode()).hexdigest()[:8]
    for name, owner_id in (("left-by-executor", f"executor-{owner}"), ("someone-elses", "executor-other")):
        body = performer(name)
        body["metadata"]["labels"] = {"hourglass.eigenlayer.io/executor": owner_id}
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    removal = {**variables, "executor_state": "absent", "executor_remove_performers": True}
    removed = deploy(tmp_path, removal, {}, kubeconfig=cluster.kubeconfig)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    left = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    assert [p["metadata"]["name"] for p in left] == ["someone-elses"]


def no_default_storage_class(cluster) -> None:
    """Skips unless the cluster has no default StorageClass (the local control plane has none)."""
    default = "storageclass.kubernetes.io/is-default-class"
    classes = kubernetes.client.StorageV1Api(cluster.api).list_storage_class().items
    if any((c.metadata.annotations or {}).get(default) == "true" for c in classes):
        pytest.skip("the cluster has a default StorageClass")


def test_sqlite_storage_without_a_default_storage_class_stops_before_anything_is_applied(
    cluster, namespace, tmp_path
):
    """Without the check the play applied everything and then waited executor_wait_timeout for a pod
    whose claim could never bind."""
    no_default_storage_class(cluster)
    variables = executor_vars(namespace, executor_wait_timeout=420)
    result = deploy(
        tmp_path, variables, {"executor_operator_private_key": new_key()}, kubeconfig=cluster.kubeconfig
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert (
        f"executor_storage is sqlite, whose data volume claim {namespace}/{CLAIM} asks for the cluster's "
        "default StorageClass, and this cluster has none"
    ) in output
    assert "or executor_storage=memory" in output
    assert not any(executor_objects(cluster, namespace).values()), executor_objects(cluster, namespace)


def test_a_claim_that_cannot_bind_stops_the_play_with_its_reason_after_the_bind_timeout(
    cluster, namespace, tmp_path
):
    variables = executor_vars(
        namespace,
        executor_storage_class_name="no-such-class",
        executor_storage_bind_timeout=6,
        executor_wait_timeout=420,
    )
    result = deploy(
        tmp_path, variables, {"executor_operator_private_key": new_key()}, kubeconfig=cluster.kubeconfig
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert f"The data volume claim {namespace}/{CLAIM} is not bound after 6 s (phase Pending: " in output
    assert 'storageclass.storage.k8s.io "no-such-class" not found' in output
    assert "executor_storage=memory" in output
    assert "was not ready after 420 s" not in output  # it did not wait for the StatefulSet
