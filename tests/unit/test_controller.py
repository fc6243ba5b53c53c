"""The controller with a fake runner and a fake API: informer events in, batches, runs, finalizer
changes, retries and Warning Events out. The work queue runs on a fake clock, so that a retry's
delay is checked without waiting for it."""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path

import kubernetes
import pytest
from prometheus_client import REGISTRY

from hourglass_operator import informer as informer_module
from hourglass_operator.controller import ABSENT_RETRY_SECONDS, Controller
from hourglass_operator.informer import Informer, object_key
from hourglass_operator.performer_adapter import PerformerAdapter
from hourglass_operator.rollouts import ROLLOUT_SLOTS_VAR, Limit
from hourglass_operator.runs import RunResult
from hourglass_operator.status_sync import Outcome
from hourglass_operator.watches import Finalizer, Watch
from hourglass_operator.workqueue import WorkQueue
from tests.support.fake_rest import FakeRest
from tests.support.waiting import wait_for

GROUP, VERSION = "hourglass.eigenlayer.io", "v1alpha1"
FINALIZER = f"{GROUP}/performer-finalizer"
ROLE = Path("/content/roles/performer")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeRunner:
    """Answers each run with `results(extravars)`; records the runs."""

    def __init__(self) -> None:
        self.runs: list[dict] = []
        self.results = lambda extravars: RunResult(ok=True, per_cr={
            f"{item['ansible_operator_meta']['namespace']}/{item['ansible_operator_meta']['name']}":
                {"phase": "Running", "ready": True, "children_gone": extravars["performer_state"] == "absent"}
            for item in extravars["performers"]
        })  # fmt: skip

    def run(self, extravars, *, role, playbook, cancel, reconcile_id=None, on_result=None) -> RunResult:
        extravars = {**extravars, "performers": list(extravars["performers"])}  # may be a generator
        self.runs.append({"extravars": extravars, "role": role, "playbook": playbook})
        result = self.results(extravars)
        result.reconcile_id = reconcile_id
        return result

    def work_waiting(self, waiting: bool) -> None:
        pass


def api_error(status: int) -> kubernetes.client.ApiException:
    return kubernetes.client.ApiException(status=status, reason=f"status {status}")


class FakeApi:
    """The custom objects and core API calls the controller makes: finalizer patches, Events, the
    direct deletion of children."""

    def __init__(self) -> None:
        self.stored: dict[str, dict] = {}  # "ns/name" -> custom resource
        self.patches: list[tuple[str, list[str]]] = []
        self.patch_errors: list[int] = []  # statuses the next patches fail with
        self.events: list[dict] = []
        self.children: set[tuple[str, str]] = set()  # (kind, name) present
        self.lingering: set[str] = set()  # kinds that stay after their deletion (a grace period)
        self.deleted: list[tuple[str, str]] = []
        self.reads = 0  # custom resources read

        self.client = FakeRest(self._answer)  # the finalizer patches' client

    def _answer(self, method: str, path: str, content_type: str, body: list | None) -> tuple[int, dict]:
        prefix = f"/apis/{GROUP}/{VERSION}/namespaces/"
        assert path.startswith(prefix) and method in ("PATCH", "GET"), (method, path)
        namespace, plural, name = path.removeprefix(prefix).split("/")
        assert plural == "performers"
        key = f"{namespace}/{name}"
        if method == "GET":
            self.reads += 1
            return 200, copy.deepcopy(self.stored[key])
        assert content_type == "application/json-patch+json"
        return self._patch_finalizers(key, body)

    def _patch_finalizers(self, key: str, body: list) -> tuple[int, dict]:
        """A JSON patch of the metadata's finalizers, guarded by `test` operations (422 when one fails)."""
        if self.patch_errors:
            return self.patch_errors.pop(0), {"message": "refused"}
        stored = self.stored[key]
        updated = copy.deepcopy(stored)
        for op in body:
            field = op["path"].removeprefix("/metadata/")
            if op["op"] == "test" and stored["metadata"].get(field) != op["value"]:
                return 422, {"message": "the test failed"}
            if op["op"] in ("add", "replace"):
                updated["metadata"][field] = op["value"]
        self.patches.append((key, updated["metadata"]["finalizers"]))
        updated["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        self.stored[key] = updated
        return 200, updated

    def create_namespaced_event(self, namespace, body) -> None:
        self.events.append(body)

    def _delete(self, kind: str, name: str) -> None:
        if (kind, name) not in self.children:
            raise api_error(404)
        self.deleted.append((kind, name))
        if kind not in self.lingering:
            self.children.discard((kind, name))

    def _read(self, kind: str, name: str) -> None:
        if (kind, name) not in self.children:
            raise api_error(404)

    def delete_namespaced_pod(self, name, namespace, **_) -> None:
        self._delete("Pod", name)

    def delete_namespaced_service(self, name, namespace, **_) -> None:
        self._delete("Service", name)

    def read_namespaced_pod(self, name, namespace, **_) -> None:
        self._read("Pod", name)

    def read_namespaced_service(self, name, namespace, **_) -> None:
        self._read("Service", name)


class Baselines:
    """The status sync, as far as the full reconcile path uses it."""

    def __init__(self) -> None:
        self.recorded: dict[str, object] = {}

    def record(self, cr, reported) -> None:
        self.recorded[f"{cr['metadata']['namespace']}/{cr['metadata']['name']}"] = reported

    def forget(self, key) -> None:
        self.recorded.pop(key, None)

    def sync(self, cr, pod, service) -> tuple[Outcome, None]:
        """Without a baseline (its last reconcile failed) a status sync escalates, as StatusSync does."""
        key = f"{cr['metadata']['namespace']}/{cr['metadata']['name']}"
        return (Outcome.ESCALATE if self.recorded.get(key) is None else Outcome.UNCHANGED), None

    def recheck_after(self, key) -> None:
        return None


def performer(
    name: str, *, finalizers: tuple[str, ...] = (FINALIZER,), deleting: bool = False, **spec
) -> dict:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1", "generation": 1,
            "finalizers": list(finalizers)}  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Performer", "metadata": meta, "spec": spec}


