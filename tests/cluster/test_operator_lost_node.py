"""A node that dies under a performer pod: its kubelet never confirms the pod's deletion, so the pod
stays Terminating, and its replacement (of the same name) waits for it. The operator deletes such a
pod without its kubelet once it is overdue and its node is not Ready, and the performer comes back on
another node; while the node is Ready, its kubelet is left to finish.

The dead node is a Node of the test's own that nothing plays the kubelet of (the local control
plane's kwok plays only nodes labelled type=kwok); the test writes what a kubelet, the node lifecycle
controller and the taint manager write: the node's and the pod's status, Ready=Unknown, the eviction."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator

import kubernetes
import pytest

from tests.support.api import read_or_none
from tests.support.operator import operator_with_role_vars
from tests.support.performers import GROUP, create_performer, performer, wait_performer_ready
from tests.support.waiting import wait_for

NODE_LABEL = f"{GROUP}/test-node"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_ready(core, name: str, status: str) -> None:
    """The Ready condition a kubelet (True) or the node lifecycle controller (Unknown) writes."""
    reason, message = {
        "True": ("KubeletReady", "kubelet is posting ready status"),
        "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
    }[status]
    ready = {"type": "Ready", "status": status, "reason": reason, "message": message,
             "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}  # fmt: skip
    core.patch_node_status(name, {"status": {"conditions": [ready]}})


@contextlib.contextmanager
def node_without_kubelet(core) -> Iterator[str]:
    """A schedulable, Ready node of the test's own whose kubelet the test plays; deleted at the end,
    after the pods left on it (as their kubelet would: their Performers' deletion then waits for none)."""
    name = f"t-lost-{uuid.uuid4().hex[:6]}"
    allocatable = {"cpu": "4", "memory": "8Gi", "pods": "10"}
    core.create_node({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, NODE_LABEL: name}},
        "status": {"allocatable": allocatable, "capacity": allocatable},
    })  # fmt: skip
    try:
        _node_ready(core, name, "True")
        yield name
    finally:
        for pod in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}").items:
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        core.delete_node(name)


def _run_pod(core, pod: kubernetes.client.V1Pod) -> None:
    """What a kubelet writes of a pod it started and whose probes pass."""
    conditions = [{"type": kind, "status": "True", "lastTransitionTime": _now()}
                  for kind in ("PodReadyToStartContainers", "Initialized", "ContainersReady",
                               "Ready")]  # fmt: skip
    started = {"running": {"startedAt": _now()}}
    containers = [{"name": c.name, "image": c.image, "imageID": "", "ready": True, "restartCount": 0,
                   "started": True, "state": started} for c in pod.spec.containers]  # fmt: skip
    status = {"phase": "Running", "conditions": conditions, "containerStatuses": containers,
              "podIP": "10.99.0.1", "startTime": _now()}  # fmt: skip
    core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})


def scheduled(core, namespace: str, name: str) -> kubernetes.client.V1Pod | None:
    """The pod, once bound to a node."""
    pod = read_or_none(core.read_namespaced_pod, name, namespace)
    return pod if pod and pod.spec.node_name else None


def performer_running_on(core, custom, namespace: str, node: str, name: str, scheduling: dict):
    """The Performer `name` created with `scheduling`, its pod bound to `node` (skipped when the
    scheduler chose another), started and ready as its kubelet would have it; its pod."""
    create_performer(custom, namespace, performer(name, config={}, scheduling=scheduling))
    pod = wait_for(
        lambda: scheduled(core, namespace, f"performer-{name}"),
        timeout=30,
        what=f"the pod of {name} to be scheduled",
    )
    if pod.spec.node_name != node:
        pytest.skip(f"the scheduler put the pod on {pod.spec.node_name}, not on {node}")
    _run_pod(core, pod)
    wait_performer_ready(custom, namespace, name)
    return pod


def _lost_pod_events(core, namespace: str, name: str) -> list[str]:
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return [e.message for e in events if e.reason == "LostPodDeleted"]


