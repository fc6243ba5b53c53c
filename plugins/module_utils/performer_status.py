"""Computes a Performer's status from what the operator observed: its Pod, its Service, whether a
spec change is replacing the pod, whether the Performer is being deleted, and the last reconcile's
error. Pure functions (no API calls) so that the rules are unit-tested; the performer_status
module applies the result.

Rules (upstream contract §1, with upstream's bugs fixed):
- phase is always one of Pending, Running, Upgrading, Terminating, Failed; Upgrading lasts from
  the deletion of a pod whose spec changed until its replacement is ready (or fails);
- ready is true only while the pod exists, is not being deleted, is Running and its Ready condition
  is True; it is reset as soon as any of that stops being true;
- grpcEndpoint is the Service's DNS name without a port;
- conditions Ready, Scheduled and Reconciled keep their lastTransitionTime while their status
  does not change; readyTime is when the performer last became ready.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

PHASES = ("Pending", "Running", "Upgrading", "Terminating", "Failed")
CONDITION_TYPES = ("Ready", "Scheduled", "Reconciled")

Obj = dict[str, Any]


def child_name(performer_name: str) -> str:
    """Name of the Pod and the Service of a Performer."""
    return f"performer-{performer_name}"


def grpc_endpoint(performer_name: str, namespace: str, cluster_domain: str = "cluster.local") -> str:
    return f"{child_name(performer_name)}.{namespace}.svc.{cluster_domain}"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_condition(pod: Obj, kind: str) -> Obj:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def pod_is_ready(pod: Obj | None) -> bool:
    if not pod or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and _pod_condition(pod, "Ready").get("status") == "True"


def _phase(
    pod: Obj | None, *, deleting: bool, upgrading: bool, error: str | None, was_upgrading: bool
) -> str:
    if deleting:
        return "Terminating"
    if upgrading:
        return "Upgrading"
    if not pod:
        return "Failed" if error else "Pending"
    pod_phase = (pod.get("status") or {}).get("phase")
    if pod_phase in ("Failed", "Succeeded"):  # a performer never exits on its own (restartPolicy Always)
        return "Failed"
    if was_upgrading and not pod_is_ready(pod):  # an upgrade lasts until the new pod is ready
        return "Upgrading"
    if pod_phase == "Running":
        return "Running"
    return "Pending"  # Pending, Unknown, or not reported yet


def _ready_condition(pod: Obj | None, phase: str, ready: bool) -> tuple[str, str, str]:
    if ready:
        return "True", "PodReady", "the performer pod is running and ready"
    if phase == "Terminating":
        return "False", "Terminating", "the Performer is being deleted"
    if phase == "Upgrading":
        return "False", "Upgrading", "the pod is being replaced because the Performer's spec changed"
    if not pod:
        return "False", "PodNotCreated", "the performer pod does not exist yet"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "False", "PodTerminating", "the performer pod is being deleted"
    pod_phase = (pod.get("status") or {}).get("phase") or "Pending"
    if pod_phase in ("Failed", "Succeeded"):
        reason = (pod.get("status") or {}).get("reason") or f"Pod{pod_phase}"
        return "False", "PodFailed", f"the performer pod ended ({reason})"
    if pod_phase == "Running":
        message = _pod_condition(pod, "Ready").get("message") or "the performer pod is not ready"
        return "False", "PodNotReady", message
    return "False", "PodPending", f"the performer pod is {pod_phase}"


def _scheduled_condition(pod: Obj | None) -> tuple[str, str, str]:
    if not pod:
        return "Unknown", "PodNotCreated", "the performer pod does not exist yet"
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        return "True", "Scheduled", f"the performer pod is bound to node {node}"
    scheduled = _pod_condition(pod, "PodScheduled")
    if scheduled.get("status") == "False":
        return "False", scheduled.get("reason") or "Unschedulable", scheduled.get("message") or ""
    return "Unknown", "SchedulingPending", "the scheduler has not placed the performer pod yet"


def _reconciled_condition(error: str | None) -> tuple[str, str, str]:
    if error:
        return "False", "ReconcileFailed", error
    return "True", "ReconcileSucceeded", "the Pod and Service match the Performer's spec"


def _condition(previous: list[Obj], kind: str, value: tuple[str, str, str], generation: int, now: str) -> Obj:
    status, reason, message = value
    old = next((c for c in previous if c.get("type") == kind), {})
    keep_time = old.get("status") == status and old.get("lastTransitionTime")
    return {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": old["lastTransitionTime"] if keep_time else now,
        "reason": reason,
        "message": message[:32768],
    }


def compute_status(
    performer: Obj,
    pod: Obj | None,
    *,
    deleting: bool = False,
    upgrading: bool = False,
    error: str | None = None,
    upgraded_at: str | None = None,
    now: str | None = None,
    cluster_domain: str = "cluster.local",
) -> Obj:
    """The status the Performer should have, carrying over timestamps that did not change."""
    now = now or now_rfc3339()
    meta = performer["metadata"]
    previous = performer.get("status") or {}
    generation = int(meta.get("generation") or 0)
    phase = _phase(
        pod,
        deleting=deleting,
        upgrading=upgrading,
        error=error,
        was_upgrading=previous.get("phase") == "Upgrading",
    )
    ready = phase == "Running" and pod_is_ready(pod)
    old_conditions = previous.get("conditions") or []
    status: Obj = {
        "phase": phase,
        "ready": ready,
        "podName": child_name(meta["name"]),
        "serviceName": child_name(meta["name"]),
        "grpcEndpoint": grpc_endpoint(meta["name"], meta["namespace"], cluster_domain),
        "observedGeneration": generation,
        "conditions": [
            _condition(old_conditions, "Ready", _ready_condition(pod, phase, ready), generation, now),
            _condition(old_conditions, "Scheduled", _scheduled_condition(pod), generation, now),
            _condition(old_conditions, "Reconciled", _reconciled_condition(error), generation, now),
        ],
    }
    if ready and not previous.get("ready"):
        status["readyTime"] = now
    elif previous.get("readyTime"):
        status["readyTime"] = previous["readyTime"]
    if upgraded_at or previous.get("lastUpgrade"):
        status["lastUpgrade"] = upgraded_at or previous["lastUpgrade"]
    return status


def transitions(previous: Obj, current: Obj) -> list[tuple[str, str, str]]:
    """Kubernetes Events (type, reason, message) for what changed between two statuses."""
    events = []
    old = {c["type"]: c for c in previous.get("conditions") or []}
    new = {c["type"]: c for c in current["conditions"]}
    if new["Ready"]["status"] != old.get("Ready", {}).get("status"):
        if new["Ready"]["status"] == "True":
            events.append(("Normal", "Ready", f"performer is ready at {current['grpcEndpoint']}"))
        elif old.get("Ready", {}).get("status") == "True":
            events.append(("Warning", "NotReady", new["Ready"]["message"]))
    scheduled = new["Scheduled"]
    if scheduled["status"] == "False" and (
        old.get("Scheduled", {}).get("status") != "False"
        or old.get("Scheduled", {}).get("message") != scheduled["message"]
    ):
        events.append(("Warning", scheduled["reason"], scheduled["message"]))
    reconciled = new["Reconciled"]
    if reconciled["status"] == "False" and old.get("Reconciled", {}).get("message") != reconciled["message"]:
        events.append(("Warning", "ReconcileFailed", reconciled["message"]))
    if current.get("lastUpgrade") and current["lastUpgrade"] != previous.get("lastUpgrade"):
        events.append(("Normal", "Upgrading", "replacing the pod because the Performer's spec changed"))
    return events


def event_object(performer: Obj, event_type: str, reason: str, message: str, component: str, now: str) -> Obj:
    """A core/v1 Event about a Performer (what `kubectl describe performer` shows)."""
    meta = performer["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": performer["apiVersion"],
            "kind": performer["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
