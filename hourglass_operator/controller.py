"""The reconcile loop for one watched kind: informers feed the work queue, workers drain batches
of due keys and run Ansible once per batch, and the finalizer is added before children exist and
removed once a finalizer run confirmed they are gone.

This is the generic plumbing (watch → queue → batch → runner → outcome); the pieces it puts
together each have a module: `changes` (which event calls for a full reconcile, a status-only sync
or nothing), `workqueue` (batch window, full/status split, back-off), `batching` (a batch sorted by
lifecycle into run requests), `finalizers`, `runs` (the `BatchRunner` protocol and what a run
reports), `outcomes` (what a run's report means for each resource), `status_sync` (the status fast
path). What is specific to the kind comes from a
`KindAdapter` (`performer_adapter`): its children, how they name their owner, the role's variables.

What enqueues a custom resource for a full reconcile: it appears; its generation, labels,
annotations or deletion timestamp change; another client edits the spec or owner references of
one of its children; the periodic resync; a failure (with per-key exponential back-off), or at once,
for one a ResourceQuota refused, when a quota of its namespace may have made room (`quota_waits`). Any other
change of one of its children (found by the adapter's owner label, old and new, and their
controller owner reference), status included, queues a status-only sync, which a separate worker
handles without ansible when the resource still matches what its last full reconcile established,
and escalates to a full reconcile otherwise. So does a change of nothing but the custom resource's
status: the status sync restores a status another client wrote.

At most `workers` ansible runs go on at the same time, and as many batches are under way, with one
worker thread more: a batch whose every key its runs settled and handed back makes way for the next
while its run is still ending (the end of the play, the exit of its processes, ansible-runner's
bookkeeping: a few tenths of a second in which the run uses little CPU). The next batch adds its
finalizers meanwhile, and starts its run once that run has ended. While keys wait and every worker is
busy, the runs going on stop waiting for the pods they replace (see `_watch_for_waiting_work`).

After a run, each resource it reported on without an error is done (a deleted one loses its
finalizer once its children are gone: with a status worker, that worker waits for them, so that no
ansible worker is held for it); one with an error, or one the run reported nothing for, is
retried with back-off, and the latter also gets a Warning Event, since its failure is written
nowhere else. A finalizer run that reported nothing does not strand the finalizer: when that run
is the role's own deletion, the loop deletes the children itself and releases the finalizer once
they are gone.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import names_owner
from ansible_collections.hourglass.operator.plugins.module_utils.retry_backoff import (
    RETRY_MAX_SECONDS,
    retry_max,
)

from hourglass_operator import metrics
from hourglass_operator.batching import (
    finalizer_is_the_roles_deletion,
    operator_sdk_vars,
    run_request,
    sort_by_lifecycle,
)
from hourglass_operator.changes import Need, child_change, custom_resource_change, unseen_change
from hourglass_operator.finalizers import Failure, Finalizers
from hourglass_operator.informer import Informer, Obj, object_key
from hourglass_operator.outcomes import Verdict, outcome
from hourglass_operator.quota_waits import QuotaWaits, may_make_room
from hourglass_operator.rollouts import ROLLOUT_SLOTS_VAR, Limit, Rollouts
from hourglass_operator.runs import ABSENT, PRESENT, BatchRunner, OnResult, RunResult
from hourglass_operator.stalls import Stalls
from hourglass_operator.status_sync import Outcome, StatusSync
from hourglass_operator.unreported import Warnings, describe
from hourglass_operator.watches import Watch
from hourglass_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)

ABSENT_RETRY_SECONDS = 5.0
STALE_RETRY_SECONDS = 0.2  # a status sync refused for a stale copy: the watch brings the newer one first
# Status syncs refused for a stale copy in a row: the watch brings no newer one (stalled), so a full
# reconcile, with back-off, writes the status instead.
STALE_RETRIES = 5
CONCURRENT_API_CALLS = 16  # finalizer patches of a batch, status syncs
STATUS_BATCH = 256
OVERDUE_SECONDS = 0.25  # past the batch window, a due key no worker took finds every worker busy
WAITING_WORK_POLL_SECONDS = 0.1  # how often, while runs go on, overdue keys are looked for


class _Slot:
    """A worker's hold on one of the batch slots, given back once: as soon as its batch is settled, or
    when the worker is done with the batch."""

    def __init__(self, slots: threading.Semaphore) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._slots.release()


class _RunsGoing:
    """Counts the ansible runs going on; `going` is set while there is one. A context manager: one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self.going = threading.Event()

    def __enter__(self) -> None:
        with self._lock:
            self._runs += 1
            self.going.set()

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._runs -= 1
            if not self._runs:
                self.going.clear()


