"""The loop's own API calls failing: a finalizer the API server will not add or remove, an Event it
will not record, a connection reset mid-call, a status sync whose newer copy never comes. Each fails
only its own resource, backs off, and says why on it."""

from __future__ import annotations

import kubernetes
import pytest
import urllib3
from ansible_collections.hourglass.operator.plugins.module_utils import performer_status as status_rules

from hourglass_operator import controller as loop
from hourglass_operator.controller import STALE_RETRY_SECONDS
from hourglass_operator.runs import RunResult
from hourglass_operator.unreported import Warnings
from hourglass_operator.workqueue import WorkQueue
from tests.unit import test_controller_events as events
from tests.unit.test_controller import Clock, World, performer, watch

pytestmark = pytest.mark.unit


@pytest.fixture
def world() -> World:
    return World(watch())


def finalizer_calls(world: World) -> list[str]:
    """The methods of the finalizer client's calls so far (PATCH, GET)."""
    return [method for method, *_ in world.api.client.calls]


def warnings_on(world: World) -> list[tuple[str, str, str]]:
    return [(e["involvedObject"]["name"], e["reason"], e["message"]) for e in world.api.events]


def next_round(world: World, key: str = "ns/a") -> list[str]:
    """Waits until `key` is due, and reconciles."""
    world.clock.now += world.due_in(key)
    return world.reconcile()


# --- a finalizer the API server refuses to remove ---------------------------------------------------


@pytest.mark.parametrize("status", [403, 422, 500])
def test_a_finalizer_the_api_server_refuses_to_remove_backs_off_without_another_run_and_says_why(
    world, status
):
    """A policy (403), a stricter schema (422: no test failed, the finalizers are as the patch says)
    or a lasting error: the children are gone, so each retry is the patch alone, with back-off."""
    world.add(performer("a", deleting=True))
    world.api.patch_errors = [status] * 100
    world.reconcile()
    delays = [world.due_in("ns/a")]
    for _ in range(4):
        next_round(world)
        delays.append(world.due_in("ns/a"))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert len(world.runner.runs) == 1  # the finalizer run, not one a retry
    calls_per_round = ["PATCH", "GET"] if status == 422 else ["PATCH"]  # a 422 is read again once
    assert finalizer_calls(world) == calls_per_round * 5
    assert warnings_on(world) == [
        ("a", "FinalizerNotRemoved", f"the finalizer could not be removed: HTTP {status}: refused")
    ]

    world.api.patch_errors = []  # the policy changed
    next_round(world)
    assert world.api.patches == [("ns/a", [])] and len(world.runner.runs) == 1
    assert world.controller.awaiting_children == set() and world.controller.queue.failures("ns/a") == 0


def test_a_finalizer_removal_that_times_out_in_etcd_backs_off_to_30_s_at_most(world):
    world.add(performer("a", deleting=True))
    world.api._patch_finalizers = lambda key, body: (500, {"message": "etcdserver: request timed out"})
    world.reconcile()
    for _ in range(6):
        next_round(world)
    assert world.due_in("ns/a") == 30.0 and len(world.runner.runs) == 1


def test_a_finalizer_removal_that_conflicts_is_read_again_and_retried(world):
    world.add(performer("a", deleting=True))
    world.api.patch_errors = [409]
    world.reconcile()
    assert finalizer_calls(world) == ["PATCH", "GET", "PATCH"] and world.api.patches == [("ns/a", [])]
    assert world.api.events == []


def test_a_finalizer_removal_refused_while_awaiting_the_children_is_only_patched_again(world):
    world.add(performer("a", deleting=True))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()
    world.api.patch_errors = [403] * 100
    world.clock.now += 5
    assert world.sync_statuses() == ["ns/a"]  # the children went: the status worker releases it
    assert world.due_in("ns/a") == 1.0 and world.controller.awaiting_children == {"ns/a"}
    next_round(world)
    assert world.due_in("ns/a") == 2.0 and len(world.runner.runs) == 1
    assert [reason for _, reason, _ in warnings_on(world)] == ["FinalizerNotRemoved"]


# --- a finalizer the API server refuses to add -------------------------------------------------------


