"""Computes a Performer's status from what the operator observed: its Pod, its Service, whether a
spec change is replacing the pod, whether the Performer is being deleted, and the last reconcile's
error. Pure functions (no API calls) so that the rules are unit-tested; the performer_status
module (through performer_status_writer) and the runner loop's status fast path apply the result.
The names (phases, condition types, reasons, the children's names) are the Performer contract's.

Rules (upstream contract §1, with upstream's bugs fixed):
- phase is always one of Pending, Running, Upgrading, Terminating, Failed; Upgrading lasts from
  the deletion of a pod whose spec changed until its replacement is ready (or fails);
- ready is true only while the pod exists, is not being deleted, is Running and its Ready condition
  is True; it is reset as soon as any of that stops being true;
- grpcEndpoint is the Service's DNS name without a port, and empty while no Service exists;
- conditions Ready, Scheduled and Reconciled keep their lastTransitionTime while their status
  does not change; readyTime is when the performer last became ready;
- kstatus (sigs.k8s.io/cli-utils/pkg/kstatus): `Stalled` is True for an error that retrying cannot
  fix (a `permanent` one: the spec names an unknown gpuType or TEE profile, or its derived name is
  too long) and when the pod has been Unschedulable for `unschedulable_timeout` seconds;
  `Reconciling` is True while the Performer is on its way to Ready (Pending, Upgrading, a
  transient error) and not Stalled; both are False once it is Ready. So kstatus computes Current
  for a ready Performer, InProgress on the way (and, by its generation rule, while
  status.observedGeneration lags metadata.generation), Failed when Stalled, Terminating when deleted.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    DEFAULT_CLUSTER_DOMAIN,
    FAILED,
    PENDING,
    READY,
    RECONCILED,
    RECONCILING,
    RUNNING,
    SCHEDULED,
    STALLED,
    TERMINATING,
    UPGRADING,
    Reason,
    child_name,
    grpc_endpoint,
    seconds_between,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    now as rfc3339_now,
)

Obj = dict[str, Any]
DEFAULT_UNSCHEDULABLE_TIMEOUT = 300.0  # seconds Unschedulable before the Performer is Stalled
ENDED_POD_PHASES = ("Failed", "Succeeded")  # a pod in either is never started again
ROUTINE_WAITS = ("ContainerCreating", "PodInitializing")  # a container on its way: nothing to report


def _pod_condition(pod: Obj, kind: str) -> Obj:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def _disruption(pod: Obj) -> str:
    """Who is deleting the pod, as the API server, scheduler or taint manager wrote it (its
    DisruptionTarget condition: a drain's eviction, a preemption, a NoExecute taint of an unreachable
    node), as " (reason: message)"; "" when the pod has none (a plain delete)."""
    target = _pod_condition(pod, "DisruptionTarget")
    if target.get("status") != "True" or not target.get("reason"):
        return ""
    said = f"{target['reason']}: {target['message']}" if target.get("message") else target["reason"]
    return f" ({said})"


def pod_is_ready(pod: Obj | None) -> bool:
    if not pod or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and _pod_condition(pod, "Ready").get("status") == "True"


def pod_ended(pod: Obj | None) -> str | None:
    """Why the pod ended, when it did ("Evicted: The node was low on resource: memory."), else None.
    A performer never exits on its own (restartPolicy Always): its pod ends when its node evicts or
    rejects it, or shuts down with it, and is then never started again."""
    status = (pod or {}).get("status") or {}
    if status.get("phase") not in ENDED_POD_PHASES:
        return None
    reason = status.get("reason") or f"Pod{status['phase']}"
    return f"{reason}: {status['message']}" if status.get("message") else reason


def ended_pods(performer: Obj) -> int:
    """How many of the Performer's pods ended since it was last ready, as its status says (0 when it
    says nothing sensible: the field is the operator's, but a status can be written by anyone)."""
    value = (performer.get("status") or {}).get("endedPods")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def spec_reconciled(performer: Obj) -> bool:
    """Whether the Performer's status says the operator reconciled its spec as it is now, and
    succeeded (its `observedGeneration` is its `generation`, and so is its `Reconciled` condition's,
    which is True): a pod of it rendered differently since is the operator's change (a new version,
    other settings), not the Performer's."""
    status = performer.get("status") or {}
    generation = (performer.get("metadata") or {}).get("generation")
    reconciled = next((c for c in status.get("conditions") or [] if c.get("type") == RECONCILED), {})
    return (
        _count(generation) is not None
        and _count(status.get("observedGeneration")) == generation
        and reconciled.get("status") == "True"
        and _count(reconciled.get("observedGeneration")) == generation
    )


