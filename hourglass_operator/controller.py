"""The reconcile loop for one watched kind: informers feed the work queue, workers drain batches
of due keys and run Ansible once per batch, and the finalizer is added before children exist and
removed once a finalizer run confirmed they are gone.

What enqueues a custom resource for a full reconcile: it appears; its generation, labels,
annotations or deletion timestamp change; another client edits the spec or owner references of
one of its Pods or Services; the periodic resync; a failure (with per-key
exponential back-off). Any other change of one of its children (found by their owner label
`hourglass.eigenlayer.io/performer`, old and new, and their controller owner reference), status
included, queues a status-only sync, which a separate worker handles without ansible when the
Performer still matches what its last full reconcile established (`status_sync`), and escalates
to a full reconcile otherwise. So does a change of nothing but the custom resource's status: the
status sync restores a status another client wrote.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name

from hourglass_operator import metrics
from hourglass_operator.informer import Informer, Obj, object_key
from hourglass_operator.runner import AnsibleBatchRunner, RunResult, snake_case_keys
from hourglass_operator.status_sync import Outcome, StatusSync
from hourglass_operator.unreported import Warnings, delete_children
from hourglass_operator.watches import Watch
from hourglass_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)

OWNER_LABEL = "hourglass.eigenlayer.io/performer"
CHILD_SELECTOR = "app=hourglass-performer"
CHILD_PATHS = {"pod": "/api/v1/{ns}pods", "service": "/api/v1/{ns}services"}
ABSENT_RETRY_SECONDS = 5.0
CONCURRENT_API_CALLS = 16  # finalizer patches of a batch, status syncs
STATUS_BATCH = 256
FINALIZER_ATTEMPTS = 3


def _ns_path(namespace: str) -> str:
    return f"namespaces/{namespace}/" if namespace else ""


def _observed_view(obj: Obj | None) -> Obj | None:
    """What a reconcile needs of a child: identity, labels, annotations (the spec hash), deletion,
    its spec (the role compares the fields that matter with what it renders: another client may
    have changed them), and for a Pod its phase and conditions. The rest of a pod's status stays
    out: it changes all the time and nothing reads it."""
    if obj is None:
        return None
    meta = obj["metadata"]
    view: Obj = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in (
            "name", "namespace", "uid", "resourceVersion", "labels", "annotations", "deletionTimestamp",
            "ownerReferences") if k in meta},
        "spec": obj.get("spec") or {},
    }  # fmt: skip
    if obj.get("kind") == "Pod":
        status = obj.get("status") or {}
        view["status"] = {k: status[k] for k in ("phase", "reason", "message") if k in status}
        view["status"]["conditions"] = [
            {k: c[k] for k in ("type", "status", "reason", "message") if k in c}
            for c in status.get("conditions") or []
        ]
    return view


def _owned_by(obj: Obj, kind: str, group: str) -> set[str]:
    """The names of the custom resources an object's owner label and controller reference name."""
    meta = obj["metadata"]
    owners = {(meta.get("labels") or {}).get(OWNER_LABEL)}
    for ref in meta.get("ownerReferences") or []:
        ref_group = ref.get("apiVersion", "").split("/")[0]
        if ref.get("controller") and ref.get("kind") == kind and ref_group == group:
            owners.add(ref.get("name"))
    return {owner for owner in owners if owner}


def _child_changed(old: Obj | None, new: Obj | None) -> bool:
    """Whether another client edited a child's spec or owner references (the scheduler binding a
    pod to a node does not count). Creation, deletion and label changes are left to the status
    sync, which reports a lost pod at once and escalates when our labels changed."""
    if old is None or new is None:
        return False

    def shape(obj: Obj) -> tuple:
        spec = dict(obj.get("spec") or {})
        spec.pop("nodeName", None)
        return obj["metadata"].get("ownerReferences"), spec

    return shape(old) != shape(new)


def _interesting_change(old: Obj | None, new: Obj | None) -> bool:
    """Changes of a custom resource that need a reconcile (status-only writes do not)."""
    if old is None or new is None:
        return True
    before, after = old["metadata"], new["metadata"]
    return any(
        before.get(field) != after.get(field)
        for field in ("generation", "labels", "annotations", "deletionTimestamp", "uid")
    )