def test_a_pod_left_on_a_node_that_died_is_deleted_without_it_and_runs_on_another_node(
    core, custom, namespace, operators, tmp_path
):
    operator = operator_with_role_vars(operators, tmp_path, performer_lost_pod_after_seconds=2)
    with node_without_kubelet(core) as node:
        # Only this node may take the first pod; the affinity is preferred, so the replacement may go
        # anywhere once the node is tainted unreachable.
        prefer = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [
                {"key": NODE_LABEL, "operator": "In", "values": [node]}]}}]}}  # fmt: skip
        pod = performer_running_on(core, custom, namespace, node, "stranded", {"affinity": prefer})
        child = pod.metadata.name

        # The node dies: the node lifecycle controller marks it Unknown (and taints it unreachable),
        # the taint manager deletes its pods, and no kubelet ever confirms the deletion.
        _node_ready(core, node, "Unknown")
        core.delete_namespaced_pod(child, namespace, grace_period_seconds=1)

        def replaced() -> kubernetes.client.V1Pod | None:
            new = read_or_none(core.read_namespaced_pod, child, namespace)
            return new if new and new.metadata.uid != pod.metadata.uid and new.spec.node_name else None

        new = wait_for(replaced, timeout=60, what="the stranded pod to be replaced on another node")
        assert new.spec.node_name != node
        cr = wait_performer_ready(custom, namespace, "stranded")
        assert cr["status"]["podName"] == child
        wanted = f"deleted the performer pod without waiting for its node {node}, which is not Ready"
        wait_for(
            lambda: any(m.startswith(wanted) for m in _lost_pod_events(core, namespace, "stranded")),
            timeout=30, what="the LostPodDeleted Event",
        )  # fmt: skip
        counted = 'hourglass_repairs_total{reason="LostPodDeleted"}'
        wait_for(lambda: operator.metric(counted) == 1, timeout=30, what="the repair counted")


def test_a_performer_deleted_while_its_pod_is_on_a_node_that_died_goes(
    core, custom, namespace, operators, tmp_path
):
    operator_with_role_vars(operators, tmp_path, performer_lost_pod_after_seconds=1)
    with node_without_kubelet(core) as node:
        pod = performer_running_on(
            core, custom, namespace, node, "doomed", {"nodeSelector": {NODE_LABEL: node}}
        )
        child = pod.metadata.name
        # The node dies and the taint manager deletes the pod; the Performer is deleted at once (before
        # its pod is overdue, so only the runs of its deletion see it so). Once the pod is 1 s past its
        # deadline, it goes without its node, and so does the Performer (its finalizer released).
        _node_ready(core, node, "Unknown")
        core.delete_namespaced_pod(child, namespace, grace_period_seconds=1)
        custom.delete_namespaced_custom_object(GROUP, "v1alpha1", namespace, "performers", "doomed")
        wait_for(
            lambda: read_or_none(custom.get_namespaced_custom_object, GROUP, "v1alpha1", namespace,
                                 "performers", "doomed") is None,
            timeout=60, what="the Performer to be gone",
        )  # fmt: skip
        assert read_or_none(core.read_namespaced_pod, child, namespace) is None
        assert any(m.startswith(f"deleted the performer pod without waiting for its node {node}")
                   for m in _lost_pod_events(core, namespace, "doomed"))  # fmt: skip


def test_a_pod_overdue_on_a_node_that_is_ready_is_left_to_its_kubelet(
    core, custom, namespace, operators, tmp_path
):
    operator = operator_with_role_vars(operators, tmp_path, performer_lost_pod_after_seconds=1)
    with node_without_kubelet(core) as node:
        # Required here: the pod may only go to this node, whose kubelet is slow but alive.
        pod = performer_running_on(
            core, custom, namespace, node, "slow", {"nodeSelector": {NODE_LABEL: node}}
        )
        child = pod.metadata.name
        core.delete_namespaced_pod(child, namespace, grace_period_seconds=1)

        # The operator looks again once the pod is overdue (1 s past its deadline), reads the node,
        # finds it Ready and leaves the pod; it says so in the status, and the pod is still there.
        def terminating_said() -> bool:
            cr = custom.get_namespaced_custom_object(GROUP, "v1alpha1", namespace, "performers", "slow")
            ready = next((c for c in cr["status"]["conditions"] if c["type"] == "Ready"), {})
            return ready.get("reason") == "PodTerminating"

        wait_for(terminating_said, timeout=30, what="the Performer to say its pod is terminating")
        # Once the pod is overdue (its deadline and 1 s more), two more full reconciles: the second
        # began after the first had seen it overdue at the latest, read the node and left the pod.
        overdue = read_or_none(core.read_namespaced_pod, child, namespace).metadata.deletion_timestamp
        overdue += datetime.timedelta(seconds=2)
        wait_for(
            lambda: datetime.datetime.now(datetime.UTC) > overdue, timeout=30, what="the pod to be overdue"
        )
        reconciles = 'hourglass_reconciles_total{result="success"}'
        before = operator.metric(reconciles)
        wait_for(lambda: operator.metric(reconciles) >= before + 2, timeout=30, what="two reconciles")
        still = read_or_none(core.read_namespaced_pod, child, namespace)
        assert still is not None and still.metadata.uid == pod.metadata.uid
        assert _lost_pod_events(core, namespace, "slow") == []
        # The kubelet finishes: the pod goes, and a new one is made.
        core.delete_namespaced_pod(child, namespace, grace_period_seconds=0)
        wait_for(
            lambda: (p := scheduled(core, namespace, child)) and p.metadata.uid != pod.metadata.uid,
            timeout=30, what="the new pod",
        )  # fmt: skip
