"""A terminating pod is lost exactly lost_pod_after past its deadline; until then looked at a second after."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.performer_plan import performer_plan

from tests.unit.test_performer_plan import LOST_POD, desired, observed

pytestmark = pytest.mark.unit

DEADLINE = "2026-11-22T10:00:00Z"


def terminating_at(monkeypatch: pytest.MonkeyPatch, now: str) -> dict:
    """The plan, at `now`, of a Performer whose pod on node-a was to be gone at DEADLINE."""
    monkeypatch.setattr(contract, "now", lambda: now)
    seen = observed()
    seen["ns/p"]["pod"]["metadata"].update(uid="uid-1", deletionTimestamp=DEADLINE)
    seen["ns/p"]["pod"]["spec"] = {"nodeName": "node-a"}
    return performer_plan([desired()], seen, lost_pod_after=30)


def test_a_pod_exactly_lost_pod_after_past_its_deadline_is_force_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = terminating_at(monkeypatch, "2026-11-22T10:00:30Z")
    assert plan["force_delete"] == [LOST_POD]
    assert plan["performers"]["ns/p"]["lost_pod_node"] == "node-a"


def test_a_pod_not_yet_lost_is_looked_at_again_a_second_after_it_will_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = terminating_at(monkeypatch, "2026-11-22T10:00:10Z")
    assert plan["force_delete"] == []
    entry = plan["performers"]["ns/p"]
    assert (entry["force_delete_pod_after"], entry["force_delete_pod_at"]) == (21.0, "2026-11-22T10:00:30Z")
