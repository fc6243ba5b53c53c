"""The status fast path: keeps a Performer's status in step with its Pod's status without an
ansible run, when nothing but the pod's status changed since the last successful reconcile.

Each successful full reconcile (an ansible run of the role) reports a *baseline* per Performer:
the spec hash and labels of the pod it established, the resourceVersion of the Service, the
cluster domain. A change of a Pod or Service queues a status-only sync of its Performer; the
status worker checks that the Performer still matches its baseline (same uid and generation, not
being deleted; pod present, not terminating, not ended, with that spec hash and those labels; the
Service untouched since) and then computes the status with the role's own rules (the collection's
`plugins/module_utils/performer_status.py`, imported from ansible_collections.hourglass.operator,
so both paths share one implementation), patches it when it changed and records the same Events.
Anything else is escalated to a full reconcile, which stays the only writer of Pods and Services;
when the pod of a Performer that says it is ready is gone, terminating or not ready, the status is
first patched to say so (with the last reconcile's outcome kept), because the full reconcile takes seconds.

A change of nothing but a Performer's status queues a sync too: when the status is not what this
path would write, and differs from the last status it wrote or found right, another client wrote
it; the status is restored to what the operator would have written from that last status (so its
timestamps come back too), fields the operator does not write are removed, and a Warning Event
says so. A full reconcile writes the status itself, so it ends what this path remembers.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils import performer_status as status_rules
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    api_message,
    caller,
    custom_object_path,
)
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    patch_status,
    record_events,
)

from hourglass_operator.informer import Obj, object_key

log = logging.getLogger(__name__)

SPEC_HASH = contract.SPEC_HASH_ANNOTATION


class ApiError(Exception):
    """The API server refused a status patch (the status worker retries with back-off)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if message else f"HTTP {status}")
        self.status = status


class Outcome(Enum):
    PATCHED = "patched"
    RESTORED = "restored"  # another client had written the status
    UNCHANGED = "unchanged"
    ESCALATE = "escalate"  # needs a full reconcile
    STALE = "stale"  # the Performer changed since the cache's copy: not written, look again


class _Stale(Exception):
    """The Performer changed since the copy a status was computed from."""


@dataclass(frozen=True)
class Baseline:
    uid: str
    generation: int
    spec_hash: str
    pod_labels: dict[str, str]
    service_resource_version: str
    cluster_domain: str
    unschedulable_timeout: float = status_rules.DEFAULT_UNSCHEDULABLE_TIMEOUT
    rollout_pending: bool = False  # its pod, rendered differently now, waits for a rollout slot


def _matches(baseline: Baseline, cr: Obj, pod: Obj | None, service: Obj | None) -> bool:
    meta = cr["metadata"]
    if meta.get("deletionTimestamp") or meta.get("uid") != baseline.uid:
        return False
    if int(meta.get("generation") or 0) != baseline.generation or not pod or not service:
        return False
    pod_meta, service_meta = pod["metadata"], service["metadata"]
    pod_labels = pod_meta.get("labels") or {}
    return (
        not pod_meta.get("deletionTimestamp")
        and not status_rules.pod_ended(pod)  # a run replaces it
        and (pod_meta.get("annotations") or {}).get(SPEC_HASH) == baseline.spec_hash
        and all(pod_labels.get(k) == v for k, v in baseline.pod_labels.items())
        and not service_meta.get("deletionTimestamp")
        and service_meta.get("resourceVersion") == baseline.service_resource_version
    )


def _last_error(status: Obj) -> str | None:
    """The failure the last full reconcile reported (its Reconciled condition), kept as it is."""
    reconciled = next((c for c in status.get("conditions") or [] if c.get("type") == contract.RECONCILED), {})
    return reconciled.get("message") if reconciled.get("status") == "False" else None


