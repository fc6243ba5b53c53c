"""How the loop settles what a run did, once per resource: one settled while the run went on is not
settled again when it ends (its back-off would double); a deletion run takes no rollout slot; the
periodic resync queues every resource but one stalled, which waits for a change of its spec; and a
status sync asked for later never pushes back one already due sooner."""

from __future__ import annotations

import threading

import pytest

from hourglass_operator.rollouts import ROLLOUT_SLOTS_VAR, Limit
from hourglass_operator.runs import RunResult
from hourglass_operator.workqueue import WorkQueue
from tests.unit.test_controller import Clock, World, performer, watch

pytestmark = pytest.mark.unit


def test_a_failure_the_run_reported_while_it_went_on_backs_off_once():
    world = World(watch())
    world.add(performer("a"))
    failed = {"phase": "Failed", "ready": False, "error": "500 boom"}

    def run(extravars, *, role, playbook, cancel, reconcile_id=None, on_result=None):
        on_result("ns/a", failed)  # settled and handed back while the run goes on
        return RunResult(ok=True, per_cr={"ns/a": failed}, reconcile_id=reconcile_id)

    world.runner.run = run
    assert world.reconcile() == ["ns/a"]
    assert world.controller.queue.failures("ns/a") == 1 and world.due_in("ns/a") == 1.0


def test_a_deletion_run_takes_no_rollout_slot():
    """Slots pace the replacement of pods rendered differently; a deletion replaces none."""
    world = World(watch(), rollout_limit=Limit(count=1))
    world.add(performer("a", deleting=True))
    world.reconcile()
    [run] = world.runner.runs
    assert run["extravars"]["performer_state"] == "absent" and ROLLOUT_SLOTS_VAR not in run["extravars"]
    assert world.controller.rollouts.counts() == (0, 0)


def test_the_periodic_resync_passes_over_a_stalled_performer():
    world = World(watch())
    world.add(performer("a"))
    world.add(performer("b"))
    world.runner.results = lambda _: RunResult(ok=True, per_cr={
        "ns/a": {"error": "spec.hardwareRequirements.gpuType: unknown", "stalled": True},
        "ns/b": {"phase": "Running", "ready": True},
    })  # fmt: skip
    assert world.reconcile() == ["ns/a", "ns/b"]
    c = world.controller
    c.is_leader.set()
    periods = iter([False, True])  # one period passes, then the loop is stopped
    c.stop = threading.Event()
    c.stop.wait = lambda timeout=None: next(periods)
    c._resync_loop()
    assert world.due_in("ns/b") == 0 and world.due_in("ns/a") is None


def test_a_status_sync_asked_for_later_keeps_the_one_due_sooner():
    clock = Clock()
    queue = WorkQueue(clock=clock)
    queue.add("ns/a", full=False)  # its pod turned Ready
    queue.add("ns/a", 300.0, full=False)  # a recheck for when its Unschedulable pod would stall
    assert queue.queued("ns/a") == (clock.now, False)
    assert queue.get_batch(10, timeout=0, full=False) == ["ns/a"]
