"""The role's plan filter: what to create, apply, delete or leave alone for each Performer of a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.performer_plan import (
    SPEC_HASH,
    ended_pod_age,
    performer_plan,
)

LABELS = {"app": "hourglass-performer", "hourglass.eigenlayer.io/performer": "p"}


def desired(spec_hash: str = "h1", error: str | None = None) -> dict:
    if error:
        return {"namespace": "ns", "name": "p", "error": error}
    meta = {"name": "performer-p", "namespace": "ns", "labels": LABELS}
    return {
        "namespace": "ns",
        "name": "p",
        "pod": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {**meta, "annotations": {SPEC_HASH: spec_hash}}},
        "service": {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "type": "ClusterIP", "selector": {"hourglass.eigenlayer.io/performer": "p"},
            "ports": [{"name": "grpc", "port": 9090, "targetPort": "grpc", "protocol": "TCP"}]}},
    }  # fmt: skip


def observed(pod_hash: str | None = "h1", deleting: bool = False, service: dict | None = None) -> dict:
    pod = None
    if pod_hash is not None:
        meta = {
            "name": "performer-p",
            "namespace": "ns",
            "labels": LABELS,
            "annotations": {SPEC_HASH: pod_hash},
        }
        if deleting:
            meta["deletionTimestamp"] = "2026-11-22T10:00:00Z"
        pod = {"kind": "Pod", "metadata": meta}
    return {"ns/p": {"pod": pod, "service": service if service is not None else desired()["service"]}}


def test_nothing_to_do_when_pod_hash_and_service_match():
    plan = performer_plan([desired()], observed())
    assert plan["apply"] == [] and plan["delete"] == []
    assert plan["performers"]["ns/p"]["pod_action"] == "keep"


def test_missing_pod_and_service_are_created():
    plan = performer_plan([desired()], {"ns/p": {"pod": None, "service": None}})
    assert [o["kind"] for o in plan["create"]] == ["Pod", "Service"] and plan["apply"] == []


def test_a_pod_missing_a_label_is_applied_not_created():
    seen = observed()
    seen["ns/p"]["pod"]["metadata"]["labels"] = {"app": "hourglass-performer"}
    plan = performer_plan([desired()], seen)
    assert plan["apply"] == [desired()["pod"]] and plan["create"] == []
    assert plan["performers"]["ns/p"]["pod_action"] == "relabel"


def test_changed_hash_replaces_the_pod_and_marks_the_upgrade():
    plan = performer_plan([desired("h2")], observed("h1"))
    assert plan["replace"] == [desired("h2")["pod"]]
    assert plan["apply"] == [] and plan["delete"] == []
    entry = plan["performers"]["ns/p"]
    assert entry["upgrading"] and entry["upgraded_at"]


def test_terminating_pod_is_waited_for():
    plan = performer_plan([desired("h2")], observed("h1", deleting=True))
    assert plan["apply"] == [] and plan["delete"] == []
    assert plan["performers"]["ns/p"] == {
        "error": None,
        "upgrading": True,
        "upgraded_at": None,
        "pod_action": "wait",
        "spec_hash": "h2",
        "pod_labels": LABELS,
    }


def test_a_service_another_client_changed_is_restored_not_reapplied():
    drifted = desired()["service"] | {"spec": desired()["service"]["spec"] | {"selector": {"app": "x"}}}
    plan = performer_plan([desired()], observed(service=drifted))
    assert plan["restore"] == [desired()["service"]] and plan["apply"] == []
    assert plan["performers"]["ns/p"]["drift"]["service"][0].startswith("spec.selector")
    added_port = desired()["service"]["spec"]["ports"] + [{"name": "metrics", "port": 1, "targetPort": 1}]
    drifted = {**drifted, "spec": desired()["service"]["spec"] | {"ports": added_port}}
    assert performer_plan([desired()], observed(service=drifted))["restore"] == [desired()["service"]]


def test_a_pod_another_client_changed_is_replaced_without_an_upgrade():
    pod_spec = {"containers": [{"name": "performer", "image": "img:1"}]}
    want = desired()
    want["pod"]["spec"] = pod_spec
    seen = observed()
    seen["ns/p"]["pod"]["spec"] = {"containers": [{"name": "performer", "image": "evil:1"}]}
    plan = performer_plan([want], seen)
    assert plan["replace"] == [want["pod"]]
    entry = plan["performers"]["ns/p"]
    assert entry["pod_action"] == "replace" and not entry["upgrading"] and not entry["upgraded_at"]
    assert entry["drift"]["pod"] == ['spec.containers[performer].image: have "evil:1", want "img:1"']
    seen["ns/p"]["pod"]["spec"] = pod_spec
    assert performer_plan([want], seen)["performers"]["ns/p"]["pod_action"] == "keep"


def test_render_error_is_reported_and_nothing_applied():
    plan = performer_plan([desired(error="bad gpuType")], observed())
    assert plan["apply"] == [] and plan["delete"] == []
    assert plan["performers"]["ns/p"]["error"] == "bad gpuType"


def test_absent_deletes_what_exists_and_reports_when_children_are_gone():
    plan = performer_plan([desired(error="ignored when deleting")], observed(), "absent")
    assert sorted(o["kind"] for o in plan["delete"]) == ["Pod", "Service"]
    assert plan["performers"]["ns/p"]["children_gone"] is False
    assert plan["performers"]["ns/p"]["error"] is None
    gone = performer_plan([desired()], {"ns/p": {"pod": None, "service": None}}, "absent")
    assert gone["delete"] == [] and gone["performers"]["ns/p"]["children_gone"] is True


def ended(seen: dict, *, phase: str = "Failed", age: float, reason: str | None = "Evicted") -> dict:
    """`seen` with its pod ended `age` seconds after its creation, as its node leaves it."""
    pod = seen["ns/p"]["pod"]
    created = datetime.now(UTC) - timedelta(seconds=age)
    pod["metadata"]["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    pod["status"] = {"phase": phase, **({"reason": reason, "message": "The node was low on resource: memory."}
                                        if reason else {})}  # fmt: skip
    return seen


def test_a_pod_that_ended_is_replaced_without_an_upgrade_saying_why():
    plan = performer_plan([desired()], ended(observed(), age=3600), ended_pod_min_age=10)
    assert plan["replace"] == [desired()["pod"]] and plan["create"] == []
    entry = plan["performers"]["ns/p"]
    assert entry["pod_action"] == "replace" and not entry["upgrading"] and not entry["upgraded_at"]
    assert entry["pod_ended"] == "Evicted: The node was low on resource: memory."
    assert "replace_ended_pod_after" not in entry
    succeeded = performer_plan([desired()], ended(observed(), phase="Succeeded", age=60, reason=None))
    assert succeeded["performers"]["ns/p"]["pod_ended"] == "PodSucceeded"


def test_a_pod_that_ended_young_is_replaced_only_once_old_enough():
    plan = performer_plan([desired()], ended(observed(), age=2), ended_pod_min_age=10)
    assert plan["replace"] == [] and plan["create"] == []
    entry = plan["performers"]["ns/p"]
    assert entry["pod_action"] == "keep" and "pod_ended" not in entry
    assert 8 <= entry["replace_ended_pod_after"] <= 10
    assert performer_plan([desired()], ended(observed(), age=2), ended_pod_min_age=0)["replace"]


def test_each_pod_that_ended_since_the_performer_was_ready_doubles_the_age_the_next_one_waits_for():
    assert [ended_pod_age(n, 10, 300) for n in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert ended_pod_age(10**6, 10, 300) == 300  # no overflow, however many
    assert ended_pod_age(-3, 10, 300) == 10
    assert ended_pod_age(4, 10, 5) == 10  # a maximum below the minimum: the minimum

    def entry(age: float, before: int) -> dict:
        plan = performer_plan(
            [desired()], ended(observed(), age=age), ended_pod_min_age=10, ended_pod_max_age=300,
            ended_pods={"ns/p": before},
        )  # fmt: skip
        return plan["performers"]["ns/p"]

    first = entry(age=12, before=0)
    assert first["pod_action"] == "replace" and first["ended_pods"] == 1  # the status counts it
    waiting = entry(age=12, before=2)  # two ended before it: replaced once 40 s old
    assert waiting["pod_action"] == "keep" and "ended_pods" not in waiting
    assert 28 <= waiting["replace_ended_pod_after"] <= 30
    created = (datetime.now(UTC) - timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert abs(contract.seconds_between(created, waiting["replace_ended_pod_at"]) - 40) <= 1
    assert "replace_ended_pod_at" not in first
    assert entry(age=41, before=2)["ended_pods"] == 3
    assert entry(age=299, before=9)["pod_action"] == "keep"
    assert entry(age=301, before=9)["pod_action"] == "replace"
    other = performer_plan([desired()], ended(observed(), age=12), ended_pods={"ns/other": 5})
    assert other["performers"]["ns/p"]["ended_pods"] == 1  # another Performer's count is its own


def test_a_running_pod_is_not_replaced_however_old():
    seen = observed()
    seen["ns/p"]["pod"]["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    seen["ns/p"]["pod"]["status"] = {"phase": "Running"}
    entry = performer_plan([desired()], seen)["performers"]["ns/p"]
    assert entry["pod_action"] == "keep"
    assert "pod_ended" not in entry and "replace_ended_pod_after" not in entry


def test_an_ended_pod_whose_spec_changed_is_an_upgrade():
    entry = performer_plan([desired("h2")], ended(observed("h1"), age=1))["performers"]["ns/p"]
    assert entry["pod_action"] == "replace" and entry["upgrading"] and "pod_ended" not in entry


def terminating(seen: dict, *, overdue_by: float, node: str | None = "node-a") -> dict:
    """`seen` with its pod deleted, its deletion deadline (grace period included) `overdue_by` seconds
    ago (negative: still to come), on `node`."""
    pod = seen["ns/p"]["pod"]
    deadline = datetime.now(UTC) - timedelta(seconds=overdue_by)
    pod["metadata"].update(uid="uid-1", deletionTimestamp=deadline.strftime("%Y-%m-%dT%H:%M:%SZ"))
    pod["spec"] = {"nodeName": node} if node else {}
    return seen


LOST_POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": "node-a"},
            "metadata": {"name": "performer-p", "namespace": "ns", "uid": "uid-1"}}  # fmt: skip


def test_a_pod_still_terminating_past_its_deadline_is_listed_to_force_delete_with_its_node():
    plan = performer_plan([desired()], terminating(observed(), overdue_by=45), lost_pod_after=30)
    assert plan["force_delete"] == [LOST_POD]
    entry = plan["performers"]["ns/p"]
    assert entry["pod_action"] == "wait" and entry["lost_pod_node"] == "node-a"
    assert entry["force_delete_pod_after"] == 30  # looked at again while its node stays Ready
    assert plan["create"] == [] and plan["replace"] == [] and plan["delete"] == []


def test_a_pod_terminating_within_its_deadline_is_looked_at_again_once_it_is_overdue():
    for overdue_by, wait in ((10, 21), (-60, 91)):  # 10 s past the deadline; 60 s to the deadline
        seen = terminating(observed(), overdue_by=overdue_by)
        plan = performer_plan([desired()], seen, lost_pod_after=30)
        assert plan["force_delete"] == []
        entry = plan["performers"]["ns/p"]
        assert "lost_pod_node" not in entry
        assert abs(entry["force_delete_pod_after"] - wait) <= 1  # whole seconds
        deadline = seen["ns/p"]["pod"]["metadata"]["deletionTimestamp"]
        assert entry["force_delete_pod_at"] == contract.seconds_after(deadline, 30)


def test_no_pod_is_force_deleted_when_disabled_never_scheduled_or_not_terminating():
    for seen, after in ((terminating(observed(), overdue_by=3600), 0),
                        (terminating(observed(), overdue_by=3600, node=None), 30),
                        (observed(), 30)):  # fmt: skip
        plan = performer_plan([desired()], seen, lost_pod_after=after)
        assert plan["force_delete"] == []
        assert "force_delete_pod_after" not in plan["performers"]["ns/p"]


def test_a_deleted_performers_pod_left_on_its_node_is_force_deleted_before_the_graceful_delete_waits():
    plan = performer_plan([desired()], terminating(observed(), overdue_by=31), "absent", lost_pod_after=30)
    assert plan["force_delete"] == [LOST_POD]
    assert sorted(o["kind"] for o in plan["delete"]) == ["Pod", "Service"]


OWNER = [{"apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer", "name": "p", "uid": "uid-p",
          "controller": True, "blockOwnerDeletion": True}]  # fmt: skip


def owned_desired() -> dict:
    """`desired()` of a Performer in the cluster: its children carry its owner reference."""
    doc = desired()
    for kind in ("pod", "service"):
        doc[kind]["metadata"] = {**doc[kind]["metadata"], "ownerReferences": OWNER}
    return doc


def test_a_pod_and_service_no_object_owns_are_adopted_the_pod_kept_running():
    """Left by a Performer of the same name deleted with --cascade=orphan: the pod is applied with the
    owner reference (not replaced), the Service restored with it."""
    doc = owned_desired()
    plan = performer_plan([doc], observed(), "present")
    entry = plan["performers"]["ns/p"]
    assert plan["apply"] == [doc["pod"]] and plan["restore"] == [doc["service"]]
    assert plan["replace"] == [] and plan["create"] == [] and "drift" not in entry
    assert (entry["pod_action"], entry["adopted"]) == ("adopt", ["Pod", "Service"])


def test_children_the_performer_owns_or_another_object_controls_are_not_adopted():
    doc = owned_desired()
    seen = observed(service={**doc["service"]})
    seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = OWNER
    plan = performer_plan([doc], seen, "present")
    assert plan["apply"] == [] and plan["restore"] == [] and "adopted" not in plan["performers"]["ns/p"]

    other = [{**OWNER[0], "uid": "uid-of-another"}]
    seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = other
    seen["ns/p"]["service"]["metadata"] = {**doc["service"]["metadata"], "ownerReferences": other}
    plan = performer_plan([doc], seen, "present")
    assert plan["apply"] == [] and plan["restore"] == [] and "adopted" not in plan["performers"]["ns/p"]
    assert plan["performers"]["ns/p"]["pod_action"] == "keep"


def test_a_one_off_deploys_children_have_no_owner_to_adopt_them():
    plan = performer_plan([desired()], observed(), "present")
    assert plan["apply"] == [] and plan["performers"]["ns/p"]["pod_action"] == "keep"


def test_a_deletion_deletes_only_the_children_the_performer_owns():
    deleted = {"namespace": "ns", "name": "p", "uid": "uid-p", "finalizers": [contract.FINALIZER]}
    seen = observed()
    seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = OWNER
    plan = performer_plan([deleted], seen, "absent")
    entry = plan["performers"]["ns/p"]
    assert [o["kind"] for o in plan["delete"]] == ["Pod"]
    assert (entry["children_deleted"], entry["children_gone"], entry["kept"]) == (1, False, ["Service"])

    seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = [{**OWNER[0], "uid": "uid-of-another"}]
    plan = performer_plan([deleted], seen, "absent")
    entry = plan["performers"]["ns/p"]
    assert plan["delete"] == [] and (entry["children_gone"], entry["kept"]) == (True, ["Pod", "Service"])


def test_a_deletion_that_orphans_the_children_deletes_nothing_while_the_orphan_finalizer_is_on():
    deleted = {"namespace": "ns", "name": "p", "uid": "uid-p", "finalizers": [contract.FINALIZER, "orphan"]}
    seen = observed()
    seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = OWNER
    plan = performer_plan([deleted], seen, "absent")
    entry = plan["performers"]["ns/p"]
    assert plan["delete"] == [] and plan["force_delete"] == []
    assert (entry["children_gone"], entry["orphaning"]) == (False, True)


def test_a_lost_pod_a_deletion_does_not_delete_is_not_force_deleted_either():
    seen = terminating(observed(), overdue_by=31)
    for finalizers, refs in (([contract.FINALIZER, "orphan"], OWNER), ([contract.FINALIZER], [])):
        seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = refs
        deleted = {"namespace": "ns", "name": "p", "uid": "uid-p", "finalizers": finalizers}
        plan = performer_plan([deleted], seen, "absent", lost_pod_after=30)
        assert plan["force_delete"] == [] and "force_delete_pod_after" not in plan["performers"]["ns/p"]
    seen["ns/p"]["pod"]["metadata"]["ownerReferences"] = OWNER
    plan = performer_plan([deleted], seen, "absent", lost_pod_after=30)
    assert [o["metadata"]["name"] for o in plan["force_delete"]] == ["performer-p"]


def test_a_service_admission_makes_differ_is_not_restored_again_at_the_version_a_restore_left():
    """An earlier restore left the Service as it was (the API server wrote nothing): the plan's memo
    says at which resourceVersion and with which differences. The same again is admission's doing."""
    rendered = desired()["service"]
    live = {"kind": "Service", "metadata": {**rendered["metadata"], "resourceVersion": "42"},
            "spec": {**rendered["spec"], "sessionAffinity": "ClientIP"}}  # fmt: skip
    seen = observed(service=live)
    first = performer_plan([desired()], seen)
    differences = first["performers"]["ns/p"]["drift"]["service"]
    assert first["restore"] == [desired()["service"]]

    admitted = {"resourceVersion": "42", "drift": differences}
    seen["ns/p"]["memo"] = {"service_admitted": admitted}
    plan = performer_plan([desired()], seen)
    assert plan["restore"] == [] and "drift" not in plan["performers"]["ns/p"]
    assert plan["performers"]["ns/p"]["service_admitted"] == admitted

    for changed in (
        {"resourceVersion": "43", "drift": differences},  # another client wrote it since
        {"resourceVersion": "42", "drift": ["spec.ports: ..."]},
    ):  # the rendering changed
        seen["ns/p"]["memo"] = {"service_admitted": changed}
        assert performer_plan([desired()], seen)["restore"] == [desired()["service"]]


