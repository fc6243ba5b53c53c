"""Status computation (plugins/module_utils/performer_status.py): phase always in its enum, ready
only for a running and ready pod, conditions and timestamps, and the Events for transitions."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    PHASES,
    STATUS_FIELDS,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    compute_status,
    ended_pods,
    spec_reconciled,
    stall_recheck_after,
    transitions,
)

NOW, LATER = "2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z"


def performer(status: dict | None = None, generation: int = 3) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "generation": generation}, "status": status or {}}


def pod(
    phase: str = "Running", ready: str = "True", node: str | None = "n1", deleting: bool = False, **extra
) -> dict:
    conditions = [
        {"type": "Ready", "status": ready, "message": "containers not ready" if ready != "True" else ""}
    ]
    conditions += extra.pop("conditions", [])
    meta = {"name": "performer-p", "deletionTimestamp": NOW} if deleting else {"name": "performer-p"}
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": {"phase": phase,
            "conditions": conditions, **extra}}  # fmt: skip


def cond(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_ready_pod_gives_running_ready_and_upstream_fields():
    status = compute_status(performer(), pod(), now=NOW)
    assert (status["phase"], status["ready"]) == ("Running", True)
    assert status["podName"] == status["serviceName"] == "performer-p"
    assert status["grpcEndpoint"] == "performer-p.ns.svc.cluster.local"
    assert status["observedGeneration"] == 3
    assert status["readyTime"] == NOW
    assert [c["type"] for c in status["conditions"]] == [
        "Ready",
        "Scheduled",
        "Reconciled",
        "Reconciling",
        "Stalled",
    ]
    assert cond(status, "Ready")["status"] == "True"
    assert cond(status, "Scheduled")["message"] == "the performer pod is bound to node n1"
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])


@pytest.mark.parametrize(("observed", "kwargs", "phase", "reason"), [
    (None, {}, "Pending", "PodNotCreated"),
    (pod(phase="Pending", ready="False", node=None), {}, "Pending", "PodPending"),
    (pod(ready="False"), {}, "Running", "PodNotReady"),
    (pod(phase="Succeeded", ready="False"), {}, "Failed", "PodFailed"),
    (pod(phase="Failed", ready="False", reason="Evicted"), {}, "Failed", "PodFailed"),
    (pod(phase="Unknown", ready="Unknown"), {}, "Pending", "PodPending"),
    (pod(deleting=True), {}, "Running", "PodTerminating"),
    (pod(), {"upgrading": True}, "Upgrading", "Upgrading"),
    (pod(), {"deleting": True}, "Terminating", "Terminating"),
    (None, {"error": "boom"}, "Failed", "PodNotCreated"),
])  # fmt: skip
def test_phase_stays_in_its_enum_and_ready_is_false_unless_running_and_ready(observed, kwargs, phase, reason):
    status = compute_status(performer({"ready": True, "phase": "Running"}), observed, now=NOW, **kwargs)
    assert status["phase"] == phase and phase in PHASES
    assert status["ready"] is False
    assert cond(status, "Ready")["reason"] == reason


def test_unschedulable_pod_reports_the_schedulers_reason():
    message = "0/10 nodes are available: 10 Insufficient nvidia.com/gpu."
    scheduling = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    pending = pod(phase="Pending", ready="False", node=None, conditions=[scheduling])
    status = compute_status(performer(), pending, now=NOW)
    scheduled = cond(status, "Scheduled")
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == (
        "False",
        "Unschedulable",
        message,
    )


def test_reconcile_error_is_carried_by_the_reconciled_condition():
    status = compute_status(performer(), None, error="spec.hardwareRequirements.gpuType: unknown", now=NOW)
    reconciled = cond(status, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "ReconcileFailed")
    assert "gpuType" in reconciled["message"]


def test_unchanged_conditions_keep_their_transition_time_and_ready_time():
    first = compute_status(performer(), pod(), now=NOW)
    second = compute_status(performer(first), pod(), now=LATER)
    assert second == first  # nothing changed, so nothing to patch
    third = compute_status(performer(second), pod(ready="False"), now=LATER)
    assert cond(third, "Ready")["lastTransitionTime"] == LATER
    assert cond(third, "Scheduled")["lastTransitionTime"] == NOW
    assert third["readyTime"] == NOW  # when it last became ready


def test_last_upgrade_is_set_by_an_upgrade_and_kept():
    status = compute_status(performer(), pod(), upgrading=True, upgraded_at=NOW, now=NOW)
    assert status["lastUpgrade"] == NOW
    assert compute_status(performer(status), pod(), now=LATER)["lastUpgrade"] == NOW


def test_the_count_of_ended_pods_is_set_by_a_run_kept_until_the_performer_is_ready_then_dropped():
    rejected = pod(phase="Failed", ready="False", reason="OutOfcpu")
    assert "endedPods" not in compute_status(performer(), rejected, now=NOW)  # counted once replaced
    replaced = compute_status(performer(), None, ended=1, now=NOW)
    assert replaced["endedPods"] == 1
    assert compute_status(performer(replaced), rejected, now=LATER)["endedPods"] == 1  # carried over
    starting = compute_status(performer(replaced), pod(phase="Pending", ready="False"), now=LATER)
    assert starting["endedPods"] == 1
    ready = compute_status(performer(starting), pod(), now=LATER)
    assert "endedPods" not in ready
    assert "endedPods" not in compute_status(performer(ready), rejected, now=LATER)
    assert "endedPods" not in compute_status(performer({"endedPods": 4}), pod(), ended=5, now=NOW)


def test_an_ended_pod_waiting_to_be_replaced_says_when_it_is():
    rejected = pod(phase="Failed", ready="False", reason="OutOfcpu", message="no cpu")
    waiting = compute_status(performer(), rejected, replace_at=LATER, now=NOW)
    assert (
        cond(waiting, "Ready")["message"]
        == f"the performer pod ended (OutOfcpu: no cpu); it is replaced at {LATER}"
    )
    assert cond(compute_status(performer(), rejected, now=NOW), "Ready")["message"] == (
        "the performer pod ended (OutOfcpu: no cpu)"
    )


def test_every_field_of_a_status_is_one_the_crd_declares():
    replaced = compute_status(performer(), None, ended=2, upgrading=True, upgraded_at=NOW, now=NOW)
    ready = compute_status(performer(replaced), pod(), now=LATER)
    assert set(replaced) | set(ready) == set(STATUS_FIELDS)


@pytest.mark.parametrize("value", [None, -1, 0, True, "3", 2.5])
def test_an_ended_pods_count_that_makes_no_sense_counts_as_none(value):
    assert ended_pods(performer({"endedPods": value})) == 0


def test_an_ended_pods_count_is_read_from_the_status():
    assert ended_pods(performer({"endedPods": 3})) == 3
    assert ended_pods(performer()) == 0


def test_an_upgrade_lasts_until_the_new_pod_is_ready():
    ready = compute_status(performer(), pod(), now=NOW)
    replacing = compute_status(performer(ready), None, upgrading=True, upgraded_at=LATER, now=LATER)
    assert (replacing["phase"], replacing["ready"]) == ("Upgrading", False)
    starting = compute_status(performer(replacing), pod(phase="Pending", ready="False"), now=LATER)
    assert (starting["phase"], cond(starting, "Ready")["reason"]) == ("Upgrading", "Upgrading")
    assert compute_status(performer(starting), pod(ready="False"), now=LATER)["phase"] == "Upgrading"
    done = compute_status(performer(starting), pod(), now=LATER)
    assert (done["phase"], done["ready"], done["lastUpgrade"]) == ("Running", True, LATER)
    failed = compute_status(performer(starting), pod(phase="Failed", ready="False"), now=LATER)
    assert failed["phase"] == "Failed"


def test_events_for_transitions():
    not_ready = compute_status(performer(), None, now=NOW)
    ready = compute_status(performer(not_ready), pod(), now=LATER)
    assert transitions(not_ready, ready) == [
        ("Normal", "Ready", "performer is ready at performer-p.ns.svc.cluster.local")
    ]
    lost = compute_status(performer(ready), pod(ready="False"), now=LATER)
    assert transitions(ready, lost) == [("Warning", "NotReady", "containers not ready")]
    upgrading = compute_status(performer(ready), pod(), upgrading=True, upgraded_at=LATER, now=LATER)
    assert ("Normal", "Upgrading", "replacing the pod: its rendered spec changed") in transitions(
        ready, upgrading
    )
    failed = compute_status(performer(ready), None, error="bad", now=LATER)
    assert ("Warning", "ReconcileFailed", "bad") in transitions(ready, failed)
    assert transitions(ready, compute_status(performer(ready), pod(), now=LATER)) == []


def kstatus(status: dict) -> tuple[str, str]:
    return cond(status, "Reconciling")["status"], cond(status, "Stalled")["status"]


def test_kstatus_conditions_ready_is_current_pending_and_upgrading_are_reconciling():
    assert kstatus(compute_status(performer(), pod(), now=NOW)) == ("False", "False")
    assert kstatus(compute_status(performer(), pod(phase="Pending", node=None), now=NOW)) == ("True", "False")
    assert kstatus(compute_status(performer(), None, upgrading=True, now=NOW)) == ("True", "False")
    assert kstatus(compute_status(performer(), None, error="apply: 500", now=NOW)) == ("True", "False")


def test_a_permanent_error_is_stalled_with_an_event_and_not_reconciling():
    error = 'spec.hardwareRequirements.gpuType: unknown GPU type "x"'
    status = compute_status(performer(), None, error=error, permanent=True, has_service=False, now=NOW)
    assert kstatus(status) == ("False", "True")
    assert (cond(status, "Stalled")["reason"], cond(status, "Stalled")["message"]) == ("InvalidSpec", error)
    assert status["phase"] == "Failed" and status["grpcEndpoint"] == ""
    assert ("Warning", "Stalled", f"InvalidSpec: {error}") in transitions({}, status)


def test_an_unschedulable_pod_stalls_after_the_timeout():
    unschedulable = pod(phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}
    ])  # fmt: skip
    first = compute_status(performer(), unschedulable, now=NOW, unschedulable_timeout=600)
    assert kstatus(first) == ("True", "False")
    assert stall_recheck_after(first, NOW, 600) == 601.0
    later = compute_status(performer(first), unschedulable, now=LATER, unschedulable_timeout=600)
    assert kstatus(later) == ("True", "False")
    assert stall_recheck_after(later, LATER, 600) == 301.0
    stalled = compute_status(performer(first), unschedulable, now=LATER, unschedulable_timeout=300)
    assert kstatus(stalled) == ("False", "True")
    assert cond(stalled, "Stalled")["reason"] == "Unschedulable"
    assert stall_recheck_after(stalled, LATER, 300) is None


def test_without_a_service_the_endpoint_is_empty():
    assert compute_status(performer(), pod(), has_service=False, now=NOW)["grpcEndpoint"] == ""


def waiting(reason: str, message: str = "", name: str = "performer", exited: dict | None = None) -> dict:
    """A container status as a kubelet reports one that is not running."""
    container = {"name": name, "ready": False, "state": {"waiting": {"reason": reason, "message": message}}}
    if exited:
        container["lastState"] = {"terminated": exited}
    return container


PENDING_WAITING = "the performer pod is Pending: container performer is waiting: "


@pytest.mark.parametrize(("observed", "reason", "message"), [
    (pod(phase="Pending", ready="False", containerStatuses=[waiting("ImagePullBackOff", 'pulling "x:1"')]),
     "PodPending", PENDING_WAITING + 'ImagePullBackOff: pulling "x:1"'),
    (pod(phase="Pending", ready="False", containerStatuses=[waiting("CreateContainerConfigError", "no key")]),
     "PodPending", PENDING_WAITING + "CreateContainerConfigError: no key"),
    (pod(ready="False", containerStatuses=[waiting(
        "CrashLoopBackOff", "back-off 40s restarting", exited={"reason": "Error", "exitCode": 2})]),
     "PodNotReady",
     "container performer is waiting: CrashLoopBackOff: back-off 40s restarting (last exit: Error, code 2)"),
    (pod(phase="Pending", ready="False", initContainerStatuses=[waiting("ErrImagePull", name="init")],
         containerStatuses=[waiting("PodInitializing")]),
     "PodPending", "the performer pod is Pending: container init is waiting: ErrImagePull"),
    (pod(phase="Pending", ready="False", containerStatuses=[waiting("ContainerCreating")]),
     "PodPending", "the performer pod is Pending"),
    (pod(ready="False", containerStatuses=[{"name": "performer", "state": {"running": {}}}]),
     "PodNotReady", "containers not ready"),
])  # fmt: skip
def test_the_ready_condition_says_why_a_container_waits(observed, reason, message):
    ready = cond(compute_status(performer(), observed, now=NOW), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", reason, message)


def disruption(reason: str, message: str, status: str = "True") -> dict:
    return {"type": "DisruptionTarget", "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(("conditions", "message"), [
    ([disruption("EvictionByEvictionAPI", "Eviction API: evicting")],
     "the performer pod is being deleted (EvictionByEvictionAPI: Eviction API: evicting)"),
    ([disruption("DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")],
     "the performer pod is being deleted (DeletionByTaintManager: Taint manager: deleting due to NoExecute "
     "taint)"),
    ([disruption("PreemptionByScheduler", "")], "the performer pod is being deleted (PreemptionByScheduler)"),
    ([disruption("EvictionByEvictionAPI", "Eviction API: evicting", status="False")],
     "the performer pod is being deleted"),
    ([], "the performer pod is being deleted"),  # a plain delete
])  # fmt: skip
def test_the_ready_condition_says_who_is_deleting_the_pod(conditions, message):
    ready = cond(compute_status(performer(), pod(deleting=True, conditions=conditions), now=NOW), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "PodTerminating", message)


def _reconciled(status: str, generation: int) -> dict:
    return {"type": "Reconciled", "status": status, "observedGeneration": generation}


@pytest.mark.parametrize(
    ("status", "generation", "reconciled"),
    [({"observedGeneration": 2, "conditions": [_reconciled("True", 2)]}, 2, True),
     ({"observedGeneration": 1, "conditions": [_reconciled("True", 1)]}, 2, False),  # a spec change
     ({"observedGeneration": 2, "conditions": [_reconciled("False", 2)]}, 2, False),  # it failed
     ({"observedGeneration": 2, "conditions": [_reconciled("True", 1)]}, 2, False),
     ({"observedGeneration": 2}, 2, False), ({}, 1, False),
     ({"observedGeneration": True, "conditions": [_reconciled("True", True)]}, 1, False),
     ({"observedGeneration": "2", "conditions": [_reconciled("True", 2)]}, 2, False),
     ({"conditions": [_reconciled("True", None)]}, None, False)],
)  # fmt: skip
def test_a_spec_is_reconciled_only_when_the_status_observed_its_generation_and_succeeded(
    status, generation, reconciled
):
    performer = {"metadata": {"generation": generation}, "status": status}
    assert spec_reconciled(performer) is reconciled
