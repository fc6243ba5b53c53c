"""Node maintenance: `kubectl drain` cordons a node and evicts its pods through the Eviction API. A
performer pod names its Performer as its controller, so drain evicts it like any controlled pod
(not refused as a bare pod); the operator then creates its replacement, which the scheduler puts on
another node, and the Performer is ready again without anyone touching it.

Two nodes of the test's own (labelled type=kwok, so that kwok plays their kubelets), which only this
test's Performer selects: cordoning one disturbs no other test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import kubernetes

from tests.support.api import read_or_none
from tests.support.performers import GROUP, condition, create_performer, performer, wait_performer_ready
from tests.support.waiting import wait_for

POOL_LABEL = f"{GROUP}/test-drain-pool"
NAME, CHILD = "drained", "performer-drained"


@contextlib.contextmanager
def node_pool(core, size: int) -> Iterator[tuple[str, list[str]]]:
    """`size` Ready nodes that kwok plays, labelled with a pool of their own; deleted at the end, after
    the pods left on them."""
    pool = f"t-drain-{uuid.uuid4().hex[:6]}"
    names = [f"{pool}-{i}" for i in range(size)]
    allocatable = {"cpu": "4", "memory": "8Gi", "pods": "10"}
    try:
        for name in names:
            core.create_node({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "type": "kwok",
                                                      POOL_LABEL: pool},
                             "annotations": {"kwok.x-k8s.io/node": "fake"}},
                "status": {"allocatable": allocatable, "capacity": allocatable},
            })  # fmt: skip

        def ready() -> bool:
            nodes = core.list_node(label_selector=f"{POOL_LABEL}={pool}").items
            return len(nodes) == size and all(
                any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
                for n in nodes
            )

        wait_for(ready, timeout=30, what="the test's nodes to be Ready")
        yield pool, names
    finally:
        for name in names:
            for pod in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}").items:
                with contextlib.suppress(kubernetes.client.ApiException):
                    core.delete_namespaced_pod(
                        pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                    )
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_node(name)


def evict(core, namespace: str, pod_name: str) -> None:
    """What `kubectl drain` does to each pod of the node: an Eviction (honouring disruption budgets)."""
    metadata = {"name": pod_name, "namespace": namespace}
    core.create_namespaced_pod_eviction(pod_name, namespace, {"apiVersion": "policy/v1", "kind": "Eviction",
                                                              "metadata": metadata})  # fmt: skip


def test_a_performer_on_a_drained_node_comes_back_ready_on_another_node(core, custom, namespace, operator):
    with node_pool(core, 2) as (pool, nodes):
        scheduling = {"nodeSelector": {POOL_LABEL: pool}}
        create_performer(custom, namespace, performer(NAME, config={}, scheduling=scheduling))
        wait_performer_ready(custom, namespace, NAME)
        before = core.read_namespaced_pod(CHILD, namespace)
        assert before.spec.node_name in nodes
        [controller] = [ref for ref in before.metadata.owner_references if ref.controller]
        assert controller.kind == "Performer"  # what drain asks of a pod it evicts without --force

        core.patch_node(before.spec.node_name, {"spec": {"unschedulable": True}})  # kubectl cordon
        evict(core, namespace, CHILD)

        def moved() -> kubernetes.client.V1Pod | None:
            pod = read_or_none(core.read_namespaced_pod, CHILD, namespace)
            return pod if pod and pod.metadata.uid != before.metadata.uid and pod.spec.node_name else None

        after = wait_for(moved, timeout=60, what="the replacement pod to be scheduled")
        assert after.spec.node_name in nodes and after.spec.node_name != before.spec.node_name
        cr = wait_performer_ready(custom, namespace, NAME)
        assert cr["status"]["podName"] == CHILD
        assert condition(cr, "Reconciled")["status"] == "True"
        wait_for(operator.queue_idle, timeout=30, what="the operator to be idle")
        assert operator.metric('hourglass_reconciles_total{result="error"}') == 0