def owner(name: str, uid: str | None = None) -> list[dict]:
    """The owner references of a child of Performer `name` (of `performer(name)`'s uid by default)."""
    return [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "Performer", "name": name,
             "uid": uid or f"uid-{name}", "controller": True}]  # fmt: skip


def watch(**finalizer_options) -> Watch:
    return Watch(
        group=GROUP, version=VERSION, kind="Performer", role=ROLE, plural="performers",
        finalizer=Finalizer(FINALIZER, vars={"performer_state": "absent"}, **finalizer_options),
    )  # fmt: skip


def seed(informer: Informer, obj: dict) -> None:
    """Puts `obj` into the informer's cache as its watch would (`update` only records writes of
    objects the cache holds)."""
    with informer._lock:
        informer._cache[object_key(obj)] = informer_module._freeze(informer_module._slim(obj))


class World:
    def __init__(self, w: Watch, **options) -> None:
        self.clock, self.runner, self.api, self.baselines = Clock(), FakeRunner(), FakeApi(), Baselines()
        self.controller = Controller(
            None, w, self.runner, PerformerAdapter("Performer", GROUP), namespaces=["ns"], max_batch=10,
            workers=1, stop=threading.Event(), is_leader=threading.Event(), status_sync=self.baselines,
            client=self.api.client, core=self.api, **options,
        )  # fmt: skip
        self.controller.queue = WorkQueue(clock=self.clock)

    def add(self, cr: dict) -> None:
        """The informer sees `cr` (a new one, or a change of one it had)."""
        key = f"{cr['metadata']['namespace']}/{cr['metadata']['name']}"
        old = self.controller.crs[0].get(key)
        self.api.stored[key] = copy.deepcopy(cr)
        seed(self.controller.crs[0], cr)
        self.controller._on_cr("MODIFIED" if old else "ADDED", old, cr)

    def child(self, kind: str, obj: dict) -> None:
        seed(self.controller.children[kind][0], obj)

    def reconcile(self) -> list[str]:
        return sorted(self.controller.reconcile_next_batch(timeout=0))

    def sync_statuses(self) -> list[str]:
        """What the status worker does with the keys due for a status sync; the keys."""
        keys = self.controller.queue.get_batch(10, timeout=0, full=False)
        for key in keys:
            self.controller._sync_status(key)
        return sorted(keys)

    def due_in(self, key: str, *, full: bool = True) -> float | None:
        """When `key` is due for a full reconcile, or with `full=False` for a status sync only (None:
        not queued for it)."""
        queued = self.controller.queue.queued(key)
        return None if queued is None or queued[1] != full else queued[0] - self.clock.now


@pytest.fixture
def world() -> World:
    return World(watch())


def test_a_batch_item_is_made_only_when_the_runner_takes_it(world):
    """The runner writes the batch file item by item: an item (with its children's specs) is made as
    it is written, so a batch's items never all exist at once in the operator."""
    for name in "abc":
        world.add(performer(name))
    made = []
    make_item = world.controller._item
    world.controller._item = lambda cr, state: made.append(cr["metadata"]["name"]) or make_item(cr, state)
    made_before_each: list[int] = []

    def run(extravars, *, role, playbook, cancel, reconcile_id=None, on_result=None):
        names = []
        for item in extravars["performers"]:
            made_before_each.append(len(made))
            names.append(item["ansible_operator_meta"]["name"])
        return RunResult(ok=True, per_cr={f"ns/{n}": {"phase": "Running", "ready": True} for n in names},
                         reconcile_id=reconcile_id)  # fmt: skip

    world.runner.run = run
    assert world.reconcile() == ["ns/a", "ns/b", "ns/c"]
    assert sorted(made) == ["a", "b", "c"] and made_before_each == [1, 2, 3]


def test_new_performers_get_the_finalizer_then_one_run_for_the_batch(world):
    world.add(performer("a", finalizers=(), image="img:1"))
    world.add(performer("b"))
    pod_meta = {"name": "performer-b", "namespace": "ns", "annotations": {"x": "1"}}
    world.child("pod", {"kind": "Pod", "metadata": pod_meta, "spec": {"nodeName": "n1"},
                        "status": {"phase": "Running", "podIP": "10.0.0.1"}})  # fmt: skip
    assert world.reconcile() == ["ns/a", "ns/b"]
    assert world.api.patches == [("ns/a", [FINALIZER])]  # only the one without it
    [run] = world.runner.runs
    assert (run["role"], run["playbook"]) == (ROLE, None)
    extravars = run["extravars"]
    assert extravars["performer_state"] == "present"
    assert [i["ansible_operator_meta"]["name"] for i in extravars["performers"]] == ["b", "a"]
    b, a = extravars["performers"]
    assert a["image"] == "img:1"  # spec keys verbatim
    assert a["_hourglass_eigenlayer_io_performer"]["metadata"]["finalizers"] == [FINALIZER]  # as patched
    assert a["_hourglass_observed"] == {"pod": None, "service": None}
    assert b["_hourglass_observed"]["pod"] == {
        "apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": "n1"},
        "metadata": {"name": "performer-b", "namespace": "ns", "annotations": {"x": "1"}},
        "status": {"phase": "Running", "conditions": []},  # no podIP: only what the role reads
    }  # fmt: skip
    assert world.controller.crs[0].get("ns/a")["metadata"]["resourceVersion"] == "2"  # the cache knows
    assert world.controller.queue.depth() == 0 and world.api.events == []


def test_a_successful_run_records_the_baseline_and_resets_the_back_off(world):
    world.add(performer("a"))
    world.controller.queue.add_after_failure("ns/a")  # an earlier failure
    world.clock.now += 1
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"baseline": {"spec_hash": "h"}}})
    assert world.reconcile() == ["ns/a"]
    assert world.baselines.recorded == {"ns/a": {"spec_hash": "h"}}
    assert world.controller.queue.failures("ns/a") == 0
    assert world.due_in("ns/a") is None


