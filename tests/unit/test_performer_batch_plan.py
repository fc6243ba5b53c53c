"""How performer_reconcile plans a batch (performer_tasks.plan_batch): the role's render and plan in
one step, each Performer against what its item says was observed (else the `observed` option), and a
deletion that renders nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import plan_batch

from tests.support.paths import REPO

SETTINGS = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
TEMPLATES = str(REPO / "roles" / "performer" / "templates")
AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def item(name: str, observed: dict | None = None, status: dict | None = None, **spec) -> dict:
    cr = {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1",
        "kind": "Performer",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"avsAddress": AVS, "image": "img:1", **spec},
        "status": status or {},
    }
    return {"_hourglass_eigenlayer_io_performer": cr, "_hourglass_observed": observed or {}}


def test_what_is_rendered_is_planned_against_each_items_observation_else_the_observed_option():
    [rendered] = performer_render([item("a")], SETTINGS, TEMPLATES)
    batch = [item("a", observed={"pod": rendered["pod"], "service": rendered["service"]}), item("b")]
    observed = {"ns/b": {"service": performer_render([item("b")], SETTINGS, TEMPLATES)[0]["service"]}}
    plan = plan_batch(batch, observed, "present", SETTINGS, TEMPLATES)
    assert [(o["kind"], o["metadata"]["name"]) for o in plan["create"]] == [("Pod", "performer-b")]
    assert plan["performers"]["ns/a"]["pod_action"] == "keep"
    assert plan["performers"]["ns/b"]["pod_action"] == "create"


def test_a_render_error_is_the_performers_own():
    broken = item("a")
    del broken["_hourglass_eigenlayer_io_performer"]["spec"]
    plan = plan_batch([broken, item("b")], {}, "present", SETTINGS, TEMPLATES)
    assert "rendering failed" in plan["performers"]["ns/a"]["error"]
    assert plan["performers"]["ns/b"]["error"] is None
    assert {o["metadata"]["name"] for o in plan["create"]} == {"performer-b"}


def test_a_deletion_renders_nothing_and_deletes_what_exists():
    """Settings the templates cannot render with (none at all) do not matter when deleting."""
    owner = [{"kind": "Performer", "name": "a", "uid": "uid-a", "controller": True}]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "performer-a", "namespace": "ns", "ownerReferences": owner}}  # fmt: skip
    batch = [item("a", observed={"pod": pod, "service": None}), item("b")]
    plan = plan_batch(batch, {}, "absent", {}, TEMPLATES)
    assert plan["delete"] == [{**pod, "metadata": {"name": "performer-a", "namespace": "ns"}}]
    entry = plan["performers"]["ns/a"]
    assert (entry["error"], entry["children_deleted"], entry["children_gone"]) == (None, 1, False)
    assert plan["performers"]["ns/b"]["children_gone"] is True


def test_a_pod_that_ended_waits_longer_for_each_pod_the_performers_status_counts():
    """The count comes from each Performer's status (`endedPods`), and the ages from the role."""
    created = (datetime.now(UTC) - timedelta(seconds=25)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ended_25_s_after_creation(name: str, status: dict | None = None) -> dict:
        [rendered] = performer_render([item(name)], SETTINGS, TEMPLATES)
        pod = {**rendered["pod"], "status": {"phase": "Failed", "reason": "OutOfcpu"}}
        pod["metadata"] = {**pod["metadata"], "creationTimestamp": created}
        return item(name, observed={"pod": pod, "service": rendered["service"]}, status=status)

    batch = [ended_25_s_after_creation("a"), ended_25_s_after_creation("b", {"endedPods": 2})]
    plan = plan_batch(batch, {}, "present", SETTINGS, TEMPLATES, 10, 300)
    first, second = plan["performers"]["ns/a"], plan["performers"]["ns/b"]
    assert (first["pod_action"], first["ended_pods"]) == ("replace", 1)  # 25 s >= 10 s
    assert second["pod_action"] == "keep" and 14 <= second["replace_ended_pod_after"] <= 16  # 40 s


def test_a_deletion_leaves_what_the_performer_does_not_own_and_waits_for_the_orphan_finalizer():
    """The Performer's uid and finalizers come from its item: a child that no longer names it (the
    garbage collector took the reference away for `--cascade=orphan`) is not deleted, and nothing is
    while the `orphan` finalizer says the garbage collector has yet to."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns"}}
    orphaned = item("a", observed={"pod": pod, "service": None})
    plan = plan_batch([orphaned], {}, "absent", {}, TEMPLATES)
    entry = plan["performers"]["ns/a"]
    assert plan["delete"] == [] and (entry["children_gone"], entry["kept"]) == (True, ["Pod"])

    pod["metadata"]["ownerReferences"] = [{"kind": "Performer", "uid": "uid-a", "controller": True}]
    orphaned["_hourglass_eigenlayer_io_performer"]["metadata"]["finalizers"] = ["x/f", "orphan"]
    plan = plan_batch([orphaned], {}, "absent", {}, TEMPLATES)
    entry = plan["performers"]["ns/a"]
    assert plan["delete"] == [] and (entry["children_gone"], entry["orphaning"]) == (False, True)
