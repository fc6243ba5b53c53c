"""What the loop queues for the events of a Performer and its children: the Performer named by a
child's old and new owner label and by its controller owner reference; a full reconcile when
another client edited a child's spec; a status sync, which never escalates, when nothing but the
Performer's status changed."""

from __future__ import annotations

import copy
import threading

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_status as status_rules

from hourglass_operator.controller import Controller
from hourglass_operator.performer_adapter import PerformerAdapter
from hourglass_operator.status_sync import Outcome, StatusSync
from hourglass_operator.watches import Watch
from tests.support.fake_rest import FakeRest
from tests.support.paths import REPO
from tests.unit.test_controller import seed

pytestmark = pytest.mark.unit

GROUP = "hourglass.eigenlayer.io"


class Rules:
    """Status sync outcomes chosen by the test."""

    def __init__(self) -> None:
        self.outcome = Outcome.ESCALATE

    def sync(self, cr, pod, service):
        return self.outcome, None

    def forget(self, key):
        pass


def performer(name: str, **status) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1", "kind": "Performer",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1",
                     "generation": 1},
        "spec": {}, "status": status,
    }  # fmt: skip


def pod(owner_label: str | None, owner_ref: str | None = None, image: str = "img:1", node: str = "") -> dict:
    meta = {"name": "performer-a", "namespace": "ns", "resourceVersion": "5", "labels": {}}
    if owner_label:
        meta["labels"]["hourglass.eigenlayer.io/performer"] = owner_label
    if owner_ref:
        meta["ownerReferences"] = [{"apiVersion": f"{GROUP}/v1alpha1", "kind": "Performer", "name": owner_ref,
                                    "uid": f"uid-{owner_ref}", "controller": True}]  # fmt: skip
    return {"kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "performer", "image": image}]}}  # fmt: skip


def make_controller(stop: threading.Event, leading: threading.Event) -> Controller:
    """A controller of a process that leads once `leading` is set."""
    watch = Watch(group=GROUP, version="v1alpha1", kind="Performer", role=REPO / "roles" / "performer",
                  plural="performers")  # fmt: skip
    return Controller(
        None, watch, None, PerformerAdapter("Performer", GROUP), namespaces=["ns"], max_batch=10, workers=1,
        stop=stop, is_leader=leading, status_sync=Rules(),
    )  # fmt: skip


@pytest.fixture
def controller() -> Controller:
    leading = threading.Event()
    leading.set()
    c = make_controller(threading.Event(), leading)
    for name in ("a", "b"):
        seed(c.crs[0], performer(name))
    return c


def queued(controller: Controller) -> dict[str, bool]:
    """Queued keys and whether each needs a full reconcile (taken off the queue and done)."""
    full = controller.queue.get_batch(10, timeout=0)
    status = controller.queue.get_batch(10, timeout=0, full=False)
    for key in full + status:
        controller.queue.done(key)
    return {**{k: True for k in full}, **{k: False for k in status}}


def test_the_old_and_new_owner_label_and_the_owner_reference_are_all_queued(controller):
    controller._on_child("MODIFIED", pod("a"), pod("someone-else"))
    assert queued(controller) == {"ns/a": False}  # the old label's Performer; "someone-else" does not exist
    controller._on_child("MODIFIED", pod("a", owner_ref="b"), pod(None, owner_ref="b"))
    assert queued(controller) == {"ns/a": False, "ns/b": False}


def test_another_clients_edit_of_a_pod_spec_needs_a_full_reconcile_binding_does_not(controller):
    controller._on_child("MODIFIED", pod("a"), pod("a", node="kwok-a"))
    assert queued(controller) == {"ns/a": False}
    controller._on_child("MODIFIED", pod("a", node="kwok-a"), pod("a", node="kwok-a", image="evil:1"))
    assert queued(controller) == {"ns/a": True}


def test_a_status_only_change_queues_a_status_sync_that_never_escalates(controller):
    old, new = performer("a", phase="Running"), performer("a", phase="Failed")
    controller._on_cr("MODIFIED", old, new)
    assert queued(controller) == {"ns/a": False}
    controller._sync_status("ns/a")  # outcome ESCALATE (no baseline): not a reason to run ansible
    assert queued(controller) == {}
    controller._on_child("MODIFIED", pod("a"), pod("a", node="n"))
    queued(controller)
    controller._sync_status("ns/a")  # a child changed: escalates
    assert queued(controller) == {"ns/a": True}


# --- the status sync restoring a status another client wrote ---------------------------------------


LABELS = {"app": "hourglass-performer", "hourglass.eigenlayer.io/performer": "a"}


def ready_pod() -> dict:
    spec_hash = {"hourglass.eigenlayer.io/spec-hash": "h1"}
    return {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns", "labels": LABELS,
                                        "annotations": spec_hash},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip


def test_a_status_written_by_another_client_is_restored_exactly():
    patches, events = [], []

    def answer(method: str, path: str, content_type: str, body: dict) -> tuple[int, dict]:
        if path == f"/apis/{GROUP}/v1alpha1/namespaces/ns/performers/a/status":
            assert (method, content_type) == ("PATCH", "application/merge-patch+json")
            patches.append(body)
        else:
            assert (method, path) == ("POST", "/api/v1/namespaces/ns/events")
            events.append(body)
        return 200, {}

    sync = StatusSync(FakeRest(answer), group=GROUP, version="v1alpha1", plural="performers")
    service = {"kind": "Service", "metadata": {"name": "performer-a", "resourceVersion": "42"}}
    cr = performer("a")
    sync.record(cr, {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                     "cluster_domain": "cluster.local"})  # fmt: skip
    ours = status_rules.compute_status(cr, ready_pod(), now="2026-01-01T00:00:00Z")
    cr["status"] = ours
    assert sync.sync(cr, ready_pod(), service) == (Outcome.UNCHANGED, None)

    forged = copy.deepcopy(cr)
    forged["status"] = {**ours, "ready": False, "phase": "Failed", "readyTime": "2000-01-01T00:00:00Z",
                        "observedGeneration": 0, "extra": "x"}  # fmt: skip
    outcome, _ = sync.sync(forged, ready_pod(), service)
    assert outcome is Outcome.RESTORED
    assert patches == [{"status": {**ours, "extra": None}, "metadata": {"resourceVersion": "1"}}]
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "StatusRestored")]
    assert "phase, ready, readyTime" in events[0]["message"]