def test_the_repairs_a_run_reports_are_counted_by_reason(world):
    def repairs(reason: str) -> float | None:
        return REGISTRY.get_sample_value("hourglass_repairs_total", {"reason": reason})

    before = repairs("PodReplaced"), repairs("ServiceDrifted")
    assert None not in before  # exposed from 0: Prometheus' increase() then counts the first repair
    world.add(performer("a"))
    world.add(performer("b"))
    reported = {"ns/a": {"repairs": ["PodReplaced"]}, "ns/b": {"repairs": ["PodReplaced", "ServiceDrifted"]}}
    world.runner.results = lambda _: RunResult(ok=True, per_cr=reported)
    world.reconcile()
    assert (repairs("PodReplaced"), repairs("ServiceDrifted")) == (before[0] + 2, before[1] + 1)


def test_an_error_the_run_reported_is_retried_with_back_off_and_no_event(world):
    world.add(performer("a"))
    world.runner.results = lambda _: RunResult(
        ok=False, per_cr={"ns/a": {"error": "image pull"}}, failure="x"
    )
    world.reconcile()
    assert world.due_in("ns/a") == 1.0
    world.clock.now += 1
    world.reconcile()
    assert world.due_in("ns/a") == 2.0  # doubling
    assert world.api.events == []  # the run wrote the error into the status
    assert world.baselines.recorded == {"ns/a": None}  # no baseline: the status sync escalates


@pytest.mark.parametrize(
    ("error", "most"),
    [('Internal error occurred: failed calling webhook "policy.example.org": failed to call webhook: Post '
      '"https://policy.svc:443/validate?timeout=10s": dial tcp 10.96.0.12:443: connection refused', 30.0),
     ('admission webhook "policy.example.org" denied the request: privileged pods are not allowed', 300.0)],
)  # fmt: skip
def test_a_webhook_that_could_not_be_called_is_retried_within_30_s_one_that_refused_on_the_usual_back_off(
    world, error, most
):
    world.add(performer("a"))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"error": error}})
    delays = []
    for _ in range(10):
        world.reconcile()
        delays.append(world.due_in("ns/a"))
        world.clock.now += delays[-1]
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0] and max(delays) == most


def test_the_failed_status_its_run_wrote_does_not_cut_its_back_off_short(world):
    """The run writes the Failed status; that status event, seen while the run goes on, asks for a
    status sync, which must not bring the retry forward to now."""
    world.add(performer("a"))

    def failed_and_status_written(_):
        old = world.controller.crs[0].get("ns/a")
        world.add(
            {**old, "metadata": {**old["metadata"], "resourceVersion": "2"}, "status": {"phase": "Failed"}}
        )
        return RunResult(ok=False, per_cr={"ns/a": {"error": "exceeded quota"}}, failure="x")

    world.runner.results = failed_and_status_written
    assert world.reconcile() == ["ns/a"]
    assert world.due_in("ns/a", full=False) == 0.0  # the status sync, at once
    assert world.sync_statuses() == ["ns/a"]  # no baseline: nothing to patch, nothing escalated
    assert world.due_in("ns/a") == 1.0  # and the retry after its back-off
    assert world.reconcile() == []


def test_the_children_a_failed_run_wrote_do_not_cut_its_back_off_short(world):
    """The run creates the Service, then the pod is refused: the Service's event, seen during the
    run, asks for a status sync, which escalates only for a child changed since the run."""
    world.add(performer("a"))
    service = {
        "metadata": {
            "name": "performer-a",
            "namespace": "ns",
            "resourceVersion": "5",
            "labels": {"hourglass.eigenlayer.io/performer": "a"},
            "ownerReferences": owner("a"),
        }
    }

    def service_created_then_pod_refused(_):
        world.child("service", service)
        world.controller._on_child("ADDED", None, service)
        return RunResult(ok=False, per_cr={"ns/a": {"error": "exceeded quota"}}, failure="x")

    world.runner.results = service_created_then_pod_refused
    assert world.reconcile() == ["ns/a"]
    assert world.sync_statuses() == ["ns/a"]
    assert world.due_in("ns/a") == 1.0
    # A child changed after the run still escalates at once (its pod deleted, say).
    changed = {**service, "metadata": {**service["metadata"], "resourceVersion": "6"}}
    world.child("service", changed)
    world.controller._on_child("MODIFIED", service, changed)
    assert world.sync_statuses() == ["ns/a"]
    assert world.due_in("ns/a") == 0.0


def test_a_resource_the_run_reported_nothing_for_is_retried_and_warned_about_once_per_reason(world):
    world.add(performer("a"))
    world.add(performer("b"))
    world.runner.results = lambda _: RunResult(
        ok=False, per_cr={"ns/b": {"phase": "Running"}}, failure="t: boom"
    )
    world.reconcile()
    assert world.due_in("ns/a") == 1.0 and world.due_in("ns/b") is None
    world.clock.now += 1
    world.reconcile()  # fails the same way: no second Event
    assert [(e["involvedObject"]["name"], e["reason"], e["message"]) for e in world.api.events] == [
        ("a", "ReconcileUnreported", "the present run reported no result: t: boom")
    ]
    world.runner.results = FakeRunner().results
    world.clock.now += 2
    world.reconcile()
    world.runner.results = lambda _: RunResult(ok=False, failure="t: boom")
    world.controller.queue.add("ns/a")
    world.reconcile()  # after a success, the same failure is news again
    assert len(world.api.events) == 2


def test_a_run_that_raises_backs_off_every_key_of_the_batch(world):
    world.add(performer("a"))
    world.add(performer("b"))

    def broken(_):
        raise RuntimeError("disk full")

    world.runner.results = broken
    assert world.reconcile() == ["ns/a", "ns/b"]
    assert (world.due_in("ns/a"), world.due_in("ns/b")) == (1.0, 1.0)
    assert world.controller.queue.processing() == 0


