"""The local control plane behaves like a real cluster: kwok nodes from the catalog are Ready with
their labels, taints and allocatable resources, the scheduler honours resources, taints and
RuntimeClasses, and the controller-manager garbage-collects dependents and fills EndpointSlices."""

from __future__ import annotations

import kubernetes
import pytest
import yaml
from kubernetes.utils import parse_quantity

from tests.support.paths import CATALOG
from tests.support.waiting import wait_for

pytestmark = pytest.mark.smoke  # checks the test environment, not the product

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod_manifest(
    name: str,
    *,
    requests: dict | None = None,
    tolerations: list | None = None,
    labels: dict | None = None,
    **spec: object,
) -> dict:
    """A minimal pod under the restricted Pod Security profile."""
    resources = {"requests": requests, "limits": requests} if requests else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": PAUSE_IMAGE,
                    "resources": resources,
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
            "tolerations": tolerations or [],
            **spec,
        },
    }


def run_pod(core: kubernetes.client.CoreV1Api, namespace: str, manifest: dict) -> kubernetes.client.V1Pod:
    """Create the pod and wait until it is Running and Ready."""
    core.create_namespaced_pod(namespace, manifest)
    name = manifest["metadata"]["name"]

    def ready() -> kubernetes.client.V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        return pod if pod.status.phase == "Running" and conditions.get("Ready") == "True" else None

    return wait_for(ready, timeout=60, what=f"pod {namespace}/{name} to be Running and Ready")


def wait_unschedulable(
    core: kubernetes.client.CoreV1Api, namespace: str, name: str
) -> kubernetes.client.V1PodCondition:
    """Wait for the scheduler to mark the pod Unschedulable; its PodScheduled condition."""

    def condition() -> kubernetes.client.V1PodCondition | None:
        pod = core.read_namespaced_pod(name, namespace)
        return next(
            (
                c
                for c in pod.status.conditions or []
                if c.type == "PodScheduled" and c.reason == "Unschedulable"
            ),
            None,
        )

    scheduled = wait_for(condition, timeout=30, what=f"pod {namespace}/{name} to be Unschedulable")
    assert scheduled.status == "False"
    return scheduled


def quantities(resources: dict[str, str]) -> dict[str, object]:
    """Resource quantities compared by value (the API server prints 2048Gi as 2Ti)."""
    return {name: parse_quantity(amount) for name, amount in resources.items()}


def node_labels(core: kubernetes.client.CoreV1Api, name: str) -> dict[str, str]:
    return core.read_node(name).metadata.labels


def test_catalog_nodes_are_ready_with_their_labels_taints_and_resources(
    core: kubernetes.client.CoreV1Api, node_catalog: list[dict]
):
    for wanted in node_catalog:
        node = core.read_node(wanted["metadata"]["name"])
        conditions = {c.type: c.status for c in node.status.conditions}
        assert conditions.get("Ready") == "True", f"{node.metadata.name} is not Ready: {conditions}"
        assert wanted["metadata"]["labels"].items() <= node.metadata.labels.items()
        taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in node.spec.taints or []]
        assert taints == wanted["spec"].get("taints", [])
        assert quantities(node.status.allocatable) == quantities(wanted["status"]["allocatable"])


def test_catalog_covers_gpu_and_every_tee(node_catalog: list[dict]):
    labels = [n["metadata"]["labels"] for n in node_catalog]
    assert any(label.get("nvidia.com/gpu.present") == "true" for label in labels)
    for feature in ("sgx", "sev", "sev.snp", "tdx"):
        assert any(
            label.get(f"feature.node.kubernetes.io/cpu-security.{feature}.enabled") == "true"
            for label in labels
        ), f"no node offers {feature}"


def test_runtime_classes_for_tee_runtimes_exist(cluster, node_catalog: list[dict]):
    node_api = kubernetes.client.NodeV1Api(cluster.api)
    wanted = [d for d in yaml.safe_load_all((CATALOG / "runtimeclasses.yaml").read_text()) if d]
    for runtime_class in wanted:
        got = node_api.read_runtime_class(runtime_class["metadata"]["name"])
        assert got.handler == runtime_class["handler"]
        assert got.scheduling.node_selector == runtime_class["scheduling"]["nodeSelector"]


def test_plain_pod_is_scheduled_on_a_general_node_and_becomes_ready(
    core: kubernetes.client.CoreV1Api, namespace: str, node_catalog: list[dict]
):
    pod = run_pod(core, namespace, pod_manifest("plain", requests={"cpu": "100m", "memory": "64Mi"}))
    assert pod.status.pod_ip, "kwok should assign the pod an IP"
    # GPU and TEE nodes are tainted, so an ordinary pod can only land on the general pool.
    assert node_labels(core, pod.spec.node_name)["hourglass.eigenlayer.io/node-pool"] == "general"


def test_pod_requesting_a_gpu_lands_on_a_gpu_node(
    core: kubernetes.client.CoreV1Api, namespace: str, node_catalog: list[dict]
):
    pod = run_pod(
        core, namespace, pod_manifest("gpu", requests={"nvidia.com/gpu": "1"}, tolerations=[GPU_TOLERATION])
    )
    assert node_labels(core, pod.spec.node_name)["nvidia.com/gpu.present"] == "true"


