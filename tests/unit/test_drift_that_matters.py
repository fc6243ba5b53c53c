"""Drift and the plan, where a near miss would cost the node operator a pod: another image whose name
only begins with the rendered one's, a request the role derives from a limit, a label whose value
another client changed are drift or need a relabel; tolerations as the API server stores them (empty
fields omitted) are not drift, or the pod would be replaced on every run. A pod another client
changed is replaced at once, whatever the rollout's slots; an ended pod no object owns is replaced,
not adopted; a lost pod the Performer does not own still has it force-deleted."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_drift import (
    performer_service_drift,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_plan import performer_plan

from tests.unit.test_performer_drift import rendered, served_service, updated
from tests.unit.test_performer_plan import LABELS, LOST_POD, desired, observed, terminating

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("generation", [2, None], ids=["generation-2", "no-generations"])
def test_an_image_whose_name_only_begins_with_the_rendered_one_is_another_image(generation: int | None):
    [difference] = updated(lambda pod, c: c.update(image="img:10"), generation, config={})
    assert difference == 'spec.containers[performer].image: have "img:10", want "img:1"'


def test_a_request_the_role_derives_from_its_limit_resized_by_another_client_is_drift():
    """The API server gives a container the requests of its limits it has none for: the role's
    rendered CPU request is its CPU limit, and a resize of it is another client's doing."""
    resources = {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}
    [difference] = updated(lambda pod, c: c["resources"]["requests"].update(cpu="250m"), resources=resources)
    assert difference.startswith("spec.containers[performer].resources: ")
    assert updated(lambda pod, c: None, resources=resources) == []


def test_tolerations_with_empty_fields_as_the_api_server_stores_them_are_no_drift():
    """The API server omits a toleration's empty `value` and `effect`: comparing them as rendered
    would replace the pod on every run (after any update of it, or on clusters that count no
    generations)."""
    toleration = {"key": "gpu", "operator": "Exists", "value": "", "effect": ""}

    def as_stored(pod: dict, container: dict) -> None:
        pod["tolerations"] = [{k: v for k, v in t.items() if v != ""} for t in pod["tolerations"]]

    for generation in (2, None):  # updated since it was created, or no generations counted
        assert updated(as_stored, generation, scheduling={"tolerations": [toleration]}) == []


def test_a_service_label_whose_value_another_client_changed_is_drift():
    doc = rendered(config={})
    live = served_service(doc["service"])
    live["metadata"]["labels"]["hourglass.eigenlayer.io/performer"] = "someone-else"
    assert [d.split(":")[0] for d in performer_service_drift(doc["service"], live)] == ["metadata.labels"]


def test_a_pod_label_whose_value_another_client_changed_is_applied_again():
    """The Service selects its pod by that label: a pod relabelled away has no endpoint."""
    seen = observed()
    seen["ns/p"]["pod"]["metadata"]["labels"] = {**LABELS, "hourglass.eigenlayer.io/performer": "other"}
    plan = performer_plan([desired()], seen)
    assert plan["performers"]["ns/p"]["pod_action"] == "relabel"
    assert plan["apply"] == [desired()["pod"]]


def test_a_pod_another_client_changed_is_replaced_at_once_whatever_the_rollout_slots():
    """A rollout paces the operator's own re-rendering, not the repair of another client's edit."""
    want = desired()
    want["pod"]["spec"] = {"containers": [{"name": "performer", "image": "img:1"}]}
    seen = observed()
    seen["ns/p"]["pod"]["spec"] = {"containers": [{"name": "performer", "image": "evil:1"}]}
    plan = performer_plan([want], seen, spec_seen={"ns/p"}, rollout_slots=0)
    entry = plan["performers"]["ns/p"]
    assert plan["replace"] == [want["pod"]] and entry["pod_action"] == "replace"
    assert "rollout" not in entry and entry["drift"]["pod"]


def test_an_ended_pod_no_object_owns_is_replaced_not_adopted():
    want = desired()
    want["pod"]["metadata"]["ownerReferences"] = [{"kind": "Performer", "name": "p", "uid": "u1",
                                                   "controller": True}]  # fmt: skip
    seen = observed()
    pod = seen["ns/p"]["pod"]
    pod["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    pod["status"] = {"phase": "Failed", "reason": "Evicted"}
    plan = performer_plan([want], seen)
    entry = plan["performers"]["ns/p"]
    assert (entry["pod_action"], entry["pod_ended"]) == ("replace", "Evicted")
    assert plan["replace"] == [want["pod"]] and plan["apply"] == []


def test_a_lost_pod_of_the_performers_name_that_it_does_not_own_is_force_deleted_all_the_same():
    """Pod names are fixed: left on a node that died, it would keep the Performer's own pod out."""
    want = {**desired(), "uid": "u1"}
    plan = performer_plan([want], terminating(observed(), overdue_by=45), lost_pod_after=30)
    assert plan["force_delete"] == [LOST_POD]