def test_a_finalizer_that_cannot_be_added_backs_off_and_the_resource_is_not_run(world):
    world.add(performer("a", finalizers=()))
    world.add(performer("b"))
    world.api.patch_errors = [500]
    world.reconcile()
    assert [i["ansible_operator_meta"]["name"] for i in world.runner.runs[0]["extravars"]["performers"]] == [
        "b"
    ]
    assert world.due_in("ns/a") == 1.0


def test_a_conflicting_finalizer_patch_reads_the_resource_again_and_retries(world):
    world.add(performer("a", finalizers=()))
    world.api.stored["ns/a"]["metadata"]["resourceVersion"] = "7"  # the status was written meanwhile
    world.reconcile()
    assert world.api.patches == [("ns/a", [FINALIZER])]
    assert len(world.runner.runs) == 1


def test_a_deleted_performer_runs_absent_and_loses_the_finalizer_once_its_children_are_gone(world):
    world.add(performer("a", deleting=True))
    world.reconcile()
    [run] = world.runner.runs
    assert run["extravars"]["performer_state"] == "absent" and run["role"] == ROLE
    assert world.api.patches == [("ns/a", [])]


def test_the_status_the_finalizer_run_wrote_does_not_make_the_finalizer_removal_conflict(world):
    world.add(performer("a", deleting=True))

    def status_written(_):  # the run patches the status: the resourceVersion the loop holds is stale
        world.api.stored["ns/a"]["metadata"]["resourceVersion"] = "9"
        return RunResult(ok=True, per_cr={"ns/a": {"children_gone": True}})

    world.runner.results = status_written
    world.reconcile()
    assert world.api.patches == [("ns/a", [])] and world.api.reads == 0


def test_a_finalizer_another_client_changed_meanwhile_is_read_again_and_kept(world):
    world.add(performer("a", deleting=True))

    def other_finalizer_added(_):
        world.api.stored["ns/a"]["metadata"]["finalizers"] = [FINALIZER, "someone.else/finalizer"]
        return RunResult(ok=True, per_cr={"ns/a": {"children_gone": True}})

    world.runner.results = other_finalizer_added
    world.reconcile()
    assert world.api.patches == [("ns/a", ["someone.else/finalizer"])] and world.api.reads == 1


def test_children_not_yet_gone_keep_the_finalizer_and_requeue(world):
    world.add(performer("a", deleting=True))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()
    assert world.api.patches == []
    assert world.due_in("ns/a", full=False) == ABSENT_RETRY_SECONDS  # looked at by the status worker


def test_the_loop_waits_for_deleted_children_on_its_informers_not_with_another_run(world):
    world.add(performer("a", deleting=True))
    terminating = {"name": "performer-a", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z",
                   "ownerReferences": owner("a")}  # fmt: skip
    world.child("pod", {"kind": "Pod", "metadata": terminating})
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()
    [run] = world.runner.runs
    assert run["extravars"]["performer_wait_for_deleted_children"] is False  # the role does not poll
    assert world.api.patches == [] and world.due_in("ns/a", full=False) == ABSENT_RETRY_SECONDS

    world.clock.now += ABSENT_RETRY_SECONDS  # still terminating: nothing to run, only waiting
    assert world.reconcile() == [] and world.sync_statuses() == ["ns/a"]
    assert len(world.runner.runs) == 1 and world.api.patches == []
    assert world.due_in("ns/a", full=False) == ABSENT_RETRY_SECONDS

    del world.controller.children["pod"][0]._cache["ns/performer-a"]  # the informer saw it go
    world.controller.queue.add("ns/a")  # a full reconcile (another change) comes to the same end
    world.reconcile()
    assert len(world.runner.runs) == 1 and world.api.patches == [("ns/a", [])]
    assert world.controller.awaiting_children == set()


def test_the_finalizers_of_a_batch_whose_children_went_are_released_concurrently(world):
    """One API call each, all at once: one after the other, 100 took 2.5 s and held the worker."""
    names = ["a", "b", "c"]
    for name in names:
        world.add(performer(name, deleting=True))
    world.runner.results = lambda extravars: RunResult(ok=True, per_cr={
        f"ns/{item['ansible_operator_meta']['name']}": {"children_gone": False}
        for item in extravars["performers"]
    })  # fmt: skip
    world.reconcile()
    assert world.controller.awaiting_children == {"ns/a", "ns/b", "ns/c"}

    together = threading.Barrier(len(names), timeout=30)  # every patch waits until all are under way
    patch = world.api._patch_finalizers

    def patch_when_all_are_patching(*args):
        together.wait()
        return patch(*args)

    world.api._patch_finalizers = patch_when_all_are_patching
    for name in names:
        world.controller.queue.add(f"ns/{name}")  # their children's deletion events
    world.reconcile()
    assert sorted(world.api.patches) == [("ns/a", []), ("ns/b", []), ("ns/c", [])]
    assert len(world.runner.runs) == 1 and world.controller.awaiting_children == set()


def test_the_status_worker_releases_the_finalizer_when_the_last_child_goes_without_a_run(world):
    """The ansible workers are the scarce ones: a finalizer to release does not wait for one."""
    world.add(performer("a", deleting=True))
    pod = {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns", "deletionTimestamp": "x",
                                       "labels": {"hourglass.eigenlayer.io/performer": "a"},
                                       "ownerReferences": owner("a")}}  # fmt: skip
    world.child("pod", pod)
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()
    assert world.controller.awaiting_children == {"ns/a"} and world.api.patches == []

    del world.controller.children["pod"][0]._cache["ns/performer-a"]
    world.controller._on_child("DELETED", pod, None)  # the informer saw it go
    assert world.reconcile() == [] and world.sync_statuses() == ["ns/a"]
    assert world.api.patches == [("ns/a", [])] and world.controller.awaiting_children == set()
    assert len(world.runner.runs) == 1 and world.reconcile() == []