def test_a_standby_queues_nothing_and_once_it_leads_queues_every_cached_performer():
    """Its informers keep their caches warm while another process leads; its queue (and the queue
    metrics) stay empty. Once it leads, every Performer it passed over is queued."""
    leading = threading.Event()
    standby = make_controller(threading.Event(), leading)
    for name in ("a", "b"):
        seed(standby.crs[0], performer(name))
        standby._on_cr("ADDED", None, performer(name))
    standby._on_child("MODIFIED", pod("a"), pod("a", node="n2"))
    assert standby.queue.depth() == 0
    taking_up = threading.Thread(target=standby._take_up_work)
    taking_up.start()
    leading.set()
    taking_up.join(5)
    assert not taking_up.is_alive()
    assert queued(standby) == {"ns/a": True, "ns/b": True}
    changed = performer("a")
    changed["metadata"]["generation"] = 2
    standby._on_cr("MODIFIED", performer("a"), changed)
    assert queued(standby) == {"ns/a": True}  # its events count from now on


def test_a_standby_stopped_before_it_leads_takes_up_nothing():
    stop = threading.Event()
    standby = make_controller(stop, threading.Event())
    seed(standby.crs[0], performer("a"))
    stop.set()
    assert standby._take_up_work() is False and standby.queue.depth() == 0


def test_a_standby_keeps_nothing_of_a_performer_once_it_is_deleted():
    """A standby's held queue takes none of the status syncs its child events ask for, so nothing
    but the Performer's deletion can clear what it noted for them: it keeps no key of a Performer
    that no longer exists, however many come and go while another process leads."""
    standby = make_controller(threading.Event(), threading.Event())
    informer = standby.crs[0]
    for name in ("a", "b"):
        informer._dispatch({"type": "ADDED", "object": performer(name)}, "1")
        standby._on_child("MODIFIED", pod(name), pod(name, node="n2"))
    informer._dispatch({"type": "DELETED", "object": performer("a")}, "2")
    assert standby._child_changes == {"ns/b"}


# --- the status fast path and changes the cache has not seen yet ------------------------------------