def test_pod_selecting_a_gpu_product_lands_on_that_product(
    core: kubernetes.client.CoreV1Api, namespace: str, node_catalog: list[dict]
):
    pod = run_pod(
        core,
        namespace,
        pod_manifest(
            "h100",
            requests={"nvidia.com/gpu": "2"},
            tolerations=[GPU_TOLERATION],
            nodeSelector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        ),
    )
    assert pod.spec.node_name == "kwok-gpu-h100-0"


def test_pod_requesting_more_gpus_than_any_node_has_stays_pending(
    core: kubernetes.client.CoreV1Api, namespace: str, node_catalog: list[dict]
):
    most = max(int(n["status"]["allocatable"].get("nvidia.com/gpu", 0)) for n in node_catalog)
    core.create_namespaced_pod(
        namespace,
        pod_manifest(
            "too-many-gpus", requests={"nvidia.com/gpu": str(most + 1)}, tolerations=[GPU_TOLERATION]
        ),
    )

    condition = wait_unschedulable(core, namespace, "too-many-gpus")
    assert "Insufficient nvidia.com/gpu" in condition.message

    def failed_scheduling_event() -> list:
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=too-many-gpus,reason=FailedScheduling"
        ).items
        return [e for e in events if "Insufficient nvidia.com/gpu" in e.message]

    wait_for(failed_scheduling_event, timeout=30, what="a FailedScheduling event")
    pod = core.read_namespaced_pod("too-many-gpus", namespace)
    assert pod.status.phase == "Pending"
    assert not pod.spec.node_name


def test_gpu_pod_without_toleration_is_not_scheduled(
    core: kubernetes.client.CoreV1Api, namespace: str, node_catalog: list[dict]
):
    core.create_namespaced_pod(namespace, pod_manifest("untolerated", requests={"nvidia.com/gpu": "1"}))

    message = wait_unschedulable(core, namespace, "untolerated").message
    assert "nvidia.com/gpu" in message and "untolerated taint" in message


@pytest.mark.parametrize(
    ("runtime_class", "tee", "node"),
    [
        ("enclave-cc", "sgx", "kwok-tee-sgx-0"),
        ("kata-qemu-snp", "sev-snp", "kwok-tee-snp-0"),
        ("kata-qemu-tdx", "tdx", "kwok-tee-tdx-0"),
    ],
)
def test_runtime_class_steers_pod_to_its_tee_node(
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    node_catalog: list[dict],
    runtime_class: str,
    tee: str,
    node: str,
):
    pod = run_pod(
        core,
        namespace,
        pod_manifest(
            f"tee-{tee}",
            runtimeClassName=runtime_class,
            tolerations=[
                {
                    "key": "hourglass.eigenlayer.io/tee",
                    "operator": "Equal",
                    "value": tee,
                    "effect": "NoSchedule",
                }
            ],
        ),
    )
    assert pod.spec.node_name == node
    # The RuntimeClass admission controller adds the runtime's pod overhead.
    assert pod.spec.overhead


def test_pod_requesting_sgx_epc_lands_on_the_sgx_node(
    core: kubernetes.client.CoreV1Api, namespace: str, node_catalog: list[dict]
):
    pod = run_pod(
        core,
        namespace,
        pod_manifest(
            "epc",
            requests={"sgx.intel.com/epc": "512Mi"},
            tolerations=[{"key": "hourglass.eigenlayer.io/tee", "operator": "Exists"}],
        ),
    )
    assert pod.spec.node_name == "kwok-tee-sgx-0"


def test_deleting_an_owner_garbage_collects_its_dependents(core: kubernetes.client.CoreV1Api, namespace: str):
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owner_ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dependent", "ownerReferences": [owner_ref]}}
    )
    dependent_pod = pod_manifest("dependent-pod")
    dependent_pod["metadata"]["ownerReferences"] = [owner_ref]
    core.create_namespaced_pod(namespace, dependent_pod)

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    def dependents_gone() -> bool:
        config_maps = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
        pods = [p for p in core.list_namespaced_pod(namespace).items if not p.metadata.deletion_timestamp]
        return "dependent" not in config_maps and not pods

    wait_for(dependents_gone, timeout=60, what="the garbage collector to delete the dependents")


def test_service_gets_endpoints_of_its_ready_pod(cluster, core: kubernetes.client.CoreV1Api, namespace: str):
    pod = run_pod(core, namespace, pod_manifest("backend", labels={"app": "backend"}))
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "backend"},
            "spec": {
                "selector": {"app": "backend"},
                "ports": [{"name": "grpc", "port": 9090, "targetPort": 9090}],
            },
        },
    )
    discovery = kubernetes.client.DiscoveryV1Api(cluster.api)

    def ready_addresses() -> list[str]:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=backend"
        ).items
        return [a for s in slices for e in s.endpoints or [] if e.conditions.ready for a in e.addresses]

    assert wait_for(ready_addresses, timeout=30, what="an EndpointSlice with the pod's IP") == [
        pod.status.pod_ip
    ]