def test_a_resource_created_again_under_the_name_of_one_awaiting_its_children_keeps_its_finalizer(world):
    """Its predecessor's finalizer was forced off: the new one is not the deleted one."""
    world.add(performer("a", deleting=True))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()
    assert world.controller.awaiting_children == {"ns/a"}
    world.controller._on_cr("DELETED", world.controller.crs[0].get("ns/a"), None)
    assert world.controller.awaiting_children == set()

    world.controller.awaiting_children.add("ns/a")  # had the deletion event been missed
    world.add({**performer("a"), "metadata": {**performer("a")["metadata"], "uid": "uid-new"}})
    world.controller.status_sync.sync = lambda cr, pod, service: (Outcome.UNCHANGED, None)
    world.controller.status_sync.recheck_after = lambda key: None
    world.controller._sync_status("ns/a")
    assert world.api.patches == []


def test_a_child_created_again_after_the_finalizer_run_gets_another_run(world):
    world.add(performer("a", deleting=True))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()
    world.child("pod", {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns",
                                                    "ownerReferences": owner("a")}})  # fmt: skip
    world.clock.now += ABSENT_RETRY_SECONDS
    assert world.sync_statuses() == ["ns/a"]  # the check finds a child that is not being deleted
    world.reconcile()
    assert len(world.runner.runs) == 2 and world.api.patches == []


def test_children_gone_release_the_finalizer_whatever_else_failed(world):
    world.add(performer("a", deleting=True))
    world.runner.results = lambda _: RunResult(
        ok=False, per_cr={"ns/a": {"children_gone": True, "error": "x"}}
    )
    world.reconcile()
    assert world.api.patches == [("ns/a", [])]
    assert world.due_in("ns/a") is None


def test_an_unreported_finalizer_run_deletes_the_children_directly(world):
    world.add(performer("a", deleting=True))
    world.api.children = {("Pod", "performer-a"), ("Service", "performer-a")}
    world.api.lingering = {"Pod"}  # terminating, with a grace period
    world.runner.results = lambda _: RunResult(ok=False, failure="t: cancelled")
    world.reconcile()
    assert world.api.deleted == [("Pod", "performer-a"), ("Service", "performer-a")]
    assert world.api.patches == []
    assert world.due_in("ns/a") == ABSENT_RETRY_SECONDS
    assert [(e["reason"], e["message"]) for e in world.api.events] == [
        ("FinalizerPending", "the finalizer run reported no result (t: cancelled); deleted the Pod directly, "
                             "waiting until gone")
    ]  # fmt: skip
    world.api.lingering = set()
    world.clock.now += ABSENT_RETRY_SECONDS
    world.reconcile()
    assert world.api.patches == [("ns/a", [])]
    assert world.due_in("ns/a") is None


def test_a_deletion_that_orphans_the_children_waits_for_the_garbage_collector_then_keeps_them(world):
    """kubectl delete --cascade=orphan: nothing runs while the `orphan` finalizer is on; its removal
    (once the garbage collector took the owner references off the children) is the event that brings
    the Performer back, and its run is given no child to delete, even where the child informers do
    not show the references gone yet."""
    meta = {"name": "performer-a", "namespace": "ns", "ownerReferences": owner("a")}
    world.child("pod", {"kind": "Pod", "metadata": meta})
    world.add(performer("a", finalizers=(FINALIZER, "orphan"), deleting=True))
    world.reconcile()
    assert world.runner.runs == [] and world.api.patches == [] and world.due_in("ns/a") is None

    world.add(performer("a", deleting=True))  # the garbage collector removed its finalizer
    assert world.due_in("ns/a") == 0
    world.reconcile()
    [run] = world.runner.runs
    [item] = run["extravars"]["performers"]
    assert item["_hourglass_observed"] == {"pod": None, "service": None}
    assert world.api.patches == [("ns/a", [])]


def test_an_unreported_run_of_a_deletion_that_orphans_the_children_deletes_none(world):
    world.add(performer("a", finalizers=(FINALIZER, "orphan"), deleting=True))
    world.reconcile()
    world.add(performer("a", deleting=True))
    world.api.children = {("Pod", "performer-a"), ("Service", "performer-a")}
    world.runner.results = lambda _: RunResult(ok=False, failure="t: cancelled")
    world.reconcile()
    assert world.api.deleted == [] and world.api.patches == [("ns/a", [])]


def test_a_child_a_deleted_performer_does_not_own_is_neither_deleted_nor_waited_for(world):
    """Its owner reference names another uid (or none): not this Performer's to delete. One the
    informers do not hold is deleted by name when the run reported nothing, as before."""
    world.add(performer("a", deleting=True))
    pod = {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns",
                                       "ownerReferences": owner("a", uid="uid-other")}}  # fmt: skip
    world.child("pod", pod)
    world.api.children = {("Pod", "performer-a"), ("Service", "performer-a")}
    world.runner.results = lambda _: RunResult(ok=False, failure="t: cancelled")
    world.reconcile()
    [run] = world.runner.runs
    assert run["extravars"]["performers"][0]["_hourglass_observed"] == {"pod": None, "service": None}
    assert world.api.deleted == [("Service", "performer-a")] and world.api.patches == [("ns/a", [])]


def test_the_memo_a_run_leaves_is_given_to_the_next_run_of_its_resource_until_a_run_leaves_none(world):
    memo = {"service_admitted": {"resourceVersion": "42", "drift": ["spec.sessionAffinity"]}}
    leaves = [memo, None]
    world.runner.results = lambda extravars: RunResult(ok=True, per_cr={"ns/a": {
        "phase": "Running", "ready": True, **({"memo": leaves[0]} if leaves[0] else {})}})  # fmt: skip
    world.add(performer("a"))
    world.reconcile()
    for given, left in ((memo, None), (None, None)):
        leaves[0] = left
        world.controller.queue.add("ns/a")
        world.reconcile()
        observed = world.runner.runs[-1]["extravars"]["performers"][0]["_hourglass_observed"]
        assert observed.get("memo") == given
    assert world.controller._memos == {}

    leaves[0] = memo
    world.controller.queue.add("ns/a")
    world.reconcile()
    world.controller._on_cr("DELETED", world.controller.crs[0].get("ns/a"), None)
    assert world.controller._memos == {}


