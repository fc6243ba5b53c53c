"""What the performer_status module does: writes the status of a batch of Performers and records
Events.

It receives what the role rendered, observed and applied, computes each Performer's status with
the rules of performer_status.py, patches the status subresource only where it changed, creates an
Event for each transition, and returns one result per Performer. The runner loop reads them (to
retry failed Performers with back-off and release finalizers) from the module's `results_file`,
because ansible-runner drops event payloads over 700 kB.

`StatusWriter` takes the REST call as a function (`hourglass_kube.request` bound to a client), so
unit tests drive it with a fake API server.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    api_message,
    custom_object_path,
    resource_version,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    DEFAULT_UNSCHEDULABLE_TIMEOUT,
    compute_status,
    event_object,
    stall_recheck_after,
    transitions,
)
from ansible_collections.hourglass.operator.plugins.module_utils.retry_backoff import retry_after

CONCURRENT_WRITES = 16
CR_VAR = "_hourglass_eigenlayer_io_performer"  # the batch item's Performer (operator-sdk's name)
OBSERVED_VAR = "_hourglass_observed"  # the batch item's Pod and Service, as the runner loop saw them
# The results of the objects' writes (the registered results' keys).
WRITE_STEPS = ("created", "applied", "updated", "replaced", "deleted", "forced")

Obj = dict[str, Any]
Call = Callable[..., tuple[int, Any]]


def patch_status(
    call: Call, path: str, status: Obj, previous: Obj, resource_version: str | None = None
) -> tuple[int, Any]:
    """Merge-patches the status subresource of the Performer at `path` (`custom_object_path`) from
    `previous` to `status`: the fields `status` no longer has are removed (a status field that is
    only there while it says something, as `endedPods`, and whatever another client added). The
    runner loop's status fast path writes through this too, with the `resource_version` it computed
    the status from: the API server refuses the patch (409) if the Performer changed since."""
    body: Obj = {"status": {**{field: None for field in previous if field not in status}, **status}}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return call("PATCH", path + "/status", body=body, content_type="application/merge-patch+json")


def record_events(
    call: Call, performer: Obj, events: list[tuple[str, str, str]], component: str, now: str
) -> None:
    """Creates an Event about `performer` for each (type, reason, message), best effort: its status
    says it all. An Event said before, and not yet expired (the API server's --event-ttl, 1 h by
    default), is counted again instead: a pod replaced every few seconds by a node that keeps
    rejecting it makes one Event whose count grows, not thousands of objects in etcd."""
    collection = f"/api/v1/namespaces/{performer['metadata']['namespace']}/events"
    for event_type, reason, message in events:
        body = event_object(performer, event_type, reason, message, component, now)
        with contextlib.suppress(Exception):
            code, _ = call("POST", collection, body=body)
            if code == HTTPStatus.CONFLICT:  # AlreadyExists: the same Event
                _count_again(call, f"{collection}/{body['metadata']['name']}", now)


def _count_again(call: Call, path: str, now: str, attempts: int = 2) -> None:
    """Adds one to the count of the Event at `path` and moves its lastTimestamp to `now` (the
    resourceVersion precondition keeps two writers from counting one).

    The Event is read with an empty merge patch, which changes nothing and answers the object:
    the role then needs no `get` on Events (which would let it read every Event of the cluster),
    and the operator-sdk ansible-operator's proxy, which answers GETs from informers it starts on
    demand, does not start one for all Events."""
    merge = "application/merge-patch+json"
    for _ in range(attempts):
        code, seen = call("PATCH", path, body={}, content_type=merge)
        if code != HTTPStatus.OK:
            return  # expired meanwhile: best effort
        patch = {
            "metadata": {"resourceVersion": seen["metadata"]["resourceVersion"]},
            "count": (seen.get("count") or 1) + 1,
            "lastTimestamp": now,
        }
        code, _ = call("PATCH", path, body=patch, content_type=merge)
        if code != HTTPStatus.CONFLICT:
            return


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "unknown status"


def results_by_object(registered: Obj | None) -> Obj:
    """The results of a performer_apply task by (kind, namespace, name)."""
    if not registered or registered.get("skipped"):
        return {}
    return {
        (r["object"]["kind"], r["object"]["namespace"], r["object"]["name"]): r
        for r in registered["result"]["results"]
    }


def error_of(result: Obj | None) -> str | None:
    error = (result or {}).get("error")
    if not error:
        return None
    return error.get("msg") or str(error)


def refused_in_terminating_namespace(result: Obj | None) -> bool:
    """Whether a write failed only because the object's namespace is being deleted."""
    return bool(((result or {}).get("error") or {}).get("namespace_terminating"))


