"""Events say each change once; an Event's name is a digest of its type, reason and kept message."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    compute_status,
    event_object,
    transitions,
)

pytestmark = pytest.mark.unit

NOW, LATER, LAST = "2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z", "2026-11-22T11:00:00Z"
SOON = "2026-11-22T10:01:00Z"  # before an unschedulable pod stalls the Performer (300 s)
PERFORMER = {"apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer",
             "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "generation": 1}}  # fmt: skip


def performer(status: dict | None = None) -> dict:
    return {**PERFORMER, "status": status or {}}


def ready_pod() -> dict:
    return {"metadata": {"name": "performer-p"}, "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip


def unschedulable(message: str) -> dict:
    scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    return {"metadata": {"name": "performer-p"}, "spec": {},
            "status": {"phase": "Pending", "conditions": [scheduled]}}  # fmt: skip


def test_a_new_reason_the_scheduler_gives_is_said_again_the_same_one_is_not() -> None:
    first = compute_status(performer(), unschedulable("0/3 nodes: Insufficient cpu"), now=NOW)
    same = compute_status(performer(first), unschedulable("0/3 nodes: Insufficient cpu"), now=SOON)
    assert transitions(first, same) == []
    other = compute_status(performer(first), unschedulable("0/4 nodes: Insufficient memory"), now=SOON)
    assert transitions(first, other) == [("Warning", "Unschedulable", "0/4 nodes: Insufficient memory")]


def test_another_reconcile_error_is_said_again_the_same_one_is_not() -> None:
    failed = compute_status(performer(), None, error="apply: 500 etcd timeout", now=NOW)
    again = compute_status(performer(failed), None, error="apply: 500 etcd timeout", now=LATER)
    assert transitions(failed, again) == []
    other = compute_status(performer(failed), None, error="apply: 403 forbidden", now=LATER)
    assert transitions(failed, other) == [("Warning", "ReconcileFailed", "apply: 403 forbidden")]


def test_a_stall_is_said_when_it_begins_not_on_every_run_after() -> None:
    stalled = compute_status(performer(), None, error="bad gpuType", permanent=True, now=NOW)
    assert ("Warning", "Stalled", "InvalidSpec: bad gpuType") in transitions({}, stalled)
    still = compute_status(performer(stalled), None, error="bad gpuType", permanent=True, now=LATER)
    assert transitions(stalled, still) == []


def test_a_second_upgrade_moves_last_upgrade_and_is_said() -> None:
    ready = compute_status(performer(), ready_pod(), now=NOW)
    first = compute_status(performer(ready), None, upgrading=True, upgraded_at=NOW, now=NOW)
    again = compute_status(performer(first), ready_pod(), now=LATER)
    second = compute_status(performer(again), None, upgrading=True, upgraded_at=LAST, now=LAST)
    assert second["lastUpgrade"] == LAST
    assert ("Normal", "Upgrading", "replacing the pod: its rendered spec changed") in transitions(
        again, second
    )


def test_an_events_message_is_cut_to_1024_characters_and_its_name_follows_what_is_kept() -> None:
    long = "a" * 1024
    first = event_object(PERFORMER, "Warning", "ReconcileFailed", long + "b", "hourglass", NOW)
    second = event_object(PERFORMER, "Warning", "ReconcileFailed", long + "c", "hourglass", NOW)
    assert (first["message"], first["count"]) == (long, 1)
    assert first["metadata"]["name"] == second["metadata"]["name"]


def test_events_that_differ_only_in_type_are_different_events() -> None:
    normal = event_object(PERFORMER, "Normal", "Adopted", "adopted", "hourglass", NOW)
    warning = event_object(PERFORMER, "Warning", "Adopted", "adopted", "hourglass", NOW)
    assert normal["metadata"]["name"] != warning["metadata"]["name"]
    assert normal["metadata"]["name"].startswith("p.")
