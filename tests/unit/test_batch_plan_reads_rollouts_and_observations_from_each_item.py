"""plan_batch paces rollouts of reconciled specs by the slots and prefers each item's own observation."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    SPEC_HASH_ANNOTATION,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import plan_batch

from tests.unit.test_performer_batch_plan import SETTINGS, TEMPLATES, item

pytestmark = pytest.mark.unit

RECONCILED = {"observedGeneration": 4, "conditions": [{"type": "Reconciled", "status": "True",
              "observedGeneration": 4, "reason": "ReconcileSucceeded"}]}  # fmt: skip


def rendered_before(name: str, status: dict | None) -> dict:
    """The item of a Performer at generation 4 whose live pod the operator rendered otherwise before."""
    [rendered] = performer_render([item(name)], SETTINGS, TEMPLATES)
    pod = copy.deepcopy(rendered["pod"])
    pod["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = "rendered-by-the-previous-operator"
    batch_item = item(name, observed={"pod": pod, "service": rendered["service"]}, status=status)
    batch_item["_hourglass_eigenlayer_io_performer"]["metadata"]["generation"] = 4
    return batch_item


def test_pods_of_reconciled_specs_are_replaced_only_as_the_rollout_slots_allow() -> None:
    batch = [rendered_before(name, RECONCILED) for name in ("a", "b", "c")]
    plan = plan_batch(batch, {}, "present", SETTINGS, TEMPLATES, rollout_slots=1)
    entries = [plan["performers"][f"ns/{name}"] for name in ("a", "b", "c")]
    assert [(e["pod_action"], e["rollout"]) for e in entries] == [
        ("replace", "started"), ("keep", "waiting"), ("keep", "waiting"),
    ]  # fmt: skip
    assert len(plan["replace"]) == 1


def test_a_performer_whose_spec_changed_since_is_replaced_without_waiting_for_a_slot() -> None:
    changed = {**RECONCILED, "observedGeneration": 3}
    plan = plan_batch([rendered_before("a", changed)], {}, "present", SETTINGS, TEMPLATES, rollout_slots=0)
    entry = plan["performers"]["ns/a"]
    assert entry["pod_action"] == "replace" and "rollout" not in entry


def test_an_items_own_observation_comes_before_the_observed_option() -> None:
    [rendered] = performer_render([item("a")], SETTINGS, TEMPLATES)
    own = item("a", observed={"pod": rendered["pod"], "service": rendered["service"]})
    stale = {"ns/a": {"pod": None, "service": None}}
    plan = plan_batch([own], stale, "present", SETTINGS, TEMPLATES)
    assert plan["performers"]["ns/a"]["pod_action"] == "keep" and plan["create"] == []