def test_a_finalizer_the_api_server_refuses_to_add_is_warned_about_once_with_its_reason(world):
    world.add(performer("a", finalizers=()))
    world.api.patch_errors = [403] * 100
    world.reconcile()
    next_round(world)
    assert world.due_in("ns/a") == 2.0 and world.runner.runs == []
    assert warnings_on(world) == [
        ("a", "FinalizerNotAdded", "the finalizer could not be added: HTTP 403: refused")
    ]


# --- Events that cannot be recorded -----------------------------------------------------------------


class Core:
    """create_namespaced_event failing with the errors given, then recording."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.events: list[dict] = []

    def create_namespaced_event(self, namespace: str, body: dict) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.events.append(body)


def throttled() -> kubernetes.client.ApiException:
    """A refusal whose body echoes the object sent (a webhook's may): the log must not say it."""
    error = kubernetes.client.ApiException(status=429, reason="Too Many Requests")
    error.body = '{"message": "throttled", "object": {"spec": {"env": {"SECRET": "s3cr3t"}}}}'
    return error


@pytest.mark.parametrize(
    "error",
    [throttled(),
     urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/ns/events", "Connection reset by peer")],
    ids=["throttled", "reset"],
)  # fmt: skip
def test_an_event_that_could_not_be_recorded_is_tried_again_by_the_next_warning_of_the_same(caplog, error):
    core = Core(error)
    warnings = Warnings(core)
    cr = performer("a", env={"SECRET": "s3cr3t"})
    warnings.warn(cr, "ReconcileUnreported", "boom")
    warnings.warn(cr, "ReconcileUnreported", "boom")
    warnings.warn(cr, "ReconcileUnreported", "boom")  # recorded once it was
    assert [e["message"] for e in core.events] == ["boom"]
    [logged] = [r.getMessage() for r in caplog.records if r.name == "hourglass_operator.unreported"]
    assert logged.startswith("could not record an Event: ") and "s3cr3t" not in logged


def test_an_event_lost_to_a_reset_connection_fails_only_its_own_resource(world):
    """Not the batch: the deleted Performer of the same batch still loses its finalizer, and the one
    the run reported nothing for backs off once."""
    world.add(performer("a"))
    world.add(performer("b", deleting=True))
    world.api.create_namespaced_event = Core(
        urllib3.exceptions.ProtocolError("reset")
    ).create_namespaced_event
    world.runner.results = lambda extravars: RunResult(ok=False, failure="t: boom", per_cr=(
        {"ns/b": {"children_gone": True}} if extravars["performer_state"] == "absent" else {}))  # fmt: skip
    assert world.reconcile() == ["ns/a", "ns/b"]
    assert world.api.patches == [("ns/b", [])]
    assert world.controller.queue.failures("ns/a") == 1 and world.due_in("ns/a") == 1.0


def test_children_that_cannot_be_deleted_for_a_reset_connection_fail_only_their_own_resource(world):
    world.add(performer("a", deleting=True))
    world.add(performer("b", deleting=True))

    def reset(name, namespace, **_):
        raise urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))

    world.api.delete_namespaced_pod = reset
    world.runner.results = lambda _: RunResult(ok=False, failure="t: cancelled", per_cr={
        "ns/b": {"children_gone": True}})  # fmt: skip
    assert world.reconcile() == ["ns/a", "ns/b"]
    assert world.api.patches == [("ns/b", [])]
    assert world.due_in("ns/a") == 1.0
    assert [reason for _, reason, _ in warnings_on(world)] == ["ReconcileUnreported"]


# --- a finalizer patch whose connection is reset --------------------------------------------------


@pytest.mark.parametrize(
    "error", [ConnectionResetError(104, "Connection reset by peer"), TimeoutError("timed out")]
)
def test_a_finalizer_patch_without_an_answer_backs_off_only_its_own_resource(world, caplog, error):
    world.add(performer("a", finalizers=()))
    world.add(performer("b"))
    world.add(performer("c", deleting=True))
    answer = world.api.client.answer

    def flaky(method, path, content_type, body):
        if method == "PATCH" and path.endswith(("/a", "/c")):
            raise error
        return answer(method, path, content_type, body)

    world.api.client.answer = flaky
    assert world.reconcile() == ["ns/a", "ns/b", "ns/c"]
    assert [r["extravars"]["performer_state"] for r in world.runner.runs] == ["present", "absent"]
    assert [world.due_in(f"ns/{name}") for name in "abc"] == [1.0, None, 1.0]
    assert "batch failed unexpectedly" not in caplog.text
    assert {reason for _, reason, _ in warnings_on(world)} == {"FinalizerNotAdded", "FinalizerNotRemoved"}