def _batch(count: int, rendered: str = "h2", live: str = "h1") -> tuple[list[dict], dict]:
    """`count` Performers p0..: each rendered with `rendered`, its live pod carrying `live`."""
    docs, seen = [], {}
    for i in range(count):
        doc = desired(rendered)
        doc["name"] = doc["pod"]["metadata"]["name"] = f"p{i}"
        docs.append(doc)
        seen[f"ns/p{i}"] = observed(live)["ns/p"]
    return docs, seen


def test_pods_rendered_differently_for_an_unchanged_spec_are_replaced_only_as_slots_allow():
    docs, seen = _batch(3)
    plan = performer_plan(docs, seen, spec_seen={"ns/p0", "ns/p1", "ns/p2"}, rollout_slots=1)
    entries = plan["performers"]
    assert [pod["metadata"]["name"] for pod in plan["replace"]] == ["p0"]
    assert entries["ns/p0"]["rollout"] == "started" and entries["ns/p0"]["upgrading"]
    for key in ("ns/p1", "ns/p2"):  # kept as they are: neither replaced nor applied
        assert entries[key]["rollout"] == "waiting" and entries[key]["pod_action"] == "keep"
        assert not entries[key]["upgrading"] and entries[key]["spec_hash"] == "h1"
    assert plan["apply"] == [] and plan["create"] == []