def _count(value: object) -> int | None:
    """`value` when it is a whole number (a status can be written by anyone), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def container_waiting(pod: Obj) -> str | None:
    """Why a container of the pod (init containers first) is not running, when the kubelet says
    something that needs attention: "container performer is waiting: ImagePullBackOff: Back-off pulling
    image ..." (a wrong image or pull secret), `CreateContainerConfigError` (a missing Secret or
    ConfigMap key), `CrashLoopBackOff`, with how it last exited."""
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if not waiting.get("reason") or waiting["reason"] in ROUTINE_WAITS:
            continue
        text = f"container {container.get('name')} is waiting: {waiting['reason']}"
        if waiting.get("message"):
            text += f": {waiting['message']}"
        exited = (container.get("lastState") or {}).get("terminated")
        if exited:
            text += f" (last exit: {exited.get('reason') or 'Terminated'}, code {exited.get('exitCode')})"
        return text
    return None


def _phase(
    pod: Obj | None, *, deleting: bool, upgrading: bool, error: str | None, was_upgrading: bool
) -> str:
    if deleting:
        return TERMINATING
    if upgrading:
        return UPGRADING
    if not pod:
        return FAILED if error else PENDING
    pod_phase = (pod.get("status") or {}).get("phase")
    if pod_phase in ENDED_POD_PHASES:
        return FAILED
    if was_upgrading and not pod_is_ready(pod):  # an upgrade lasts until the new pod is ready
        return UPGRADING
    if pod_phase == "Running":
        return RUNNING
    return PENDING  # Pending, Unknown, or not reported yet


def _ready_condition(
    pod: Obj | None, phase: str, ready: bool, replace_at: str | None
) -> tuple[str, str, str]:
    if ready:
        return "True", Reason.POD_READY, "the performer pod is running and ready"
    if phase == TERMINATING:
        return "False", Reason.TERMINATING, "the Performer is being deleted"
    if phase == UPGRADING:
        return "False", Reason.UPGRADING, "the pod is being replaced: its rendered spec changed"
    if not pod:
        return "False", Reason.POD_NOT_CREATED, "the performer pod does not exist yet"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        unless = f"; should its node not confirm it, it is deleted without it at {replace_at}"
        said = "the performer pod is being deleted" + _disruption(pod) + (unless if replace_at else "")
        return "False", Reason.POD_TERMINATING, said
    ended = pod_ended(pod)
    if ended:
        replacing = f"; it is replaced at {replace_at}" if replace_at else ""
        return "False", Reason.POD_FAILED, f"the performer pod ended ({ended}){replacing}"
    pod_phase = (pod.get("status") or {}).get("phase") or "Pending"
    waiting = container_waiting(pod)
    if pod_phase == "Running":
        message = waiting or _pod_condition(pod, "Ready").get("message") or "the performer pod is not ready"
        return "False", Reason.POD_NOT_READY, message
    message = f"the performer pod is {pod_phase}"
    return "False", Reason.POD_PENDING, f"{message}: {waiting}" if waiting else message


def _scheduled_condition(pod: Obj | None) -> tuple[str, str, str]:
    if not pod:
        return "Unknown", Reason.POD_NOT_CREATED, "the performer pod does not exist yet"
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        return "True", Reason.SCHEDULED, f"the performer pod is bound to node {node}"
    scheduled = _pod_condition(pod, "PodScheduled")
    if scheduled.get("status") == "False":
        return "False", scheduled.get("reason") or Reason.UNSCHEDULABLE, scheduled.get("message") or ""
    return "Unknown", Reason.SCHEDULING_PENDING, "the scheduler has not placed the performer pod yet"


def _reconciled_condition(error: str | None, rollout_pending: bool = False) -> tuple[str, str, str]:
    if error:
        return "False", Reason.RECONCILE_FAILED, error
    if rollout_pending:
        waits = "the pod is replaced when the rollout reaches it (--rollout-max-unavailable at a time)"
        return "True", Reason.ROLLOUT_PENDING, f"the operator renders the pod differently now; {waits}"
    return "True", Reason.RECONCILE_SUCCEEDED, "the Pod and Service match the Performer's spec"


def unschedulable_since(conditions: list[Obj]) -> str | None:
    """When the Scheduled condition among `conditions` turned False, if it is False."""
    scheduled = next((c for c in conditions if c.get("type") == SCHEDULED), {})
    return scheduled.get("lastTransitionTime") if scheduled.get("status") == "False" else None


def stall_recheck_after(status: Obj, now: str, timeout: float) -> float | None:
    """Seconds until a Performer whose pod is Unschedulable becomes Stalled (when it is not yet)."""
    conditions = status.get("conditions") or []
    since = unschedulable_since(conditions)
    stalled = next((c for c in conditions if c.get("type") == STALLED), {}).get("status") == "True"
    if since is None or stalled:
        return None
    return max(timeout - seconds_between(since, now), 0.0) + 1.0


def _stalled_condition(
    error: str | None, permanent: bool, unschedulable: str | None, now: str, timeout: float
) -> tuple[str, str, str]:
    if error and permanent:
        return "True", Reason.INVALID_SPEC, error
    if unschedulable and seconds_between(unschedulable, now) >= timeout:
        return "True", Reason.UNSCHEDULABLE, f"the performer pod has been unschedulable since {unschedulable}"
    return "False", Reason.PROGRESSING, "no error that retrying cannot fix"


def _reconciling_condition(phase: str, ready: bool, stalled: bool, message: str) -> tuple[str, str, str]:
    if ready:
        return "False", Reason.CURRENT, "the performer is ready"
    if stalled:
        return "False", STALLED, "stalled: not progressing until the spec or the cluster changes"
    return "True", Reason.PROGRESSING, f"{phase}: {message}"


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
    ended: int | None = None,
    replace_at: str | None = None,
    now: str | None = None,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    has_service: bool = True,
    permanent: bool = False,
    unschedulable_timeout: float = DEFAULT_UNSCHEDULABLE_TIMEOUT,
    namespace_terminating: bool = False,
    rollout_pending: bool = False,
) -> Obj:
    """The status the Performer should have, carrying over timestamps that did not change.
    `permanent` says that `error` cannot be fixed by retrying; `namespace_terminating` that the
    Performer's namespace is being deleted (its children could not be created again), so the
    Performer is as good as deleted; `has_service` whether the
    Performer's Service exists; `ended` how many of its pods ended since it was last ready, when a
    run replacing an ended one counted them (else the status's count is carried over; either is
    dropped once the Performer is ready); `replace_at` when its ended pod is replaced, or its
    terminating pod deleted without its node; `rollout_pending` that its pod, rendered differently
    now, waits for its turn in a rollout."""
    now = now or rfc3339_now()
    meta = performer["metadata"]
    previous = performer.get("status") or {}
    generation = int(meta.get("generation") or 0)
    phase = _phase(
        pod,
        deleting=deleting or namespace_terminating,
        upgrading=upgrading,
        error=error,
        was_upgrading=previous.get("phase") == UPGRADING,
    )
    ready = phase == RUNNING and pod_is_ready(pod)
    old_conditions = previous.get("conditions") or []
    if namespace_terminating:
        going = f"the Performer's namespace {meta['namespace']} is being deleted, and the Performer with it"
        ready_value = "False", Reason.NAMESPACE_TERMINATING, going
    else:
        ready_value = _ready_condition(pod, phase, ready, replace_at)
    scheduled = _condition(old_conditions, SCHEDULED, _scheduled_condition(pod), generation, now)
    stalled_value = _stalled_condition(
        error, permanent, unschedulable_since([scheduled]), now, unschedulable_timeout
    )
    reconciled_value = _reconciled_condition(error, rollout_pending)
    reconciling_value = _reconciling_condition(phase, ready, stalled_value[0] == "True", ready_value[2])
    status: Obj = {
        "phase": phase,
        "ready": ready,
        "podName": child_name(meta["name"]),
        "serviceName": child_name(meta["name"]),
        "grpcEndpoint": grpc_endpoint(meta["name"], meta["namespace"], cluster_domain) if has_service else "",
        "observedGeneration": generation,
        "conditions": [
            _condition(old_conditions, READY, ready_value, generation, now),
            scheduled,
            _condition(old_conditions, RECONCILED, reconciled_value, generation, now),
            _condition(old_conditions, RECONCILING, reconciling_value, generation, now),
            _condition(old_conditions, STALLED, stalled_value, generation, now),
        ],
    }
    if ready and not previous.get("ready"):
        status["readyTime"] = now
    elif previous.get("readyTime"):
        status["readyTime"] = previous["readyTime"]
    if upgraded_at or previous.get("lastUpgrade"):
        status["lastUpgrade"] = upgraded_at or previous["lastUpgrade"]
    if ready:
        ended = 0
    elif ended is None:
        ended = ended_pods(performer)
    if ended:
        status["endedPods"] = ended
    return status


def transitions(previous: Obj, current: Obj) -> list[tuple[str, str, str]]:
    """Kubernetes Events (type, reason, message) for what changed between two statuses."""
    events = []
    old = {c["type"]: c for c in previous.get("conditions") or []}
    new = {c["type"]: c for c in current["conditions"]}
    if new[READY]["status"] != old.get(READY, {}).get("status"):
        if new[READY]["status"] == "True":
            events.append(("Normal", Reason.READY, f"performer is ready at {current['grpcEndpoint']}"))
        elif old.get(READY, {}).get("status") == "True":
            events.append(("Warning", Reason.NOT_READY, new[READY]["message"]))
    scheduled = new[SCHEDULED]
    if scheduled["status"] == "False" and (
        old.get(SCHEDULED, {}).get("status") != "False"
        or old.get(SCHEDULED, {}).get("message") != scheduled["message"]
    ):
        events.append(("Warning", scheduled["reason"], scheduled["message"]))
    reconciled = new[RECONCILED]
    if reconciled["status"] == "False" and old.get(RECONCILED, {}).get("message") != reconciled["message"]:
        events.append(("Warning", Reason.RECONCILE_FAILED, reconciled["message"]))
    stalled = new[STALLED]
    if stalled["status"] == "True" and old.get(STALLED, {}).get("status") != "True":
        events.append(("Warning", STALLED, f"{stalled['reason']}: {stalled['message']}"))
    if current.get("lastUpgrade") and current["lastUpgrade"] != previous.get("lastUpgrade"):
        events.append(("Normal", Reason.UPGRADING, "replacing the pod: its rendered spec changed"))
    return events


def event_object(performer: Obj, event_type: str, reason: str, message: str, component: str, now: str) -> Obj:
    """A core/v1 Event about a Performer (what `kubectl describe performer` shows). Its name is a
    digest of what it says about which Performer, so the same Event written again finds the first
    one (status_writer.record_events then counts it there, as kubelets and controllers do)."""
    meta = performer["metadata"]
    message = message[:1024]
    said = "\0".join((meta["uid"], component, event_type, reason, message))
    digest = hashlib.sha256(said.encode()).hexdigest()[:16]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{digest}", "namespace": meta["namespace"]},
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
        "message": message,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