# --- a status sync whose newer copy never comes ------------------------------------------------------


def fast_path_on_a_clock() -> tuple:
    """A Performer whose pod is not ready yet on a fake API server, and a controller whose status
    fast path writes it, its queue on a test clock."""
    cr = events.performer("a")
    cr["metadata"]["resourceVersion"] = "100"
    cr["status"] = status_rules.compute_status(cr, events.not_ready_pod(), now="2026-01-01T00:00:00Z")
    server = events.PerformerServer(cr)
    controller = events.fast_path_controller(server)
    clock = Clock()
    controller.queue = WorkQueue(clock=clock)
    return server, controller, clock


def test_a_status_sync_refused_for_a_stale_copy_the_watch_never_replaces_escalates_with_back_off(caplog):
    server, controller, clock = fast_path_on_a_clock()
    server.edit(labels={"team": "x"})  # another client's write, whose event never comes (the watch stalled)
    events.pod_turns_ready(controller)
    escalated = 0
    for _ in range(300):  # a minute
        clock.now += STALE_RETRY_SECONDS
        for key in controller.queue.get_batch(10, timeout=0, full=False):
            controller._sync_status(key)
        for key in controller.queue.get_batch(10, timeout=0):  # the full reconcile (not run here)
            escalated += 1
            controller.queue.done(key)
    patches = [call for call in server.rest.calls if call[0] == "PATCH"]
    assert len(patches) == loop.STALE_RETRIES and escalated == 1
    stale_logs = [r for r in caplog.records if "stale copy" in r.getMessage()]
    assert len(stale_logs) == 1

    controller.crs[0]._dispatch({"type": "DELETED", "object": server.cr}, "102")
    assert controller._stale == {}  # nothing kept of a Performer that is gone


def test_a_status_sync_that_succeeds_after_a_stale_copy_starts_counting_again():
    server, controller, clock = fast_path_on_a_clock()
    edited = server.edit()  # another client's write of what needs no reconcile (its status, say)
    events.pod_turns_ready(controller)
    assert controller._stale == {"ns/a": 1}
    assert controller.queue.queued("ns/a") == (clock.now + STALE_RETRY_SECONDS, False)  # polled again
    controller.crs[0]._dispatch({"type": "MODIFIED", "object": edited}, "101")  # the watch brings it
    clock.now += STALE_RETRY_SECONDS
    assert controller.queue.get_batch(10, timeout=0, full=False) == ["ns/a"]
    controller._sync_status("ns/a")
    assert controller._stale == {} and controller.queue.failures("ns/a") == 0


def test_a_finalizer_removal_applied_without_its_answer_leaves_nothing_for_a_namesake(world):
    """The PATCH that removed the finalizer was applied (the Performer is deleted, its DELETED event
    handled) but its answer was lost: the failure must not bring back what that event forgot, or a
    new Performer of the same name would be taken for one awaiting its children and its own
    deletion would get no finalizer run."""
    c = world.controller
    world.add(performer("a", deleting=True))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})
    world.reconcile()  # the finalizer run; its children terminate: it awaits them
    assert c.awaiting_children == {"ns/a"}
    answer = world.api.client.answer

    def applied_then_timed_out(method, path, content_type, body):
        if method != "PATCH":
            return answer(method, path, content_type, body)
        _, deleted = answer(method, path, content_type, body)
        c.crs[0]._dispatch({"type": "DELETED", "object": deleted}, "5")
        raise TimeoutError("timed out")

    world.api.client.answer = applied_then_timed_out
    world.clock.now += 5
    world.sync_statuses()  # the children are gone: the finalizer is removed
    world.api.client.answer = answer
    assert (c.awaiting_children, c.warnings._last, warnings_on(world)) == (set(), {}, [])

    namesake = performer("a")
    namesake["metadata"]["uid"] = "uid-a2"
    world.add(namesake)
    world.reconcile()
    runs = len(world.runner.runs)
    deleted = performer("a", deleting=True)
    deleted["metadata"].update(uid="uid-a2", resourceVersion="9")
    world.add(deleted)
    world.clock.now += 1
    world.reconcile()
    assert len(world.runner.runs) == runs + 1  # its own finalizer run