def test_an_unreported_run_of_a_finalizer_role_of_its_own_is_only_retried():
    world = World(watch(role=Path("/content/roles/cleanup")))
    world.add(performer("a", deleting=True))
    world.api.children = {("Pod", "performer-a")}
    world.runner.results = lambda _: RunResult(ok=False, failure="t: boom")
    world.reconcile()
    assert world.runner.runs[0]["role"] == Path("/content/roles/cleanup")
    assert world.api.deleted == [] and world.api.patches == []
    assert world.due_in("ns/a") == 1.0
    assert [e["reason"] for e in world.api.events] == ["ReconcileUnreported"]


def test_a_finalizer_that_cannot_be_removed_is_retried_soon(world):
    world.add(performer("a", deleting=True))
    world.api.patch_errors = [500]
    world.reconcile()
    assert world.due_in("ns/a") == 1.0


def test_deleted_resources_and_ones_deleting_without_our_finalizer_run_nothing(world):
    world.add(performer("a", finalizers=("someone.else/finalizer",), deleting=True))
    world.controller.queue.add("ns/gone")
    world.controller.queue.add_after_failure("ns/gone")
    world.clock.now += 1
    assert world.reconcile() == ["ns/a", "ns/gone"]
    assert world.runner.runs == [] and world.api.patches == []
    assert world.controller.queue.failures("ns/gone") == 0


def test_child_status_changes_and_status_writes_never_start_a_run(world):
    world.add(performer("a"))
    world.reconcile()
    pod = {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns", "resourceVersion": "1",
                                       "labels": {"hourglass.eigenlayer.io/performer": "a"}},
           "spec": {}, "status": {"phase": "Pending"}}  # fmt: skip
    ready = {**pod, "status": {"phase": "Running"}}
    world.controller._on_child("MODIFIED", pod, ready)
    world.add({**performer("a"), "status": {"phase": "Running"}})
    assert world.reconcile() == []
    assert world.controller.queue.get_batch(10, timeout=0, full=False) == ["ns/a"]
    assert len(world.runner.runs) == 1


def test_without_a_status_sync_every_child_change_is_a_full_reconcile():
    world = World(watch())
    world.controller.status_sync = None
    world.add(performer("a"))
    world.reconcile()
    pod = {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns",
                                       "labels": {"hourglass.eigenlayer.io/performer": "a"}}}  # fmt: skip
    world.controller._on_child("MODIFIED", pod, {**pod, "status": {"phase": "Running"}})
    assert world.reconcile() == ["ns/a"]


def test_a_stalled_resource_is_not_retried_until_its_spec_changes(world):
    world.add(performer("a"))
    world.runner.results = lambda _: RunResult(
        ok=True, per_cr={"ns/a": {"error": "spec.hardwareRequirements.gpuType: unknown", "stalled": True}}
    )
    assert world.reconcile() == ["ns/a"]
    assert world.due_in("ns/a") is None and world.controller.queue.failures("ns/a") == 0
    assert world.controller.stalls.holds(world.controller.crs[0].get("ns/a"))
    world.clock.now += 600
    assert world.reconcile() == []  # no back-off retry
    changed = performer("a")
    changed["metadata"]["generation"] = 2
    world.add(changed)  # a new generation: reconciled again
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"phase": "Pending"}})
    assert world.reconcile() == ["ns/a"]
    assert not world.controller.stalls.holds(changed)


def test_an_unschedulable_pod_is_synced_again_when_it_would_stall(world):
    world.add(performer("a"))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"recheck_after": 30.0}})
    world.reconcile()
    assert world.due_in("ns/a", full=False) == 30.0
    assert "ns/a" in world.controller._child_changes  # escalates when the sync has no baseline


def test_without_the_status_fast_path_a_run_looks_again_when_its_result_asks(world):
    # An ended pod too young to replace, or an Unschedulable one about to stall: nothing else changes
    # then, so without a status sync to escalate, a run must be queued for that moment.
    world.controller.status_sync = None
    world.add(performer("a"))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"recheck_after": 9.0}})
    world.reconcile()
    assert world.due_in("ns/a") == 9.0


def test_a_resource_its_run_reported_is_settled_and_handed_back_while_the_run_goes_on(world):
    world.add(performer("a"))
    world.add(performer("b"))
    during_the_run = {}

    def run(extravars, *, role, playbook, cancel, reconcile_id=None, on_result=None):
        on_result("ns/a", {"phase": "Running", "ready": False, "baseline": {"a": 1}})
        world.controller.queue.add("ns/a", full=False)  # its pod turned Ready: a status sync
        during_the_run["status syncs"] = world.controller.queue.get_batch(10, timeout=0, full=False)
        during_the_run["baseline"] = world.baselines.recorded.get("ns/a")
        entries = {"ns/a": {"phase": "Running", "ready": False}, "ns/b": {"phase": "Running", "ready": True}}
        return RunResult(ok=True, per_cr=entries, reconcile_id=reconcile_id)

    world.runner.run = run
    assert world.reconcile() == ["ns/a", "ns/b"]
    assert during_the_run == {"status syncs": ["ns/a"], "baseline": {"a": 1}}
    assert "ns/b" in world.baselines.recorded  # settled after the run
    # a was handed back once: the status sync it was handed out for is still its to finish
    assert world.controller.queue.processing() == 1 and "ns/a" in world.controller.queue._processing


