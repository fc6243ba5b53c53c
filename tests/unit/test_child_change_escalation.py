"""A change of a Performer's child that the status fast path cannot handle (its pod deleted, say)
escalates to a full reconcile, which puts the pod back, even when the first sync of it was refused
for a stale copy and made again."""

from __future__ import annotations

import pytest

from hourglass_operator.controller import STALE_RETRY_SECONDS
from hourglass_operator.status_sync import Outcome
from tests.unit.test_controller import World, owner, performer, watch

pytestmark = pytest.mark.unit


def test_a_deleted_pod_whose_status_sync_met_a_stale_copy_first_still_gets_its_full_reconcile():
    world = World(watch())
    world.add(performer("a"))
    world.reconcile()
    outcomes = [Outcome.STALE, Outcome.ESCALATE]  # the copy is stale once, then the pod is missed
    world.controller.status_sync.sync = lambda cr, pod, service: (outcomes.pop(0), None)
    pod = {"kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns", "resourceVersion": "3",
                                       "labels": {"hourglass.eigenlayer.io/performer": "a"},
                                       "ownerReferences": owner("a")}, "spec": {}}  # fmt: skip
    world.controller._on_child("DELETED", pod, None)
    assert world.due_in("ns/a") is None and world.sync_statuses() == ["ns/a"]
    assert world.due_in("ns/a", full=False) == pytest.approx(STALE_RETRY_SECONDS)

    world.clock.now += STALE_RETRY_SECONDS
    assert world.sync_statuses() == ["ns/a"] and outcomes == []
    assert world.due_in("ns/a") == 0
    assert world.reconcile() == ["ns/a"] and len(world.runner.runs) == 2
