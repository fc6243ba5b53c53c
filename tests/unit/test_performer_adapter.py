"""What the runner loop hands a run of each child (`observed_view`): small, but enough that the run
computes the same status from it as the status fast path does from the whole pod in the informer's
cache (two statuses that differ would be written in turn, each with its Events), and that an ended
pod's age is known."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import compute_status

from hourglass_operator.performer_adapter import observed_view

pytestmark = pytest.mark.unit

NOW = "2026-11-22T10:00:00Z"
PERFORMER = {"metadata": {"name": "p", "namespace": "ns", "generation": 1}, "status": {}}


def full_pod(phase: str, conditions: list[dict], containers: list[dict], **status: object) -> dict:
    """A pod as the API server returns it, with what a kubelet reports and nothing reads."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "performer-p", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                     "creationTimestamp": "2026-11-22T09:00:00Z", "managedFields": [{"manager": "kubelet"}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "performer", "image": "x:1"}]},
        "status": {"phase": phase, "conditions": conditions, "hostIP": "10.0.0.1", "podIP": "10.1.0.5",
                   "startTime": "2026-11-22T09:00:01Z", "qosClass": "BestEffort",
                   "containerStatuses": containers, **status},
    }  # fmt: skip


def container(state: dict, last: dict | None = None) -> dict:
    return {"name": "performer", "image": "x:1", "imageID": "", "containerID": "containerd://1",
            "ready": False, "restartCount": 4, "started": False, "state": state,
            "lastState": last or {}}  # fmt: skip


NOT_READY = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
              "message": "containers with unready status: [performer]"}]  # fmt: skip
PODS = {
    "image-pull": full_pod("Pending", NOT_READY, [container(
        {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x:1"'}})]),
    "crash-loop": full_pod("Running", NOT_READY, [container(
        {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting"}},
        {"terminated": {"reason": "Error", "exitCode": 1, "startedAt": NOW, "finishedAt": NOW}})]),
    "running": full_pod("Running", [{"type": "Ready", "status": "True"}], [container(
        {"running": {"startedAt": NOW}})]),
    "evicted": full_pod("Failed", NOT_READY, [container({"terminated": {"reason": "Error", "exitCode": 9}})],
                        reason="Evicted", message="The node was low on memory."),
}  # fmt: skip


@pytest.mark.parametrize("name", PODS)
def test_a_run_computes_the_status_the_fast_path_computes_from_the_whole_pod(name):
    pod = PODS[name]
    assert compute_status(PERFORMER, observed_view(pod), now=NOW) == compute_status(PERFORMER, pod, now=NOW)


def test_the_view_keeps_the_creation_time_and_drops_what_nothing_reads():
    view = observed_view(PODS["crash-loop"])
    assert view["metadata"]["creationTimestamp"] == "2026-11-22T09:00:00Z"
    assert "managedFields" not in view["metadata"]
    assert view["status"]["containerStatuses"] == [{
        "name": "performer",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
    }]  # fmt: skip
    assert not {"hostIP", "podIP", "startTime", "qosClass"} & view["status"].keys()