def test_a_run_that_handed_back_all_its_keys_still_counts_as_in_progress_until_it_ends(world):
    world.add(performer("a"))
    seen = {}

    def runs_in_progress() -> float | None:
        return REGISTRY.get_sample_value("hourglass_ansible_runs_in_progress")

    def run(extravars, *, role, playbook, cancel, reconcile_id=None, on_result=None):
        entry = {"phase": "Running", "ready": True}
        on_result("ns/a", entry)
        seen["processing"] = world.controller.queue.processing()
        seen["runs in progress"] = runs_in_progress()
        return RunResult(ok=True, per_cr={"ns/a": entry}, reconcile_id=reconcile_id)

    world.runner.run = run
    before = runs_in_progress()
    assert world.reconcile() == ["ns/a"]
    assert seen == {"processing": 0, "runs in progress": before + 1}
    assert runs_in_progress() == before


class BlockingRuns:
    """A runner whose run of `held` (reporting it at once, or not) goes on until `finish` is set; the
    other runs end at once. `started` has an Event per key, set when a run of it started."""

    def __init__(self, held: str, *, reports_early: bool = True) -> None:
        self.held, self.reports_early = held, reports_early
        self.started = {key: threading.Event() for key in ("ns/a", "ns/b")}
        self.finish = threading.Event()
        self.while_held_ran: list[str] = []  # the keys of runs that started while the held one went on
        self.told: list[tuple[bool, bool]] = []  # work_waiting calls: (waiting, while the held run went on)
        self.told_waiting = threading.Event()

    def run(self, extravars, *, role, playbook, cancel, reconcile_id=None, on_result=None) -> RunResult:
        keys = [f"ns/{item['ansible_operator_meta']['name']}" for item in extravars["performers"]]
        entries = {key: {"phase": "Running", "ready": True} for key in keys}
        if self.held not in keys and not self.finish.is_set():
            self.while_held_ran.extend(keys)
        for key in keys:
            self.started[key].set()
        if self.held in keys:
            if self.reports_early:
                for key in keys:
                    on_result(key, entries[key])
            assert self.finish.wait(10), "the held run was never let go"
        return RunResult(ok=True, per_cr=entries, reconcile_id=reconcile_id)

    def work_waiting(self, waiting: bool) -> None:
        self.told.append((waiting, self.started[self.held].is_set() and not self.finish.is_set()))
        if waiting:
            self.told_waiting.set()


def start(world: World) -> None:
    """The controller's threads, as `Controller.start` starts them, on informers that count as synced."""
    for informer in world.controller.all_informers():
        informer.start = lambda: None
        informer._synced.set()
    world.controller.is_leader.set()
    world.controller.start()


def stop(world: World) -> None:
    world.controller.stop.set()
    world.controller.shutdown(10)
    assert not any(thread.is_alive() for thread in world.controller._threads)


def test_the_next_batch_adds_its_finalizers_while_a_settled_batch_s_run_ends_and_runs_after_it(world):
    runs = BlockingRuns("ns/a")
    world.controller.runner = runs
    b_finalized = threading.Event()
    patch_finalizers = world.api._patch_finalizers

    def patch(key: str, body: list) -> tuple[int, dict]:
        answer = patch_finalizers(key, body)
        if key == "ns/b":
            b_finalized.set()
        return answer

    world.api._patch_finalizers = patch
    start(world)  # workers=1: one run at a time
    try:
        world.add(performer("a"))
        assert runs.started["ns/a"].wait(10)  # a's run reported a and goes on
        world.add(performer("b", finalizers=()))
        assert b_finalized.wait(10), "b's batch waited for a's run to end"
        assert not runs.started["ns/b"].is_set()  # its run waits for a's
        runs.finish.set()
        assert runs.started["ns/b"].wait(10)
        assert runs.while_held_ran == []
    finally:
        runs.finish.set()
        stop(world)


def run_a_unreported(world: World) -> BlockingRuns:
    """The controller started with a runner whose run of a reports nothing until `finish` is set;
    a's run is going on."""
    runs = BlockingRuns("ns/a", reports_early=False)
    world.controller.runner = runs
    start(world)
    world.add(performer("a"))
    assert runs.started["ns/a"].wait(10)
    return runs


def test_a_batch_holds_its_run_slot_until_its_run_ends_when_it_reported_nothing_early(world):
    runs = run_a_unreported(world)
    try:
        assert not world.controller._slots.acquire(blocking=False)  # the only slot is a's
    finally:
        runs.finish.set()
        stop(world)
    assert runs.while_held_ran == []
    assert runs.told == []  # no other work waited


def test_while_a_run_goes_on_and_keys_are_overdue_the_runner_is_told_that_work_waits(world):
    # A run that has not reported its Performer holds the only slot (as one waiting for a replaced
    # pod to go does): b's key waits past the batch window, and the runner is told, so that the run
    # stops waiting; once b's batch is taken, it is told that nothing waits.
    runs = run_a_unreported(world)
    try:
        world.add(performer("b"))
        world.clock.now += 1  # b is overdue: no worker took it within the batch window
        assert runs.told_waiting.wait(10), "the runner was not told that work waits"
        assert not runs.started["ns/b"].is_set()
        runs.finish.set()
        assert runs.started["ns/b"].wait(10)
        wait_for(lambda: runs.told[-1][0] is False, timeout=10, what="the runner told that nothing waits")
    finally:
        runs.finish.set()
        stop(world)
    assert runs.told == [(True, True), (False, False)]
    assert runs.while_held_ran == []


def test_a_runner_that_cannot_be_told_that_work_waits_leaves_the_loop_running(world):
    runs = run_a_unreported(world)
    failures = []

    def refuse(waiting: bool) -> None:
        failures.append(waiting)
        raise OSError(28, "No space left on device")

    runs.work_waiting = refuse
    try:
        world.add(performer("b"))
        world.clock.now += 1
        wait_for(lambda: len(failures) >= 2, timeout=10, what="the runner to be told again")
        assert all(thread.is_alive() for thread in world.controller._threads)
        runs.finish.set()
        assert runs.started["ns/b"].wait(10)
    finally:
        runs.finish.set()
        stop(world)


