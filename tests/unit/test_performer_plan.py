"""The role's plan filter: what to apply, delete or leave alone for each Performer of a batch."""

from __future__ import annotations

import sys

from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "roles" / "performer" / "filter_plugins"))
from performer_plan import SPEC_HASH, performer_plan

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


def test_missing_pod_and_service_are_applied():
    plan = performer_plan([desired()], {"ns/p": {"pod": None, "service": None}})
    assert [o["kind"] for o in plan["apply"]] == ["Pod", "Service"]


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


def test_edited_service_selector_or_port_is_reapplied():
    drifted = desired()["service"] | {"spec": desired()["service"]["spec"] | {"selector": {"app": "x"}}}
    assert performer_plan([desired()], observed(service=drifted))["apply"] == [desired()["service"]]
    other_port = desired()["service"]["spec"] | {"ports": [{"name": "grpc", "port": 1, "targetPort": "grpc",
                                                            "protocol": "TCP"}]}  # fmt: skip
    assert performer_plan([desired()], observed(service={**drifted, "spec": other_port}))["apply"]


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