class _Released:
    """The keys of a batch its runs settled and handed back while they went on; calls `settled` once
    they are all of the batch's keys."""

    def __init__(self, keys: list[str], settled: Callable[[], None] | None) -> None:
        self._batch = len(keys)  # keys the work queue handed out: each once
        self._keys: set[str] = set()
        self._settled = settled

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys.add(key)
        if len(self._keys) == self._batch and self._settled is not None:
            settled, self._settled = self._settled, None
            settled()


class KindAdapter(Protocol):
    """What the loop needs to know about the watched kind's children and its role's interface."""

    child_paths: dict[str, str]  # child kind -> list path, `{ns}` standing for "namespaces/<ns>/" or ""
    child_selector: str
    state_var: str
    items_var: str
    absent_vars: dict[str, Any]  # extra vars of a finalizer run that is the role's own deletion

    def owners(self, child: Obj) -> set[str]: ...

    def child_key(self, namespace: str, cr_name: str) -> str: ...

    def observed_vars(self, children: dict[str, Obj | None], memo: Obj | None = None) -> Obj: ...

    def delete_children(
        self, core: kubernetes.client.CoreV1Api, namespace: str, cr_name: str, kinds: list[str]
    ) -> list[str]: ...


def _ns_path(namespace: str) -> str:
    return f"namespaces/{namespace}/" if namespace else ""