def test_a_deletion_whose_run_asks_to_look_again_gets_another_run_then_although_its_pod_only_terminates(
    world,
):
    # The pod is on a node that stopped answering: no event comes, but once it is overdue the run's
    # plan reads its node and deletes it without the kubelet.
    world.add(performer("a", deleting=True))
    terminating = {"name": "performer-a", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z",
                   "ownerReferences": owner("a")}  # fmt: skip
    world.child("pod", {"kind": "Pod", "metadata": terminating})
    asks = {"children_gone": False, "recheck_after": 12.0}  # its pod is overdue in 12 s
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": asks})
    world.reconcile()
    assert len(world.runner.runs) == 1 and world.controller.awaiting_children == {"ns/a"}

    world.clock.now += ABSENT_RETRY_SECONDS  # not yet: only waiting for the informers
    assert world.reconcile() == [] and world.sync_statuses() == ["ns/a"]
    assert len(world.runner.runs) == 1

    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.clock.now += 12.0 - ABSENT_RETRY_SECONDS
    world.sync_statuses()
    world.reconcile()
    assert len(world.runner.runs) == 2 and world.api.patches == []
    world.clock.now += 60  # a run that asks nothing more leaves it to the informers again
    world.sync_statuses()
    assert world.reconcile() == [] and len(world.runner.runs) == 2


def test_a_rollout_gives_each_run_the_free_slots_and_queues_a_waiting_performer_once_one_is_ready_again(
    caplog,
):
    world = World(watch(), rollout_limit=Limit(count=1))
    for name in "abc":
        world.add(performer(name))

    def results(extravars):  # as the plan does: the slots in batch order, the rest wait
        slots, per_cr = extravars[ROLLOUT_SLOTS_VAR], {}
        for item in extravars["performers"]:
            started = slots > 0
            slots -= started
            per_cr[f"ns/{item['ansible_operator_meta']['name']}"] = {
                "phase": "Upgrading" if started else "Running",
                "ready": not started,
                "rollout": "started" if started else "waiting",
            }
        return RunResult(ok=True, per_cr=per_cr)

    world.runner.results = results
    with caplog.at_level(logging.INFO, logger="hourglass_operator.controller"):
        assert world.reconcile() == ["ns/a", "ns/b", "ns/c"]
    assert world.runner.runs[0]["extravars"][ROLLOUT_SLOTS_VAR] == 1
    assert (
        "rollout: 1 Performer(s) being replaced, 2 waiting for a slot (--rollout-max-unavailable: 1 now)"
        in [record.getMessage() for record in caplog.records]
    )
    assert world.controller.rollouts.counts() == (1, 2)
    assert world.due_in("ns/b") is None and world.due_in("ns/c") is None
    world.add({**performer("a"), "status": {"phase": "Upgrading", "ready": False}})
    assert world.due_in("ns/b") is None  # still being replaced
    world.add({**performer("a"), "status": {"phase": "Running", "ready": True}})
    assert world.due_in("ns/b") == 0 and world.due_in("ns/c") is None  # one slot: one at a time
    assert world.controller.rollouts.counts() == (0, 1)
    assert world.reconcile() == ["ns/b"]
    assert world.runner.runs[1]["extravars"][ROLLOUT_SLOTS_VAR] == 1


def test_a_performer_gone_during_its_run_gives_its_rollout_slot_back_and_leaves_nothing_behind():
    """Its finalizer removed by hand while its run replaces its pod: its DELETED event comes during
    the run, and what settling the run notes of it (the slot its replacement took, its baseline, its
    memo) would be kept for good, the rollout stopped with it, since no event of it comes any more."""
    world = World(watch(), rollout_limit=Limit(count=1))
    for name in "ab":
        world.add(performer(name))
    controller = world.controller

    def results(extravars):
        slots, per_cr = extravars[ROLLOUT_SLOTS_VAR], {}
        gone = controller.crs[0].get("ns/a")
        controller.crs[0]._dispatch({"type": "DELETED", "object": gone}, "9")  # during the run
        for item in extravars["performers"]:
            started = slots > 0
            slots -= started
            per_cr[f"ns/{item['ansible_operator_meta']['name']}"] = {
                "phase": "Upgrading" if started else "Running", "ready": not started,
                "rollout": "started" if started else "waiting", "memo": {"service_admitted": {}},
                "baseline": {"spec_hash": "h1"},
            }  # fmt: skip
        return RunResult(ok=True, per_cr=per_cr)

    world.runner.results = results
    assert world.reconcile() == ["ns/a", "ns/b"]
    assert controller.rollouts.counts() == (0, 0)  # b, waiting, was queued when a's slot came free
    assert world.due_in("ns/b") == 0
    assert list(controller._memos) == ["ns/b"] and list(world.baselines.recorded) == ["ns/b"]


def test_without_a_rollout_limit_the_runs_get_no_slots_variable(world):
    world.add(performer("a"))
    world.reconcile()
    assert ROLLOUT_SLOTS_VAR not in world.runner.runs[0]["extravars"]


def test_a_reconcile_period_of_0s_means_no_periodic_resync():
    """As under ansible-operator; it was a loop queueing every Performer without pause."""
    import types

    from hourglass_operator.controller import Controller

    added: list[str] = []
    stub = types.SimpleNamespace(
        _take_up_work=lambda: True,
        stop=threading.Event(),
        watch=types.SimpleNamespace(reconcile_period=0.0),
        cached_crs=lambda: [{"metadata": {"namespace": "ns", "name": "p"}}],
        stalls=types.SimpleNamespace(holds=lambda cr: False),
        queue=types.SimpleNamespace(add=added.append),
    )
    thread = threading.Thread(target=Controller._resync_loop, args=(stub,), daemon=True)
    thread.start()
    thread.join(1)
    # Alive (healthy() counts every thread: one that ended failed /healthz), queueing nothing.
    alive, queued = thread.is_alive(), len(added)
    stub.stop.set()
    thread.join(5)
    assert alive and queued == 0 and not thread.is_alive()