class PerformerServer:
    """One Performer as the API server keeps it: every write bumps its resourceVersion, and a status
    merge patch that names a resourceVersion other than the current one is refused (409)."""

    def __init__(self, cr: dict) -> None:
        self.cr = copy.deepcopy(cr)
        self.rest = FakeRest(self.answer)

    def edit(self, **meta: object) -> dict:
        """Another client's write; the event the watch will deliver."""
        self.cr["metadata"].update(meta, resourceVersion=str(int(self.cr["metadata"]["resourceVersion"]) + 1))
        return copy.deepcopy(self.cr)

    def answer(self, method: str, path: str, content_type: str, body: dict) -> tuple[int, dict]:
        if path.endswith("/events"):
            return 201, body
        assert (method, path) == ("PATCH", f"/apis/{GROUP}/v1alpha1/namespaces/ns/performers/a/status")
        precondition = (body.get("metadata") or {}).get("resourceVersion")
        if precondition not in (None, self.cr["metadata"]["resourceVersion"]):
            return 409, {"kind": "Status", "reason": "Conflict", "message": "the object has been modified"}
        status = self.cr.setdefault("status", {})
        for field, value in body["status"].items():
            status.pop(field) if value is None else status.__setitem__(field, value)
        return 200, self.edit()


def fast_path_controller(server: PerformerServer) -> Controller:
    """A leading controller whose cache and status fast path know Performer a as `server` has it,
    with a baseline from its last run and a pod that is not ready yet."""
    leading = threading.Event()
    leading.set()
    watch = Watch(group=GROUP, version="v1alpha1", kind="Performer", role=REPO / "roles" / "performer",
                  plural="performers")  # fmt: skip
    sync = StatusSync(server.rest, group=GROUP, version="v1alpha1", plural="performers")
    controller = Controller(
        None, watch, None, PerformerAdapter("Performer", GROUP), namespaces=["ns"], max_batch=10, workers=1,
        stop=threading.Event(), is_leader=leading, status_sync=sync, client=server.rest,
    )  # fmt: skip
    seed(controller.crs[0], server.cr)
    seed(controller.children["service"][0], {**live_service(), "metadata": {
        **live_service()["metadata"], "namespace": "ns", "labels": LABELS}})  # fmt: skip
    seed(controller.children["pod"][0], not_ready_pod())
    sync.record(server.cr, {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                            "cluster_domain": "cluster.local"})  # fmt: skip
    return controller


def live_service() -> dict:
    return {"kind": "Service", "metadata": {"name": "performer-a", "resourceVersion": "42"}}


def not_ready_pod() -> dict:
    unready = ready_pod()
    unready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    unready["metadata"]["resourceVersion"] = "1"
    return unready


def pod_turns_ready(controller: Controller) -> None:
    """The pod's readiness event, and the status sync it queues."""
    before = controller.children["pod"][0].get("ns/performer-a")
    now = {**ready_pod(), "metadata": {**ready_pod()["metadata"], "resourceVersion": "2"}}
    seed(controller.children["pod"][0], now)
    controller._on_child("MODIFIED", before, now)
    for key in controller.queue.get_batch(10, timeout=0, full=False):
        controller._sync_status(key)


@pytest.mark.parametrize(
    "edit",
    [{"generation": 2}, {"deletionTimestamp": "2026-01-01T00:05:00Z"}],
    ids=["spec-edited", "deleted"],
)
def test_a_change_the_cache_has_not_seen_when_the_fast_path_writes_is_reconciled(edit: dict):
    """Another client edits the spec (or deletes the Performer) while its pod turns ready; the fast
    path writes the status from the cache's older copy. Its write is refused for that copy, so the
    edit's own event is taken for what it is: a full reconcile (written over the newer copy, the
    answer carried the edit into the cache, and its event looked like a status change)."""
    cr = performer("a")
    cr["metadata"]["resourceVersion"] = "100"
    cr["status"] = status_rules.compute_status(cr, not_ready_pod(), now="2026-01-01T00:00:00Z")
    server = PerformerServer(cr)
    controller = fast_path_controller(server)
    edited = server.edit(**edit)
    pod_turns_ready(controller)
    assert controller.crs[0].get("ns/a")["metadata"]["resourceVersion"] == "100"  # no unseen edit cached
    controller.crs[0]._dispatch({"type": "MODIFIED", "object": edited}, "101")
    assert controller.queue.get_batch(10, timeout=0) == ["ns/a"]


def test_an_answer_that_carries_another_clients_change_is_not_cached():
    controller = make_controller(threading.Event(), threading.Event())
    seed(controller.crs[0], performer("a"))
    answer = performer("a", phase="Running")
    answer["metadata"].update(generation=2, resourceVersion="2")
    controller._cache(answer)
    assert controller.crs[0].get("ns/a")["metadata"]["generation"] == 1
    ours = performer("a", phase="Running")
    ours["metadata"]["resourceVersion"] = "3"
    controller._cache(ours)
    assert controller.crs[0].get("ns/a")["status"] == {"phase": "Running"}
