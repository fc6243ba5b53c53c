"""The Ready and Scheduled conditions repeat what the kubelet and the scheduler said, and only that."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    compute_status,
    transitions,
)

pytestmark = pytest.mark.unit

NOW = "2026-11-22T10:00:00Z"


def performer(status: dict | None = None) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "generation": 1}, "status": status or {}}


def pending_pod(node: str | None = None, conditions: list | None = None, **status: object) -> dict:
    return {"metadata": {"name": "performer-p"}, "spec": {"nodeName": node} if node else {},
            "status": {"phase": "Pending", "conditions": conditions or [], **status}}  # fmt: skip


def cond(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def waiting(name: str, reason: str, **extra: object) -> dict:
    return {"name": name, "ready": False, "state": {"waiting": {"reason": reason}}, **extra}


def test_a_container_waiting_for_its_init_containers_is_nothing_to_report() -> None:
    starting = pending_pod(
        node="n1",
        initContainerStatuses=[{"name": "init", "ready": False, "state": {"running": {}}}],
        containerStatuses=[waiting("performer", "PodInitializing")],
    )
    ready = cond(compute_status(performer(), starting, now=NOW), "Ready")
    assert (ready["reason"], ready["message"]) == ("PodPending", "the performer pod is Pending")


def test_an_init_container_is_reported_before_the_performer_container() -> None:
    # A restartable init container (a sidecar) crashing while the performer container crashes too.
    crashing = pending_pod(
        node="n1",
        initContainerStatuses=[waiting("sidecar", "CrashLoopBackOff")],
        containerStatuses=[waiting("performer", "ImagePullBackOff")],
    )
    message = cond(compute_status(performer(), crashing, now=NOW), "Ready")["message"]
    assert message == "the performer pod is Pending: container sidecar is waiting: CrashLoopBackOff"


def test_a_last_exit_without_a_reason_is_said_terminated() -> None:
    exited = {"lastState": {"terminated": {"exitCode": 137}}}
    crashing = pending_pod(node="n1", containerStatuses=[waiting("performer", "CrashLoopBackOff", **exited)])
    message = cond(compute_status(performer(), crashing, now=NOW), "Ready")["message"]
    assert message.endswith(
        "container performer is waiting: CrashLoopBackOff (last exit: Terminated, code 137)"
    )


def test_the_scheduled_condition_keeps_the_schedulers_own_reason() -> None:
    gated = {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
             "message": "Scheduling is blocked due to non-empty scheduling gates"}  # fmt: skip
    status = compute_status(performer(), pending_pod(conditions=[gated]), now=NOW)
    scheduled = cond(status, "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "SchedulingGated")
    assert ("Warning", "SchedulingGated", gated["message"]) in transitions({}, status)


def test_a_pod_the_scheduler_has_not_looked_at_yet_is_neither_scheduled_nor_unschedulable() -> None:
    status = compute_status(performer(), pending_pod(), now=NOW, unschedulable_timeout=0)
    scheduled = cond(status, "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("Unknown", "SchedulingPending")
    assert cond(status, "Stalled")["status"] == "False"  # waiting for the scheduler is not being stuck
    assert transitions({}, status) == []
