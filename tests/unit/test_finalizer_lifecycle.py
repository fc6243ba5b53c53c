"""The finalizer from the node operator's side: added once and only once, removed once, a deletion
whose children are still there run again, and nothing a deleted Performer left behind (a finalizer
answer, a Warning already said) holding back a new one of the same name."""

from __future__ import annotations

from pathlib import Path

import pytest

from hourglass_operator.controller import ABSENT_RETRY_SECONDS
from hourglass_operator.runs import RunResult
from tests.unit.test_controller import FINALIZER, World, owner, performer, watch

pytestmark = pytest.mark.unit


@pytest.fixture
def world() -> World:
    return World(watch())


def children_stay(_) -> RunResult:
    """A finalizer run whose children are still there (terminating, or created again)."""
    return RunResult(ok=True, per_cr={"ns/a": {"children_gone": False}})


def test_a_finalizer_the_resource_carries_when_it_is_read_again_is_not_added_a_second_time(world):
    """The patch that added it was applied but its answer lost (or another replica added it): the
    re-read after the failed guard shows it on, so nothing more is written, and the run goes ahead."""
    world.add(performer("a", finalizers=()))
    world.api.stored["ns/a"]["metadata"].update(finalizers=[FINALIZER], resourceVersion="7")
    world.reconcile()
    assert world.api.patches == [] and world.api.reads == 1
    assert world.api.stored["ns/a"]["metadata"]["finalizers"] == [FINALIZER]
    assert len(world.runner.runs) == 1


def test_a_finalizer_the_resource_no_longer_carries_when_it_is_read_again_is_not_patched(world):
    world.add(performer("a", finalizers=(FINALIZER, "someone.else/finalizer"), deleting=True))
    world.api.stored["ns/a"]["metadata"].update(finalizers=["someone.else/finalizer"], resourceVersion="7")
    world.reconcile()
    assert world.api.patches == [] and world.api.reads == 1
    assert world.api.events == [] and world.due_in("ns/a") is None


def test_a_finalizer_removal_answered_not_found_is_neither_retried_nor_warned_about(world):
    """The Performer went before the patch reached it (its DELETED event is still on its way): there
    is nothing left to release, and a FinalizerNotRemoved Warning would be about nothing."""
    world.add(performer("a", deleting=True))
    world.api.patch_errors = [404]
    world.reconcile()
    assert world.api.events == [] and world.due_in("ns/a") is None
    assert world.controller.awaiting_children == set()


def test_an_event_handled_after_the_finalizer_came_off_starts_no_second_finalizer_run(world):
    """The cache holds the Performer as the removal left it, without the finalizer: an event of it
    still queued (its status the finalizer run wrote) finds nothing to do."""
    world.add(performer("a", deleting=True))
    world.reconcile()
    assert world.api.patches == [("ns/a", [])]
    world.controller.queue.add("ns/a")
    world.reconcile()
    assert len(world.runner.runs) == 1 and world.api.patches == [("ns/a", [])]


def test_a_finalizer_role_of_its_own_whose_children_remain_is_run_again():
    """Only the role knows what its cleanup waits for: the loop does not wait on its informers for
    the children (that is for the performer role's own deletion), it runs the role again."""
    world = World(watch(role=Path("/content/roles/cleanup")))
    world.add(performer("a", deleting=True))
    world.runner.results = children_stay
    world.reconcile()
    assert world.controller.awaiting_children == set()
    assert world.due_in("ns/a") == ABSENT_RETRY_SECONDS
    world.clock.now += ABSENT_RETRY_SECONDS
    assert world.reconcile() == ["ns/a"]
    assert len(world.runner.runs) == 2 and world.api.patches == []


def test_a_deleted_performer_whose_service_came_back_while_its_pod_terminates_is_run_again(world):
    """One child still terminating does not make the other, created again, one to wait for."""
    world.add(performer("a", deleting=True))
    world.runner.results = children_stay
    world.reconcile()
    terminating = {"name": "performer-a", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z",
                   "ownerReferences": owner("a")}  # fmt: skip
    world.child("pod", {"kind": "Pod", "metadata": terminating})
    world.child("service", {"kind": "Service", "metadata": {"name": "performer-a", "namespace": "ns",
                                                            "ownerReferences": owner("a")}})  # fmt: skip
    world.clock.now += ABSENT_RETRY_SECONDS
    assert world.sync_statuses() == ["ns/a"]
    assert world.reconcile() == ["ns/a"]
    assert len(world.runner.runs) == 2 and world.api.patches == []


def test_a_new_performer_of_a_deleted_ones_name_is_warned_about_the_same_failure_again(world):
    """The Warnings said once per resource are forgotten with the resource: its namesake's own
    failure gets its own Event, although the message is the same."""
    world.add(performer("a", finalizers=()))
    world.api.patch_errors = [403] * 10
    world.reconcile()
    assert [e["reason"] for e in world.api.events] == ["FinalizerNotAdded"]
    world.controller.crs[0]._dispatch({"type": "DELETED", "object": world.api.stored["ns/a"]}, "5")

    namesake = performer("a", finalizers=())
    namesake["metadata"]["uid"] = "uid-a2"
    world.add(namesake)
    assert world.reconcile() == ["ns/a"]
    assert [(e["reason"], e["involvedObject"]["uid"]) for e in world.api.events] == [
        ("FinalizerNotAdded", "uid-a"),
        ("FinalizerNotAdded", "uid-a2"),
    ]


def test_a_finalizer_role_of_its_own_is_given_its_own_variables_not_the_performer_roles():
    world = World(watch(role=Path("/content/roles/cleanup")))
    world.add(performer("a", deleting=True))
    world.reconcile()
    [run] = world.runner.runs
    assert run["role"] == Path("/content/roles/cleanup")
    assert "performer_wait_for_deleted_children" not in run["extravars"]


def test_a_finalizer_add_answered_not_found_warns_about_nothing(world):
    """The Performer was deleted before its finalizer could be added: no Event names what is gone."""
    world.add(performer("a", finalizers=()))
    world.api.patch_errors = [404]
    world.reconcile()
    assert world.api.events == [] and world.runner.runs == []