class Controller:
    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        watch: Watch,
        runner: AnsibleBatchRunner,
        *,
        namespaces: list[str],
        max_batch: int,
        workers: int,
        batch_window: float = 0.0,
        stop: threading.Event,
        is_leader: threading.Event,
        status_sync: StatusSync | None = None,
    ) -> None:
        self.api = api
        self.status_sync = status_sync
        self.watch = watch
        self.runner = runner
        self.max_batch = max_batch
        self.batch_window = batch_window
        self.workers = workers
        self.stop = stop
        self.is_leader = is_leader
        self.cancel_runs = threading.Event()
        self.queue = WorkQueue()
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.warnings = Warnings(self.core)
        self.crs: list[Informer] = []
        self.children: dict[str, list[Informer]] = {"pod": [], "service": []}
        group_path = f"/apis/{watch.group}/{watch.version}/"
        for namespace in namespaces or [""]:
            self.crs.append(Informer(
                api, group_path + _ns_path(namespace) + watch.plural, self._on_cr,
                label_selector=watch.label_selector, name=f"{watch.kind} {namespace or '*'}", stop=stop,
            ))  # fmt: skip
            if watch.watch_dependent_resources:
                for kind, path in CHILD_PATHS.items():
                    self.children[kind].append(Informer(
                        api, path.format(ns=_ns_path(namespace)), self._on_child,
                        label_selector=CHILD_SELECTOR, name=f"{kind} {namespace or '*'}", stop=stop,
                    ))  # fmt: skip
        self._threads: list[threading.Thread] = []
        self._child_changes: set[str] = set()  # keys queued for a status sync by a change of a child
        metrics.register_performer_collector(self.cached_crs)
        metrics.QUEUE_DEPTH.set_function(self.queue.depth)
        metrics.QUEUE_IN_PROGRESS.set_function(self.queue.processing)

    # --- cache access ---------------------------------------------------------------------------

    def all_informers(self) -> list[Informer]:
        return self.crs + [i for group in self.children.values() for i in group]

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

    def _child(self, kind: str, namespace: str, cr_name: str) -> Obj | None:
        key = f"{namespace}/{child_name(cr_name)}"
        for informer in self.children[kind]:
            obj = informer.get(key)
            if obj is not None:
                return obj
        return None

    # --- event handlers -------------------------------------------------------------------------

    def _on_cr(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        if kind == "DELETED":
            self.warnings.clear(object_key(old))
            if self.status_sync:
                self.status_sync.forget(object_key(old))
        elif _interesting_change(old, new):
            self.queue.add(object_key(new))
        elif self.status_sync and (old or {}).get("status") != new.get("status"):
            # Its status changed and nothing else: our own write, or another client's, which the
            # status sync restores. Without a baseline (the last reconcile failed, or one is under
            # way) this does not escalate: the retry, or the reconcile, writes the status anyway.
            self.queue.add(object_key(new), full=False)

    def _on_child(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        # Old and new owners both: another client may have changed the owner label.
        owners = set().union(*(_owned_by(o, self.watch.kind, self.watch.group) for o in (old, new) if o))
        full = self.status_sync is None or _child_changed(old, new)
        namespace = (new or old)["metadata"]["namespace"]
        for owner in owners:
            key = f"{namespace}/{owner}"
            if self._cr(key)[0] is not None:
                if not full:
                    self._child_changes.add(key)
                self.queue.add(key, full=full)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for informer in self.all_informers():
            informer.start()
        targets = [(self._resync_loop, "resync")] + [
            (self._worker, f"worker-{i}") for i in range(self.workers)
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
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        if any(t.is_alive() for t in self._threads):
            log.warning("cancelling the running ansible batches after %.0f s", timeout)
            self.cancel_runs.set()
            for thread in self._threads:
                thread.join(10)
        # Informer threads are daemons blocked in a watch read; closing their sockets from here would
        # wait on the TLS lock they hold, so they simply end with the process.

    def _resync_loop(self) -> None:
        while not self.stop.wait(self.watch.reconcile_period):
            for cr in self.cached_crs():
                self.queue.add(object_key(cr))

    # --- reconciling ----------------------------------------------------------------------------

    def _may_work(self) -> bool:
        if self.is_leader.is_set() and self.synced():
            return True
        self.stop.wait(0.2)
        return False

    def _worker(self) -> None:
        while not self.stop.is_set():
            if not self._may_work():
                continue
            keys = self.queue.get_batch(self.max_batch, timeout=1.0, window=self.batch_window)
            if not keys:
                continue
            started = time.monotonic()
            try:
                self._reconcile(keys)
            except Exception:
                log.exception("batch failed unexpectedly", extra={"keys": keys})
                for key in keys:
                    self.queue.add_after_failure(key)
            finally:
                for key in keys:
                    self.queue.done(key)
                metrics.RECONCILE_DURATION.observe(time.monotonic() - started)

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
            cr, informer = self._cr(key)
            if cr is None:
                self.queue.forget(key)
                return
            namespace, name = cr["metadata"]["namespace"], cr["metadata"]["name"]
            pod, service = (self._child(kind, namespace, name) for kind in ("pod", "service"))
            outcome, updated = self.status_sync.sync(cr, pod, service)
            metrics.STATUS_SYNCS.labels(result=outcome.value).inc()
            if updated is not None and informer is not None:
                informer.update(updated)
            if outcome is Outcome.ESCALATE and child_changed:
                self.queue.add(key)
        except Exception as error:
            metrics.STATUS_SYNCS.labels(result="error").inc()
            delay = self.queue.add_after_failure(key)
            log.warning("status sync failed, reconciling in %.0f s: %s", delay, error, extra={"key": key})
        finally:
            self.queue.done(key)

    def _item(self, cr: Obj) -> dict[str, Any]:
        meta, spec = cr["metadata"], cr.get("spec") or {}
        item = {
            **(snake_case_keys(spec) if self.watch.snake_case_parameters else spec),
            "ansible_operator_meta": {"name": meta["name"], "namespace": meta["namespace"]},
            self.watch.cr_var: cr,
            "_hourglass_observed": {
                kind: _observed_view(self._child(kind, meta["namespace"], meta["name"]))
                for kind in self.children
            },
        }
        return item

    def _reconcile(self, keys: list[str]) -> None:
        present, absent, unfinalized = [], [], []
        for key in keys:
            cr, informer = self._cr(key)
            if cr is None:
                self.queue.forget(key)
                continue
            if cr["metadata"].get("deletionTimestamp"):
                if self._has_finalizer(cr):
                    absent.append(cr)
                continue
            if self.watch.finalizer and not self._has_finalizer(cr):
                unfinalized.append((cr, informer))
            else:
                present.append(cr)
        if unfinalized:  # one API call each: concurrently, a batch of new Performers would wait on them
            with ThreadPoolExecutor(CONCURRENT_API_CALLS) as pool:
                finalized = pool.map(lambda pair: self._add_finalizer(*pair), unfinalized)
                for (cr, _), updated in zip(unfinalized, finalized, strict=True):
                    if updated is None:
                        self.queue.add_after_failure(object_key(cr))
                    else:
                        present.append(updated)
        if present:
            self._run_batch(present, "present")
        if absent:
            self._run_batch(absent, "absent")

    def _run_batch(self, crs: list[Obj], state: str) -> None:
        finalizer = self.watch.finalizer
        role, playbook = self.watch.role, self.watch.playbook
        extra: dict[str, Any] = dict(self.watch.vars)
        if state == "absent" and finalizer:
            if finalizer.role or finalizer.playbook:
                role, playbook = finalizer.role, finalizer.playbook
            extra.update(finalizer.vars)
        extra.setdefault("performer_state", state)
        extra["performers"] = [self._item(cr) for cr in crs]
        reconcile_id = uuid.uuid4().hex[:12]
        keys = [object_key(cr) for cr in crs]
        log.info("running ansible", extra={"reconcile_id": reconcile_id, "keys": keys, "state": state})
        result = self.runner.run(
            extra, role=role, playbook=playbook, cancel=self.cancel_runs, reconcile_id=reconcile_id
        )
        metrics.ANSIBLE_RUN_DURATION.observe(result.duration)
        metrics.BATCH_SIZE.observe(len(crs))
        metrics.MODULE_CALLS.inc(result.module_calls)
        if not result.ok:
            log.error(
                "ansible run failed: %s", result.failure, extra={"reconcile_id": reconcile_id, "keys": keys}
            )
        for cr in crs:
            self._settle(cr, result, state)

    def _settle(self, cr: Obj, result: RunResult, state: str) -> None:
        key = object_key(cr)
        entry = result.per_cr.get(key)
        context = {"reconcile_id": result.reconcile_id, "key": key}
        if self.status_sync:
            self.status_sync.record(cr, (entry or {}).get("baseline") if state == "present" else None)
        if state == "absent" and entry is not None and entry.get("children_gone"):
            entry = {**entry, "error": None}  # the finalizer's job is done, whatever else failed
        if entry is None and state == "absent" and self._finalize_unreported(cr, result, context):
            return
        if entry is None or entry.get("error"):
            reason = (entry or {}).get("error") or result.failure or "no result for this resource"
            delay = self.queue.add_after_failure(key)
            metrics.RECONCILES.labels(result="error").inc()
            log.warning("reconcile failed, retrying in %.0f s: %s", delay, reason, extra=context)
            if entry is None:  # an entry's error is in the status its run wrote; this one is nowhere
                self.warnings.warn(cr, "ReconcileUnreported", f"the {state} run reported no result: {reason}")
            return
        metrics.RECONCILES.labels(result="success").inc()
        self.queue.forget(key)
        self.warnings.clear(key)
        if state == "absent":
            if entry.get("children_gone"):
                self._remove_finalizer(cr)
            else:  # the children's deletion events requeue it; this is the safety net
                self.queue.add(key, ABSENT_RETRY_SECONDS)
        log.info("reconciled: phase %s, ready %s", entry.get("phase"), entry.get("ready"), extra=context)

    def _finalize_unreported(self, cr: Obj, result: RunResult, context: dict[str, str]) -> bool:
        """A finalizer run that reported nothing for `cr` must not strand its finalizer: when the
        finalizer is the role's own deletion (nothing but the Pod and Service), delete them directly
        and release the finalizer once they are gone. True when it took care of `cr`."""
        finalizer = self.watch.finalizer
        if (finalizer.role, finalizer.playbook) not in ((None, None), (self.watch.role, self.watch.playbook)):
            return False  # a finalizer of its own may do more than delete the children
        meta = cr["metadata"]
        try:
            remaining = delete_children(self.core, meta["namespace"], meta["name"])
        except kubernetes.client.ApiException as error:
            log.warning("deleting the children directly failed: %s", error.reason, extra=context)
            return False
        key, reason = object_key(cr), result.failure or "no result for this resource"
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

    def _has_finalizer(self, cr: Obj) -> bool:
        return bool(self.watch.finalizer) and self.watch.finalizer.name in (
            cr["metadata"].get("finalizers") or []
        )

    def _patch_finalizers(self, cr: Obj, change: Callable[[list[str]], list[str]]) -> Obj | None:
        """Sets the finalizers to `change(current finalizers)`, guarded by the resourceVersion; on a
        conflict (the status was written meanwhile, say) it reads the object again and retries."""
        meta = cr["metadata"]
        args = (self.watch.group, self.watch.version, meta["namespace"], self.watch.plural, meta["name"])
        for _ in range(FINALIZER_ATTEMPTS):
            finalizers = change(list(cr["metadata"].get("finalizers") or []))
            body = {
                "metadata": {"finalizers": finalizers, "resourceVersion": cr["metadata"]["resourceVersion"]}
            }
            try:
                return self.custom.patch_namespaced_custom_object(*args, body)
            except kubernetes.client.ApiException as error:
                if error.status == 409:
                    try:
                        cr = self.custom.get_namespaced_custom_object(*args)
                        continue
                    except kubernetes.client.ApiException as read_error:
                        error = read_error
                if error.status != 404:
                    log.warning("finalizer update failed: %s", error.reason, extra={"key": object_key(cr)})
                return None
        return None

    def _add_finalizer(self, cr: Obj, informer: Informer | None) -> Obj | None:
        name = self.watch.finalizer.name
        updated = self._patch_finalizers(cr, lambda current: current if name in current else [*current, name])
        if updated is not None and informer is not None:
            informer.update(updated)
        return updated

    def _remove_finalizer(self, cr: Obj) -> None:
        name = self.watch.finalizer.name
        updated = self._patch_finalizers(cr, lambda current: [f for f in current if f != name])
        if updated is None:
            self.queue.add(object_key(cr), 1.0)
            return
        informer = self._cr(object_key(cr))[1]
        if informer is not None:  # so that events already queued for it do not start another run
            informer.update(updated)
        log.info("finalizer removed", extra={"key": object_key(cr)})