class Controller:
    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        watch: Watch,
        runner: BatchRunner,
        adapter: KindAdapter,
        *,
        namespaces: list[str],
        max_batch: int,
        workers: int,
        batch_window: float = 0.0,
        stop: threading.Event,
        is_leader: threading.Event,
        status_sync: StatusSync | None = None,
        client: Any = None,
        core: kubernetes.client.CoreV1Api | None = None,
        watch_quotas: bool = False,
        rollout_limit: Limit | None = None,
    ) -> None:
        """`client`: what the finalizer patches are made with (`hourglass_kube.request`; `api` when
        None, `startup.calls_client(api)` for the small HTTPS client). `watch_quotas`: retry what a
        ResourceQuota refused as soon as a quota may make room (needs list and watch of them).
        `rollout_limit`: how many resources at most have their pod, rendered differently now, replaced
        at a time (None: every one at once)."""
        if not watch.plural:
            raise ValueError(f"watch {watch.kind}.{watch.group}: plural: unknown (ask API discovery)")
        self.api = api
        self.status_sync = status_sync
        self.watch = watch
        self.runner = runner
        self.adapter = adapter
        self.max_batch = max_batch
        self.batch_window = batch_window
        self.workers = workers
        self.stop = stop
        self.is_leader = is_leader
        self.cancel_runs = threading.Event()
        self._slots = threading.Semaphore(workers)  # batches under way
        self._runs = threading.Semaphore(workers)  # ansible runs going on
        self._runs_going = _RunsGoing()
        queue_metrics = metrics.WorkQueueMetrics(watch.plural)
        # A standby's informers keep their caches warm; its queue takes nothing until it leads.
        self.queue = WorkQueue(observer=queue_metrics, held=not is_leader.is_set())
        self.core = core or kubernetes.client.CoreV1Api(api)
        self.warnings = Warnings(self.core)
        self.stalls = Stalls()
        self.finalizers: Finalizers | None = None
        if watch.finalizer:
            self.finalizers = Finalizers(
                api if client is None else client, group=watch.group, version=watch.version,
                plural=watch.plural, name=watch.finalizer.name,
            )  # fmt: skip
        # The finalizer patches of a batch, concurrently; kept for the loop's life, so that each of its
        # threads keeps its connection (the small HTTPS client has one per thread).
        self._api_calls = ThreadPoolExecutor(CONCURRENT_API_CALLS, thread_name_prefix="api")
        self.crs: list[Informer] = []
        self.children: dict[str, list[Informer]] = {kind: [] for kind in adapter.child_paths}
        # Deleted resources whose finalizer run deleted the children without waiting for them: the
        # finalizer is released once the informers see them gone (no further run, no polling).
        self.awaiting_children: set[str] = set()
        # Of those, when a run must look at them again although their children only terminate (by the
        # queue's clock): the pod of a node that stopped answering, which the run deletes without it.
        self._deletion_rerun_at: dict[str, float] = {}
        # The uids of deleted resources seen with the `orphan` finalizer (`--cascade=orphan`): their
        # children are not theirs to delete, whatever the child informers still hold of them.
        self._orphaned: set[str] = set()
        # What each resource's last run left for its next (its result's `memo`), by key.
        self._memos: dict[str, Obj] = {}
        self.quota_waits = QuotaWaits()
        self.quotas: list[Informer] = []
        group_path = f"/apis/{watch.group}/{watch.version}/"
        for namespace in namespaces or [""]:
            self.crs.append(Informer(
                api, group_path + _ns_path(namespace) + watch.plural, self._on_cr,
                label_selector=watch.label_selector, name=f"{watch.kind} {namespace or '*'}", stop=stop,
            ))  # fmt: skip
            for kind, path in adapter.child_paths.items():
                self.children[kind].append(Informer(
                    api, path.format(ns=_ns_path(namespace)), self._on_child,
                    label_selector=adapter.child_selector, name=f"{kind} {namespace or '*'}", stop=stop,
                ))  # fmt: skip
            if watch_quotas:
                self.quotas.append(Informer(
                    api, f"/api/v1/{_ns_path(namespace)}resourcequotas", self._on_quota,
                    name=f"resourcequota {namespace or '*'}", stop=stop,
                ))  # fmt: skip
        self.rollouts = None
        if rollout_limit is not None:
            self.rollouts = Rollouts(rollout_limit, lambda: sum(len(informer) for informer in self.crs))
            counts = self.rollouts.counts
            for i, state in enumerate(("replacing", "waiting")):
                metrics.ROLLOUT_PERFORMERS.labels(state=state).set_function(lambda i=i: counts()[i])
        self._threads: list[threading.Thread] = []
        self._child_changes: set[str] = set()  # keys queued for a status sync by a change of a child
        self._stale: dict[str, int] = {}  # status syncs refused for a stale copy in a row, by key
        metrics.register_performer_collector(self.cached_crs)
        queue_metrics.track(self.queue.depth, self.queue.unfinished_work)

    # --- cache access ---------------------------------------------------------------------------

    def all_informers(self) -> list[Informer]:
        return self.crs + [i for group in self.children.values() for i in group] + self.quotas

    def synced(self) -> bool:
        return all(i.has_synced() for i in self.all_informers())

    def cached_crs(self) -> list[Obj]:
        return [cr for informer in self.crs for cr in informer.list()]

    def _cr(self, key: str) -> tuple[Obj | None, Informer | None]:
        for informer in self.crs:
            obj = informer.get(key)
            if obj is not None:
                return obj, informer
        return None, None

    def _has_cr(self, key: str) -> bool:
        return self._holder(key) is not None

    def _holder(self, key: str) -> Informer | None:
        """The informer that caches resource `key` (none read from it)."""
        return next((informer for informer in self.crs if key in informer), None)

    def _child(self, kind: str, namespace: str, cr_name: str) -> Obj | None:
        key = self.adapter.child_key(namespace, cr_name)
        for informer in self.children[kind]:
            obj = informer.get(key)
            if obj is not None:
                return obj
        return None

    def _children_of(self, cr: Obj) -> dict[str, Obj | None]:
        """The children of `cr` the informers hold, by kind (None: none)."""
        meta = cr["metadata"]
        return {kind: self._child(kind, meta["namespace"], meta["name"]) for kind in self.children}

    def _children_to_delete(self, cr: Obj) -> dict[str, Obj | None]:
        """The children of a deleted resource that are its to delete, by kind (None: none): those
        that name it among their owners, and none once it was seen deleted with `--cascade=orphan`
        (the garbage collector takes their owner references away: they stay)."""
        meta = cr["metadata"]
        children = self._children_of(cr)
        if meta.get("uid") in self._orphaned:
            return dict.fromkeys(children)
        return {kind: child if child and names_owner(child, meta.get("uid")) else None
                for kind, child in children.items()}  # fmt: skip

    def _cache(self, updated: Obj, seen: Obj | None = None) -> None:
        """Record a resource this loop just wrote, so that events already queued for it see it; not
        when the API server's answer carries another client's change the handlers were not told of
        (an edit of the spec, a deletion) since `seen` (by default the cached copy): its own event must
        find the copy before it in the cache, or it would not be taken for the change it is."""
        key = object_key(updated)
        cached, informer = self._cr(key) if seen is None else (seen, self._holder(key))
        if informer is not None and not (cached and unseen_change(cached, updated)):
            informer.update(updated)

    # --- event handlers -------------------------------------------------------------------------

    def _on_cr(self, event: str, old: Obj | None, new: Obj | None) -> None:
        need = custom_resource_change(event, old, new)
        if need is Need.FORGET:
            self._orphaned.discard(old["metadata"].get("uid"))
            self._forget(object_key(old))
        elif self.rollouts is not None:
            self._queue_all(self.rollouts.observed(object_key(new), new))
        if need is Need.FULL:
            self.queue.add(object_key(new))
        elif need is Need.STATUS and self.status_sync:
            # Our own write, or another client's, which the status sync restores. Without a
            # baseline (the last reconcile failed, or one is under way) this does not escalate:
            # the retry, or the reconcile, writes the status anyway.
            self.queue.add(object_key(new), full=False)

    def _forget(self, key: str) -> None:
        """Forgets what the loop keeps of a resource that is gone (from its informer)."""
        if self.rollouts is not None:
            self._queue_all(self.rollouts.forget(key))
        self._memos.pop(key, None)
        self.quota_waits.forget(key)
        self.awaiting_children.discard(key)
        self._child_changes.discard(key)  # a standby's held queue never takes it
        self._deletion_rerun_at.pop(key, None)
        self._stale.pop(key, None)
        self.warnings.clear(key)
        self.stalls.clear(key)
        if self.status_sync:
            self.status_sync.forget(key)

    def _on_child(self, event: str, old: Obj | None, new: Obj | None) -> None:
        # Old and new owners both: another client may have changed the owner label.
        owners = set().union(*(self.adapter.owners(o) for o in (old, new) if o))
        full = child_change(old, new, status_sync=self.status_sync is not None) is Need.FULL
        namespace = (new or old)["metadata"]["namespace"]
        for owner in owners:
            key = f"{namespace}/{owner}"
            if self._has_cr(key):
                if not full:
                    self._child_changes.add(key)
                self.queue.add(key, full=full)

    def _queue_all(self, keys: list[str]) -> None:
        for key in keys:
            self.queue.add(key)

    def _on_quota(self, event: str, old: Obj | None, new: Obj | None) -> None:
        if not may_make_room(event, old, new):
            return
        meta = (new or old)["metadata"]
        waiting = self.quota_waits.in_namespace(meta["namespace"])
        if waiting:
            log.info("retrying what a quota refused: ResourceQuota %s may make room now", meta["name"],
                     extra={"keys": waiting})  # fmt: skip
        for key in waiting:
            self.queue.add(key)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for informer in self.all_informers():
            informer.start()
        # One worker more than batch slots: a settled batch's run may still be ending (see _Slot).
        targets = [(self._resync_loop, "resync"), (self._watch_for_waiting_work, "waiting-work")] + [
            (self._worker, f"worker-{i}") for i in range(self.workers + 1)
        ]
        if self.status_sync:
            targets.append((self._status_worker, "status"))
        for target, name in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def healthy(self) -> bool:
        return all(i.alive() for i in self.all_informers()) and all(t.is_alive() for t in self._threads)

    def shutdown(self, timeout: float) -> None:
        """Stop taking work; let running batches finish for up to `timeout` seconds, then cancel them."""
        self.queue.shut_down()
        deadline = time.monotonic() + timeout
        for thread in self._threads:  # a join longer than TIMEOUT_MAX (about 292 years) overflows
            thread.join(min(max(deadline - time.monotonic(), 0), threading.TIMEOUT_MAX))
        if any(t.is_alive() for t in self._threads):
            log.warning("cancelling the running ansible batches after %.0f s", timeout)
            self.cancel_runs.set()
            for thread in self._threads:
                thread.join(10)
        self._api_calls.shutdown(wait=False)
        # Informer threads are daemons blocked in a watch read; closing their sockets from here would
        # wait on the TLS lock they hold, so they simply end with the process.

    def _take_up_work(self) -> bool:
        """Once this process leads, queues every cached resource: as a standby it passed over their
        events (its queue held), and now they are its work. False if it stopped before leading."""
        while not self.is_leader.wait(0.2):
            if self.stop.is_set():
                return False
        if self.queue.resume():  # after it, an event queues its key; before, the cache has it
            for cr in self.cached_crs():
                self.queue.add(object_key(cr))
        return True

    def _resync_loop(self) -> None:
        if not self._take_up_work():
            return
        period = self.watch.reconcile_period
        if period <= 0:  # `reconcilePeriod: 0s`, as under ansible-operator: no periodic resync
            self.stop.wait()  # alive until the stop all the same: healthy() counts every thread
            return
        while not self.stop.wait(min(period, threading.TIMEOUT_MAX)):
            for cr in self.cached_crs():
                if not self.stalls.holds(cr):
                    self.queue.add(object_key(cr))

    # --- workers --------------------------------------------------------------------------------

    def _may_work(self) -> bool:
        if self.is_leader.is_set() and self.synced():
            return True
        self.stop.wait(0.2)
        return False

    def _worker(self) -> None:
        while not self.stop.is_set():
            if self._may_work() and self._slots.acquire(timeout=1.0):
                slot = _Slot(self._slots)
                try:
                    self.reconcile_next_batch(timeout=1.0, settled=slot.release)
                finally:
                    slot.release()

    def _watch_for_waiting_work(self) -> None:
        """While runs go on, tells the runner whether keys are overdue (due past the batch window,
        which a free worker would not let pass, so every worker is busy): the runs then stop waiting
        for deletions. A replaced pod that takes its grace period to terminate would otherwise hold
        up every other Performer for as long as the role waits for it
        (performer_delete_wait_seconds); its own replacement comes with the run its deletion triggers."""
        told = False
        while not self.stop.is_set():
            going = self._runs_going.going.wait(1.0)
            waiting = going and self.queue.overdue(self.batch_window + OVERDUE_SECONDS)
            if waiting != told:
                try:
                    self.runner.work_waiting(waiting)
                    told = waiting
                except OSError as error:  # the runs keep waiting, as they would without this
                    log.warning("could not tell the runs whether work waits: %s", error)
            if going:
                self.stop.wait(WAITING_WORK_POLL_SECONDS)

    def reconcile_next_batch(self, timeout: float, settled: Callable[[], None] | None = None) -> list[str]:
        """Takes the next batch of keys due for a full reconcile (waiting up to `timeout` seconds)
        and reconciles it; the keys handled. `settled` is called once every key of the batch has been
        settled and handed back by its runs (see _Slot)."""
        keys = self.queue.get_batch(self.max_batch, timeout=timeout, window=self.batch_window)
        if not keys:
            return keys
        started = time.monotonic()
        released = _Released(keys, settled)  # keys its runs settled and handed back while they went on
        try:
            self._reconcile(keys, released)
        except Exception:
            log.exception("batch failed unexpectedly", extra={"keys": keys})
            for key in keys:
                self.queue.add_after_failure(key)
        finally:
            for key in keys:
                if key not in released:
                    self.queue.done(key)
            metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
        return keys

    def _status_worker(self) -> None:
        with ThreadPoolExecutor(CONCURRENT_API_CALLS, thread_name_prefix="status") as pool:
            while not self.stop.is_set():
                if not self._may_work():
                    continue
                keys = self.queue.get_batch(STATUS_BATCH, timeout=1.0, full=False)
                list(pool.map(self._sync_status, keys))

    def _sync_status(self, key: str) -> None:
        child_changed = key in self._child_changes
        self._child_changes.discard(key)
        try:
            cr = self._cr(key)[0]
            if cr is None:
                self.queue.forget(key)
                self._stale.pop(key, None)
                return
            # A child of a deleted resource went: the finalizer is released here, not by a run's worker.
            if key in self.awaiting_children and cr["metadata"].get("deletionTimestamp"):
                if self._still_to_delete([cr]):
                    self.queue.add(key)  # a child that is not being deleted: run again
                return
            namespace, name = cr["metadata"]["namespace"], cr["metadata"]["name"]
            pod, service = (self._child(kind, namespace, name) for kind in ("pod", "service"))
            outcome, updated = self.status_sync.sync(cr, pod, service)
            metrics.STATUS_SYNCS.labels(result=outcome.value).inc()
            if updated is not None:
                self._cache(updated, seen=cr)
            if outcome is Outcome.ESCALATE and child_changed:
                self.queue.add(key)
            if outcome is Outcome.STALE:
                self._stale_sync(key, child_changed)
            else:
                self._stale.pop(key, None)
            self._recheck(key, self.status_sync.recheck_after(key))
        except Exception as error:
            metrics.STATUS_SYNCS.labels(result="error").inc()
            delay = self.queue.add_after_failure(key)
            log.warning("status sync failed, reconciling in %.0f s: %s", delay, error, extra={"key": key})
        finally:
            self.queue.done(key)

    def _stale_sync(self, key: str, child_changed: bool) -> None:
        """A status sync refused for a stale copy: made again once the cache has the newer copy, which
        its event brings. When it keeps not coming (the watch stalled), a full reconcile writes the
        status instead, with back-off: polling would patch five times a second for as long."""
        stale = self._stale[key] = self._stale.get(key, 0) + 1
        if stale < STALE_RETRIES:
            if child_changed:
                self._child_changes.add(key)
            self.queue.add(key, STALE_RETRY_SECONDS, full=False)
            return
        delay = self.queue.add_after_failure(key, RETRY_MAX_SECONDS)
        if stale == STALE_RETRIES:
            log.warning("status sync refused %d times for a stale copy, the watch brings no newer one: "
                        "reconciling in %.0f s", stale, delay, extra={"key": key})  # fmt: skip

    # --- reconciling ----------------------------------------------------------------------------

    def _reconcile(self, keys: list[str], released: _Released) -> None:
        finalizer = self.watch.finalizer.name if self.watch.finalizer else None
        batch = sort_by_lifecycle(keys, lambda key: self._cr(key)[0], finalizer)
        for key in batch.gone:  # no longer awaited either: its DELETED event said so (`_on_cr`)
            self.queue.forget(key)
            # What a failure handled after that event kept of it (a lost answer to the patch that
            # deleted it): a Performer of the same name must not inherit it.
            self.awaiting_children.discard(key)
            self.warnings.clear(key)
        for cr in batch.orphaning:  # its `orphan` finalizer's removal is an event: it comes back then
            self._orphaned.add(cr["metadata"].get("uid"))
            self.queue.forget(object_key(cr))
            log.info("deleted with --cascade=orphan: its children stay, once the garbage collector has "
                     "taken its owner references off them", extra={"key": object_key(cr)})  # fmt: skip
        batch.deleting = self._still_to_delete(batch.deleting)
        finalized = self._concurrently(self._add_finalizer, batch.needs_finalizer)
        for cr, updated in zip(batch.needs_finalizer, finalized, strict=True):
            if not isinstance(updated, Failure):
                batch.present.append(updated)
                continue
            self.queue.add_after_failure(object_key(cr), retry_max(updated.message))
            if updated.status != 404:  # gone: nothing to say it on
                self.warnings.warn(cr, "FinalizerNotAdded", f"the finalizer could not be added: {updated}")
        if batch.present:
            self._run_batch(batch.present, PRESENT, released)
        if batch.deleting:
            self._run_batch(batch.deleting, ABSENT, released)

    def _still_to_delete(self, deleting: list[Obj]) -> list[Obj]:
        """Of the deleted resources, those that need a finalizer run. One whose earlier run deleted the
        children needs none: its finalizer is released once the informers see no child left, and
        while they are still terminating it only waits (their deletion events requeue it), unless
        that run asked to look again by then (a pod terminating past its deadline, whose node may
        have died: the run deletes it without its kubelet)."""
        to_run, released = [], []
        for cr in deleting:
            key = object_key(cr)
            if key not in self.awaiting_children:
                to_run.append(cr)
                continue
            left = [child for child in self._children_to_delete(cr).values() if child is not None]
            if not left:
                released.append(cr)
            elif self._deletion_rerun_due(key):  # a child may be stuck on a node that died
                self.awaiting_children.discard(key)
                to_run.append(cr)
            elif all(child["metadata"].get("deletionTimestamp") for child in left):
                self._recheck_children(key)
            else:  # a child that is not being deleted (created again meanwhile): run again
                self.awaiting_children.discard(key)
                to_run.append(cr)
        self._concurrently(self._remove_finalizer, released)
        return to_run

    def _deletion_rerun_due(self, key: str) -> bool:
        due = self._deletion_rerun_at.get(key)
        if due is None or self.queue.now() < due:
            return False
        del self._deletion_rerun_at[key]
        return True

    def _concurrently(self, call: Callable[[Obj], object], crs: list[Obj]) -> list[object]:
        """`call` for each of `crs`, one API call each: concurrently, or a batch of 100 would take
        seconds (and hold its worker meanwhile)."""
        if len(crs) <= 1:
            return [call(cr) for cr in crs]
        return list(self._api_calls.map(call, crs))

    def _item(self, cr: Obj, state: str) -> dict[str, Any]:
        children = self._children_to_delete(cr) if state == ABSENT else self._children_of(cr)
        memo = self._memos.get(object_key(cr))
        return {**operator_sdk_vars(self.watch, cr), **self.adapter.observed_vars(children, memo)}

    def _run_batch(self, crs: list[Obj], state: str, released: _Released) -> None:
        # A generator: the runner writes each item to the batch file as it is made, so that a batch's
        # items (its children's specs among them) never all exist at once.
        request = run_request(
            self.watch, state, (self._item(cr, state) for cr in crs),
            state_var=self.adapter.state_var, items_var=self.adapter.items_var,
        )  # fmt: skip
        if state == ABSENT and finalizer_is_the_roles_deletion(self.watch):
            request.extravars.update(self.adapter.absent_vars)
        granted = self.rollouts.grant() if self.rollouts is not None and state == PRESENT else None
        if granted is not None:
            request.extravars[ROLLOUT_SLOTS_VAR] = granted
        reconcile_id = uuid.uuid4().hex[:12]
        keys = [object_key(cr) for cr in crs]
        log.info("running ansible", extra={"reconcile_id": reconcile_id, "keys": keys, "state": state})
        # The run may go on after it handed every key back (the work queue is then idle): this gauge
        # says it still runs, until it is counted.
        try:
            with self._runs, self._runs_going, metrics.ANSIBLE_RUNS_IN_PROGRESS.track_inprogress():
                settle = self._settle_early(crs, state, reconcile_id, released)
                result = self.runner.run(
                    request.extravars, role=request.role, playbook=request.playbook, cancel=self.cancel_runs,
                    reconcile_id=reconcile_id, on_result=settle,
                )  # fmt: skip
                metrics.ANSIBLE_RUN_DURATION.observe(result.duration)
                metrics.BATCH_SIZE.observe(len(crs))
                metrics.MODULE_CALLS.inc(result.module_calls)
            if not result.ok:
                context = {"reconcile_id": reconcile_id, "keys": keys}
                log.error("ansible run failed: %s", result.failure, extra=context)
            for cr in crs:
                if object_key(cr) not in released:
                    self._settle(cr, result, state)
            if granted is not None and any(entry.get("rollout") for entry in result.per_cr.values()):
                log.info("%s", self.rollouts.progress(), extra={"reconcile_id": reconcile_id})
        finally:
            if granted is not None:  # what the run used is settled: the rest may let waiting keys go
                self._queue_all(self.rollouts.give_back(granted))

    def _settle_early(self, crs: list[Obj], state: str, reconcile_id: str, released: _Released) -> OnResult:
        """Settles each CR of a run as soon as the run reported it, and hands its key back to the queue
        (adding it to `released`) while the run goes on: what is left of the run does not touch it, and
        its pod turning Ready meanwhile (kept waiting as a status sync behind the run) is then written at
        once. A CR's outcome depends only on its own entry when it has one: the same as after the run."""
        by_key = {object_key(cr): cr for cr in crs}

        def settle(key: str, entry: dict[str, Any]) -> None:
            cr = by_key.get(key)
            if cr is None:
                return
            self._settle(cr, RunResult(ok=True, per_cr={key: entry}, reconcile_id=reconcile_id), state)
            self.queue.done(key)
            released.add(key)  # after `done`: the batch's last one may let the next batch start

        return settle

    def _settle(self, cr: Obj, result: RunResult, state: str) -> None:
        self._settle_run(cr, result, state)
        key = object_key(cr)
        if not self._has_cr(key):
            # Gone during its run (its finalizer removed by hand, its labels no longer selected): what
            # settling it noted (a rollout slot, a baseline) would be kept for good, since no event of
            # it comes any more.
            self._forget(key)

    def _settle_run(self, cr: Obj, result: RunResult, state: str) -> None:
        key = object_key(cr)
        context = {"reconcile_id": result.reconcile_id, "key": key}
        settled = outcome(key, result, state, roles_own_deletion=finalizer_is_the_roles_deletion(self.watch))
        self.quota_waits.settled(key, settled.reason if settled.verdict is Verdict.FAILED else None)
        if settled.verdict is not Verdict.SUCCEEDED:
            # The children changed during the run are mostly its own writes (a Service created before
            # the pod was refused): its retry's back-off covers them; escalating would retry at once.
            self._child_changes.discard(key)
        if self.status_sync:
            self.status_sync.record(cr, settled.baseline)
        if settled.verdict is Verdict.DELETE_CHILDREN and self._delete_children(cr, settled.reason, context):
            return
        entry = result.per_cr.get(key) or {}
        if self.rollouts is not None and state == PRESENT:
            self.rollouts.settled(key, entry.get("rollout"), bool(entry.get("ready")))
        if entry.get("memo") and state == PRESENT:
            self._memos[key] = entry["memo"]
        else:
            self._memos.pop(key, None)
        self._recheck(key, entry.get("recheck_after"))
        if state == ABSENT and entry.get("recheck_after") is not None:
            # Its pod terminates past its deadline: the run's plan looks at its node then.
            self._deletion_rerun_at[key] = self.queue.now() + entry["recheck_after"]
        for reason in entry.get("repairs") or []:
            metrics.REPAIRS.labels(reason=reason).inc()
        if settled.verdict is Verdict.STALLED:
            self.stalls.record(cr)
            self.queue.forget(key)
            metrics.RECONCILES.labels(result="error").inc()
            log.warning("reconcile stalled, not retried until the spec changes: %s", settled.reason,
                        extra=context)  # fmt: skip
            return
        self.stalls.clear(key)
        if settled.verdict is not Verdict.SUCCEEDED:
            delay = self.queue.add_after_failure(key, retry_max(settled.reason))
            metrics.RECONCILES.labels(result="error").inc()
            log.warning("reconcile failed, retrying in %.0f s: %s", delay, settled.reason, extra=context)
            if settled.verdict is not Verdict.FAILED:  # a reported error is in the status its run wrote
                self.warnings.warn(
                    cr, "ReconcileUnreported", f"the {state} run reported no result: {settled.reason}"
                )
            return
        metrics.RECONCILES.labels(result="success").inc()
        self.queue.forget(key)
        self._stale.pop(key, None)
        self.warnings.clear(key)
        if settled.release_finalizer:
            self._remove_finalizer(cr)
        elif state == ABSENT:
            if finalizer_is_the_roles_deletion(self.watch):
                self.awaiting_children.add(key)
            self._recheck_children(key)
        entry = result.per_cr[key]
        log.info("reconciled: phase %s, ready %s", entry.get("phase"), entry.get("ready"), extra=context)

    def _recheck_children(self, key: str) -> None:
        """After a finalizer run: look again in a while whether the children are gone (the safety net:
        their deletion events requeue it sooner). With a status worker, a resource awaiting its
        children is its work (`_sync_status`): releasing a finalizer does not wait for an ansible
        worker, the scarce one while many resources are deleted."""
        awaiting = key in self.awaiting_children and self.status_sync is not None
        self.queue.add(key, ABSENT_RETRY_SECONDS, full=not awaiting)

    def _recheck(self, key: str, delay: float | None) -> None:
        """Sync the status again after `delay` seconds (None: never), the time at which a Performer
        changes although nothing else does: its Unschedulable pod has been so long enough to stall,
        or its ended pod is old enough to be replaced (the sync escalates: a run replaces it). Without
        the status fast path, a run looks again."""
        if delay is None:
            return
        if self.status_sync:
            self._child_changes.add(key)  # escalates to a full reconcile when the sync cannot do it
            self.queue.add(key, delay, full=False)
        else:
            self.queue.add(key, delay)

    def _delete_children(self, cr: Obj, reason: str, context: dict[str, str]) -> bool:
        """After a finalizer run that reported nothing for `cr`: deletes its children directly and
        releases the finalizer once they are gone. False when the deletion failed."""
        meta = cr["metadata"]
        # By name, also what the informers do not hold (yet); not what they see another's, or none's.
        seen = self._children_of(cr)
        kinds = [] if meta.get("uid") in self._orphaned else [
            kind for kind, child in seen.items() if child is None or names_owner(child, meta.get("uid"))
        ]  # fmt: skip
        try:
            remaining = self.adapter.delete_children(self.core, meta["namespace"], meta["name"], kinds)
        except Exception as error:  # an API error or a transport one: this resource's failure only
            log.warning("deleting the children directly failed: %s", describe(error), extra=context)
            return False
        key = object_key(cr)
        metrics.RECONCILES.labels(result="error").inc()
        if remaining:  # their deletion events requeue it; this is the safety net
            message = (
                f"the finalizer run reported no result ({reason}); deleted the "
                f"{' and '.join(remaining)} directly, waiting until gone"
            )
            log.warning("%s", message, extra=context)
            self.warnings.warn(cr, "FinalizerPending", message)
            self.queue.add(key, ABSENT_RETRY_SECONDS)
            return True
        log.warning("the finalizer run reported no result (%s); the children are gone", reason, extra=context)
        self.queue.forget(key)
        self.warnings.clear(key)
        self._remove_finalizer(cr)
        return True

    # --- finalizer ------------------------------------------------------------------------------

    def _add_finalizer(self, cr: Obj) -> Obj | Failure:
        updated = self.finalizers.add(cr)
        if not isinstance(updated, Failure):
            self._cache(updated)
        return updated

    def _remove_finalizer(self, cr: Obj) -> None:
        """Removes the finalizer of a deleted resource whose children are gone."""
        key = object_key(cr)
        updated = self.finalizers.remove(cr)
        if isinstance(updated, Failure):
            # Gone (a 404, or a patch the API server applied without its answer reaching us, whose
            # DELETED event came first): its deletion event forgets it, and nothing may be kept of it.
            if updated.status == 404 or not self._has_cr(key):
                return
            # The children are gone: its retry patches the finalizer again, without another run (as
            # one awaiting its children), and backs off, since a refusal (a policy, a stricter schema)
            # may last.
            self.awaiting_children.add(key)
            self.queue.add_after_failure(key, retry_max(updated.message))
            self.warnings.warn(cr, "FinalizerNotRemoved", f"the finalizer could not be removed: {updated}")
            return
        self._cache(updated)  # so that events already queued for it do not start another run
        self.awaiting_children.discard(key)
        self._deletion_rerun_at.pop(key, None)
        self.queue.forget(key)
        self.warnings.clear(key)
        log.info("finalizer removed", extra={"key": key})