def _rollout_pending(entry: Obj) -> bool:
    """Whether the plan kept the Performer's pod, rendered differently now, for a rollout slot."""
    return entry.get("rollout") == contract.ROLLOUT_WAITING


def item_key(item: Obj) -> str:
    """`namespace/name` of a batch item's Performer (how the plan and the results name it)."""
    meta = item[CR_VAR]["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


def batch_keys(batch: list[Obj]) -> list[str]:
    """`namespace/name` of every Performer of a batch (what the module reports instead of the batch,
    which holds whole Performers and can be megabytes large)."""
    return [item_key(item) for item in batch]


class ResultsFile:
    """The runner loop's results file, appended to one whole line per result as each is known: the loop
    reads it while the run goes on and settles each Performer once its line is there."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __enter__(self) -> ResultsFile:
        self._stream = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()

    def append(self, result: Obj) -> None:
        line = json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:  # the results of a batch are written from several threads
            self._stream.write(line)
            self._stream.flush()


def repair_events(
    entry: Obj, error: str | None, pod_forced: bool = False, service_kept: bool = False
) -> list[tuple[str, str, str]]:
    """An Event for each repair of this run, saying what it found and did: a pod that ended and was
    replaced, children another client changed, a pod deleted without its node (`pod_forced`) (each a
    Warning), children no object owned, adopted (Normal). A
    Service whose restore changed nothing (`service_kept`) was not changed by another client: what
    differed is what admission makes of the rendered one (a policy's session affinity), and the
    live Service is what restoring it gives."""
    found = entry.get("drift") or {}
    events = []
    if pod_forced:
        message = (f"deleted the performer pod without waiting for its node {entry.get('lost_pod_node')}, "
                   "which is not Ready: the pod was still terminating past its deletion deadline, and "
                   "its replacement (of the same name) waited for it")  # fmt: skip
        events.append(("Warning", contract.Reason.LOST_POD_DELETED, message))
    if entry.get("pod_ended"):
        outcome = "could not replace" if error else "replaced"
        message = f"{outcome} the performer pod, which ended ({entry['pod_ended']})"
        events.append(("Warning", contract.Reason.POD_REPLACED, message))
    if found.get("pod"):
        message = "replacing the pod, changed by another client: " + "; ".join(found["pod"])
        events.append(("Warning", contract.Reason.POD_DRIFTED, message))
    if entry.get("adopted") and not error:
        adopted = " and the ".join("Service" if kind == "Service" else "pod" for kind in entry["adopted"])
        message = (f"adopted the performer {adopted} of its name, which no object owned (left by a "
                   "Performer deleted with --cascade=orphan, or created by another client)")  # fmt: skip
        events.append(("Normal", contract.Reason.ADOPTED, message))
    if found.get("service") and not service_kept:
        outcome = "could not restore" if error else "restored"
        message = f"{outcome} the Service, changed by another client: " + "; ".join(found["service"])
        events.append(("Warning", contract.Reason.SERVICE_DRIFTED, message))
    return events


@dataclass
class _Computed:
    """A Performer's status as `StatusWriter._compute` works it out, and what it was worked out from."""

    status: Obj
    error: str | None
    permanent: bool
    entry: Obj  # the Performer's entry of the plan
    service: Obj | None
    pod_written: bool
    deletions: list
    pod_forced: bool  # this run deleted the pod without its node's kubelet
    service_kept: bool  # this run's restore of the Service left it as it was
    memo: Obj  # what the next run's plan is to be given back (performer_plan's `memo`)


class StatusWriter:
    """Writes the statuses of one batch; the registered results of the role's apply tasks
    (`created`, `applied`, `updated`, `replaced`, `deleted`) and its `plan` say what happened to each
    child."""

    def __init__(
        self,
        call: Call,
        *,
        plan: Obj,
        created: Obj | None = None,
        applied: Obj | None = None,
        updated: Obj | None = None,
        replaced: Obj | None = None,
        deleted: Obj | None = None,
        forced: Obj | None = None,
        observed: Obj | None = None,
        state: str = "present",
        field_manager: str = contract.DEFAULT_FIELD_MANAGER,
        cluster_domain: str = contract.DEFAULT_CLUSTER_DOMAIN,
        check_mode: bool = False,
        now: str | None = None,
        unschedulable_timeout: float = DEFAULT_UNSCHEDULABLE_TIMEOUT,
    ) -> None:
        self.call = call
        self.plan = plan
        self.created = results_by_object(created)
        self.applied = results_by_object(applied)
        self.updated = results_by_object(updated)
        self.replaced = results_by_object(replaced)
        self.deleted = results_by_object(deleted)
        self.forced = results_by_object(forced)
        self.observed = observed or {}
        self.state = state
        self.field_manager = field_manager
        self.cluster_domain = cluster_domain
        self.check_mode = check_mode
        self.now = now or contract.now()
        self.unschedulable_timeout = unschedulable_timeout

    def record(self, step: str, result: Obj) -> None:
        """One result of the objects' writes as soon as it is known (`step`: `created`, `applied`,
        `updated`, `replaced` or `deleted`, as the registered results): what `reconcile_status`
        reads of it."""
        if step not in WRITE_STEPS:
            raise ValueError(f"step: {step!r} is not one of {', '.join(WRITE_STEPS)}")
        written = result["object"]
        getattr(self, step)[(written["kind"], written["namespace"], written["name"])] = result

    def _written(self, key: tuple[str, str, str], *steps: str) -> Obj | None:
        """The result of the first of `steps` that wrote the object `key` (kind, namespace, name)."""
        return next((getattr(self, step)[key] for step in steps if key in getattr(self, step)), None)

    def write(self, batch: list[Obj], on_result: Callable[[Obj], None] | None = None) -> list[Obj]:
        """One result per Performer of `batch`, in order (the API calls of a batch are independent:
        they are issued concurrently); each also handed to `on_result` as soon as it is known."""

        def reconcile(item: Obj) -> Obj:
            result = self.reconcile_status(item)
            if on_result:
                on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=CONCURRENT_WRITES) as pool:
            return list(pool.map(reconcile, batch))

    def reconcile_status(self, item: Obj) -> Obj:
        performer = item[CR_VAR]
        meta = performer["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        computed = self._compute(item)
        status, error, entry = computed.status, computed.error, computed.entry
        previous = performer.get("status") or {}
        patched, written, refused = False, status == previous, None
        if status != previous and not self.check_mode:
            code, answer = self._patch(meta, status, previous)
            if code < 300:
                patched = written = True
            elif code != 404:  # a Performer deleted meanwhile needs no status
                # Neither this failure nor the run's own error is in the status: an Event says them.
                refused = f"status update failed: {code} {api_message(answer) or _phrase(code)}"
                error = f"{error}; {refused}" if error else refused
        repairs = repair_events(entry, error, computed.pod_forced, computed.service_kept)
        events = (transitions(previous, status) if patched else []) + repairs
        if refused:
            events.append(("Warning", contract.Reason.RECONCILE_FAILED, error))
        record_events(self.call, performer, events, self.field_manager, self.now)
        return {
            "namespace": namespace,
            "name": name,
            "phase": status["phase"],
            "ready": status["ready"],
            "error": error,
            "stalled": computed.permanent,
            **self.retry(status, error, written and not computed.permanent),
            "recheck_after": self.recheck_after(status, entry),
            "repairs": [reason for _, reason, _ in repairs],
            "patched": patched,
            "children_gone": self.children_gone(entry, computed.deletions),
            "orphaning": bool(entry.get("orphaning")),  # the garbage collector has yet to orphan them
            # started: its pod is replaced in a rollout; waiting: it waits for a slot (performer_plan)
            **({"rollout": entry["rollout"]} if entry.get("rollout") else {}),
            **({"memo": computed.memo} if computed.memo else {}),
            "baseline": self.baseline(entry, computed.service, error, computed.pod_written),
        }

    def retry(self, status: Obj, error: str | None, retried: bool) -> Obj:
        """`retry_after`: the seconds until a Performer whose reconcile failed (`retried`: not for good,
        and its status says since when) is tried again, doubling as it keeps failing (retry_backoff).
        ansible-operator gets it as the run's requeue_after; the runner loop has its own back-off."""
        if not error or not retried or self.state != "present":
            return {}
        conditions = status.get("conditions") or []
        reconciled = next((c for c in conditions if c.get("type") == contract.RECONCILED), {})
        failing_since = reconciled.get("lastTransitionTime") or self.now
        return {"retry_after": retry_after(error, failing_since, self.now)}

    def recheck_after(self, status: Obj, entry: Obj) -> float | None:
        """Seconds after which the Performer must be looked at again although nothing changes: its
        Unschedulable pod will have made it Stalled, its ended pod will be old enough to replace, or its
        terminating pod will be overdue (and its node may have stopped answering)."""
        delays = [stall_recheck_after(status, self.now, self.unschedulable_timeout),
                  entry.get("replace_ended_pod_after"), entry.get("force_delete_pod_after")]  # fmt: skip
        return min((d for d in delays if d is not None), default=None)

    def write_upgrading(self, item: Obj) -> None:
        """While the run waits for the Performer's replaced pod to go: writes the status that says so
        (Upgrading, not ready: the old pod has no endpoint any more), with its Event, as soon as the
        wait begins, instead of once the new pod exists. The Performer's status in `item` becomes it,
        so `reconcile_status` later compares with it (no second Event for the same transition)."""
        performer = item[CR_VAR]
        status = self._compute(item).status
        previous = performer.get("status") or {}
        if status == previous or self.check_mode:
            return
        if self._patch(performer["metadata"], status, previous)[0] >= 300:
            return
        record_events(self.call, performer, transitions(previous, status), self.field_manager, self.now)
        performer["status"] = status

    def _patch(self, meta: Obj, status: Obj, previous: Obj) -> tuple[int, Any]:
        path = custom_object_path(contract.GROUP, contract.VERSION, contract.PLURAL, meta)
        return patch_status(self.call, path, status, previous)

    def _compute(self, item: Obj) -> _Computed:
        """The Performer's status from what the run wrote for it so far and what was observed."""
        performer = item[CR_VAR]
        meta = performer["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        key, child = f"{namespace}/{name}", contract.child_name(name)
        entry = self.plan.get(key, {})
        pod_key, service_key = ("Pod", namespace, child), ("Service", namespace, child)
        pod_result = self._written(pod_key, "created", "applied", "replaced")
        service_result = self._written(service_key, "created", "applied", "updated")
        deletions = [self.deleted.get(pod_key), self.deleted.get(service_key)]
        forced = self.forced.get(pod_key)
        pod_forced = bool(forced and forced.get("changed"))
        restore = self.updated.get(service_key)
        service_kept = bool(restore and not restore.get("changed") and not error_of(restore))
        results = (pod_result, service_result, forced, *deletions)
        # Its namespace is being deleted: a create it refused is no failure to retry; the Performer's
        # own deletion comes with the namespace's.
        namespace_terminating = any(map(refused_in_terminating_namespace, results))
        errors = [entry.get("error")] + [
            error_of(r) for r in results if not refused_in_terminating_namespace(r)
        ]
        error = "; ".join(e for e in errors if e) or None
        # A render error (unknown gpuType or TEE profile, a derived name too long) comes back on every
        # run until the spec changes; errors of API calls may not.
        # So does a replacement pod refused as invalid, which left the old pod in place.
        pod_error = (pod_result or {}).get("error") or {}
        kept_pod = bool(pod_error.get("kept_pod"))
        permanent = (bool(entry.get("error")) or bool(pod_error.get("invalid"))) and self.state == "present"

        observed = item.get(OBSERVED_VAR) or self.observed.get(key) or {}
        pod, service = observed.get("pod"), observed.get("service")
        pod_written = bool(
            pod_result and not error_of(pod_result) and (pod_result.get("result") or {}).get("metadata")
        )
        if pod_written:
            # The pod was created (or relabelled) earlier in this run and may have been scheduled,
            # started or become ready since: report what it is now, not what the apply returned.
            written = pod_result["result"]
            pod = self.fresh_pod(namespace, child, written["metadata"].get("resourceVersion")) or written
        elif (entry.get("pod_action") == "replace" and not kept_pod) or pod_forced:
            # The old pod is terminating or gone; its replacement comes with the run its deletion triggers.
            pod = None
        if service_result and not error_of(service_result):
            service = service_result.get("result") or service
        if self.deleted.get(service_key) and not error_of(self.deleted.get(service_key)):
            service = None
        status = compute_status(
            performer,
            pod,
            deleting=self.state == "absent" or bool(meta.get("deletionTimestamp")),
            upgrading=bool(entry.get("upgrading")) and not kept_pod,  # the old pod serves on
            error=error,
            upgraded_at=None if kept_pod else entry.get("upgraded_at"),
            ended=None if error else entry.get("ended_pods"),
            replace_at=entry.get("replace_ended_pod_at") or entry.get("force_delete_pod_at"),
            now=self.now,
            cluster_domain=self.cluster_domain,
            has_service=bool(service),
            permanent=permanent,
            unschedulable_timeout=self.unschedulable_timeout,
            namespace_terminating=namespace_terminating,
            rollout_pending=_rollout_pending(entry),
        )
        admitted = entry.get("service_admitted")
        if service_kept:  # what admission makes of the rendered Service: not to be restored again
            version = resource_version(restore.get("result"))
            admitted = {"resourceVersion": version, "drift": (entry.get("drift") or {}).get("service")}
        memo = {"service_admitted": admitted} if admitted else {}
        return _Computed(
            status, error, permanent, entry, service, pod_written, deletions, pod_forced, service_kept, memo
        )

    def children_gone(self, entry: Obj, deletions: list) -> bool:
        """Whether a deleted Performer's Pod and Service are gone: none was left, or this run deleted
        every one that was and saw it disappear."""
        done = [r for r in deletions if r and not r.get("pending") and not error_of(r)]
        return bool(entry.get("children_gone")) or (
            self.state == "absent" and len(done) == entry.get("children_deleted", -1)
        )

    def fresh_pod(self, namespace: str, name: str, written_version: str | None) -> Obj | None:
        """The pod as it is now, or None. Read at least as new as the version this run wrote, which the
        API server answers from its watch cache instead of reading etcd (about half the API server's
        and etcd's CPU of a read)."""
        query = [("resourceVersion", written_version)] if written_version else None
        status, body = self.call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}", query=query)
        return body if status == 200 else None

    def baseline(self, entry: Obj, service: Obj | None, error: str | None, pod_written: bool) -> Obj | None:
        """What a successful reconcile established, when the pod it wants exists: the spec hash and
        labels of the pod, the resourceVersion of the Service and the cluster domain. The runner
        loop's status fast path keeps the status in step with the pod from there."""
        service_version = resource_version(service)
        if error or self.state != "present" or not entry.get("spec_hash") or not service_version:
            return None
        if entry.get("pod_action") == "wait" or (entry.get("pod_action") == "replace" and not pod_written):
            return None
        return {
            "spec_hash": entry["spec_hash"],
            "pod_labels": entry["pod_labels"],
            "service_resource_version": service_version,
            "cluster_domain": self.cluster_domain,
            "unschedulable_timeout": self.unschedulable_timeout,
            **({"rollout_pending": True} if _rollout_pending(entry) else {}),
        }