class StatusSync:
    def __init__(
        self,
        client: Any,
        *,
        group: str = contract.GROUP,
        version: str = contract.VERSION,
        plural: str = contract.PLURAL,
        component: str = contract.DEFAULT_FIELD_MANAGER,
    ) -> None:
        self._call = caller(client)  # client: what `request` calls with (`startup.calls_client`)
        self.group, self.version, self.plural = group, version, plural
        self.component = component
        self._baselines: dict[str, Baseline] = {}
        self._known: dict[str, tuple[str, Obj]] = {}  # key -> (uid, the status last written or found right)
        self._rechecks: dict[str, float] = {}  # key -> seconds until its Unschedulable pod makes it Stalled
        self._lock = threading.Lock()

    def record(self, cr: Obj, reported: dict[str, Any] | None) -> None:
        """Remember what a full reconcile of `cr` established (None forgets it)."""
        key = object_key(cr)
        with self._lock:
            self._known.pop(key, None)
            if not reported:
                self._baselines.pop(key, None)
                return
            self._baselines[key] = Baseline(
                uid=cr["metadata"]["uid"],
                generation=int(cr["metadata"].get("generation") or 0),
                spec_hash=reported["spec_hash"],
                pod_labels=dict(reported["pod_labels"]),
                service_resource_version=reported["service_resource_version"],
                cluster_domain=reported["cluster_domain"],
                unschedulable_timeout=float(
                    reported.get("unschedulable_timeout", status_rules.DEFAULT_UNSCHEDULABLE_TIMEOUT)
                ),
                rollout_pending=bool(reported.get("rollout_pending")),
            )

    def forget(self, key: str) -> None:
        with self._lock:
            self._baselines.pop(key, None)
            self._known.pop(key, None)
            self._rechecks.pop(key, None)

    def recheck_after(self, key: str) -> float | None:
        """Seconds after which the last sync of `key` must be done again: its pod is Unschedulable
        and will have been so long enough to make the Performer Stalled (None: no need)."""
        with self._lock:
            return self._rechecks.pop(key, None)

    def _remember(self, cr: Obj, status: Obj) -> None:
        with self._lock:
            self._known[object_key(cr)] = (cr["metadata"]["uid"], status)

    def _written_by_us(self, cr: Obj) -> Obj | None:
        """The status this path last wrote or found right for this very Performer, if any."""
        with self._lock:
            uid, status = self._known.get(object_key(cr), (None, None))
        return status if uid == cr["metadata"].get("uid") else None

    def sync(self, cr: Obj, pod: Obj | None, service: Obj | None) -> tuple[Outcome, Obj | None]:
        """Patches the status of `cr` from `pod` when the baseline still holds. Otherwise the outcome
        is ESCALATE, and a Performer that says it is ready while its pod is gone, terminating or not
        ready is first patched to say it is not (a full reconcile takes seconds; `ready` must not
        lie meanwhile). Returns the outcome and the updated Performer when patched. API errors
        propagate (the caller retries)."""
        with self._lock:
            baseline = self._baselines.get(object_key(cr))
        previous = cr.get("status") or {}
        now = contract.now()
        if baseline is None or not _matches(baseline, cr, pod, service):
            if not previous.get("ready") or status_rules.pod_is_ready(pod):
                return Outcome.ESCALATE, None
            status = status_rules.compute_status(
                cr, pod, now=now, deleting=bool(cr["metadata"].get("deletionTimestamp")),
                error=_last_error(previous),
            )  # fmt: skip
            status["grpcEndpoint"] = previous.get("grpcEndpoint", "") if service else ""
            try:
                return Outcome.ESCALATE, self._patch(cr, previous, status, now)
            except _Stale:
                return Outcome.STALE, None
        status = status_rules.compute_status(
            cr, pod, now=now, cluster_domain=baseline.cluster_domain,
            unschedulable_timeout=baseline.unschedulable_timeout, rollout_pending=baseline.rollout_pending,
        )  # fmt: skip
        recheck = status_rules.stall_recheck_after(status, now, baseline.unschedulable_timeout)
        with self._lock:
            if recheck is None:
                self._rechecks.pop(object_key(cr), None)
            else:
                self._rechecks[object_key(cr)] = recheck
        if status == previous:
            self._remember(cr, status)
            return Outcome.UNCHANGED, None
        ours = self._written_by_us(cr)
        foreign = ours is not None and ours != previous
        if foreign:  # another client wrote the status: start again from ours
            status = status_rules.compute_status(
                {**cr, "status": ours}, pod, now=now, cluster_domain=baseline.cluster_domain,
                unschedulable_timeout=baseline.unschedulable_timeout,
                rollout_pending=baseline.rollout_pending,
            )  # fmt: skip
        try:
            updated = self._patch(cr, previous, status, now, restoring=foreign)
        except _Stale:
            return Outcome.STALE, None
        if updated is None:
            return Outcome.UNCHANGED, None
        self._remember(cr, status)
        return (Outcome.RESTORED if foreign else Outcome.PATCHED), updated

    def _patch(self, cr: Obj, previous: Obj, status: Obj, now: str, restoring: bool = False) -> Obj | None:
        """Writes `status` (removing fields the operator does not write) and the Events of its
        transitions, or of the restoration; None when the Performer is gone. Only over the copy it
        was computed from (its resourceVersion): a status another writer (a run) wrote meanwhile, or
        a change of the spec, which the cache has not seen yet, is never overwritten (`_Stale`)."""
        meta = cr["metadata"]
        path = custom_object_path(self.group, self.version, self.plural, meta)
        code, updated = patch_status(self._call, path, status, previous, meta.get("resourceVersion"))
        if code == 404:  # deleted meanwhile: nothing to report
            return None
        if code == 409:
            raise _Stale
        if code >= 300:
            raise ApiError(code, api_message(updated))
        events = status_rules.transitions(previous, status)
        if restoring:
            changed = sorted(k for k in previous.keys() | status.keys() if previous.get(k) != status.get(k))
            message = "restored the status another client wrote (changed: " + ", ".join(changed) + ")"
            events = [("Warning", contract.Reason.STATUS_RESTORED, message)]
        record_events(self._call, cr, events, self.component, now)
        return updated