def test_a_changed_spec_is_replaced_whatever_the_slots_and_so_is_everything_without_a_slot_limit():
    docs, seen = _batch(2)
    plan = performer_plan(docs, seen, spec_seen={"ns/p1"}, rollout_slots=0)
    assert [pod["metadata"]["name"] for pod in plan["replace"]] == ["p0"]  # its spec changed
    assert "rollout" not in plan["performers"]["ns/p0"]
    assert plan["performers"]["ns/p1"]["rollout"] == "waiting"
    unlimited = performer_plan(docs, seen, spec_seen={"ns/p0", "ns/p1"})
    assert len(unlimited["replace"]) == 2
    assert not any("rollout" in entry for entry in unlimited["performers"].values())


def test_a_waiting_pod_that_ended_is_replaced_with_the_new_rendering_once_old_enough():
    docs, seen = _batch(1)
    pod = seen["ns/p0"]["pod"]
    pod["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    pod["status"] = {"phase": "Failed", "reason": "Evicted"}
    plan = performer_plan(docs, seen, spec_seen={"ns/p0"}, rollout_slots=0)
    entry = plan["performers"]["ns/p0"]
    assert plan["replace"] == [docs[0]["pod"]] and entry["pod_ended"]
    assert "rollout" not in entry and entry["spec_hash"] == "h2"


def test_a_wait_of_never_given_as_a_huge_number_plans_the_batch():
    """`performer_lost_pod_after_seconds` or `performer_ended_pod_min_age_seconds` of 10^12 ("never")
    overflowed the date of the deadline: the whole batch failed, its deletions too."""
    young = performer_plan([desired()], ended(observed(), age=2), ended_pod_min_age=10**12)
    assert young["replace"] == [] and young["performers"]["ns/p"]["pod_action"] == "keep"
    lost = performer_plan([desired()], terminating(observed(), overdue_by=45), lost_pod_after=10**12)
    assert lost["force_delete"] == [] and lost["performers"]["ns/p"]["pod_action"] == "wait"
