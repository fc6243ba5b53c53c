"""An ended pod is replaced once exactly old enough, and until then looked at one second after that."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.performer_plan import performer_plan

from tests.unit.test_performer_plan import desired, observed

pytestmark = pytest.mark.unit

CREATED = "2026-11-22T10:00:00Z"


def ended_at(monkeypatch: pytest.MonkeyPatch, now: str) -> dict:
    """The plan entry, at `now`, of a Performer whose pod created at CREATED was evicted."""
    monkeypatch.setattr(contract, "now", lambda: now)
    seen = observed()
    seen["ns/p"]["pod"]["metadata"]["creationTimestamp"] = CREATED
    seen["ns/p"]["pod"]["status"] = {"phase": "Failed", "reason": "Evicted"}
    plan = performer_plan([desired()], seen, ended_pod_min_age=10, ended_pods={"ns/p": 1})
    return plan["performers"]["ns/p"]


def test_an_ended_pod_young_still_is_looked_at_a_second_after_it_is_old_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = ended_at(monkeypatch, "2026-11-22T10:00:05Z")  # 20 s it must be (one ended before it)
    assert entry["pod_action"] == "keep"
    assert (entry["replace_ended_pod_after"], entry["replace_ended_pod_at"]) == (16.0, "2026-11-22T10:00:20Z")


def test_an_ended_pod_exactly_old_enough_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = ended_at(monkeypatch, "2026-11-22T10:00:20Z")
    assert (entry["pod_action"], entry["pod_ended"], entry["ended_pods"]) == ("replace", "Evicted", 2)
