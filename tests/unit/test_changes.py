"""Which informer events call for a full reconcile, a status-only sync, forgetting, or nothing."""

from __future__ import annotations

import pytest

from hourglass_operator.changes import Need, child_change, child_spec_edited, custom_resource_change


def cr(**meta) -> dict:
    status = meta.pop("status", {})
    return {
        "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "generation": 1, **meta},
        "status": status,
    }


@pytest.mark.parametrize(
    ("change", "need"),
    [
        ({"generation": 2}, Need.FULL),
        ({"labels": {"x": "y"}}, Need.FULL),
        ({"annotations": {"x": "y"}}, Need.FULL),
        ({"deletionTimestamp": "2026-01-01T00:00:00Z"}, Need.FULL),
        ({"uid": "u2"}, Need.FULL),  # deleted and created again between two events
        ({"status": {"phase": "Failed"}}, Need.STATUS),
        ({"resourceVersion": "9", "managedFields": []}, Need.NOTHING),
    ],
)
def test_a_change_of_a_custom_resource(change, need):
    assert custom_resource_change("MODIFIED", cr(), cr(**change)) is need


def test_a_finalizer_of_a_deleted_custom_resource_going_is_a_change_before_its_deletion_not():
    """The garbage collector removes the `orphan` finalizer once it orphaned the children: the
    finalizer run waits for that. Adding ours to a live one is nothing to reconcile."""
    deleting = {"deletionTimestamp": "2026-01-01T00:00:00Z"}
    before, after = cr(**deleting, finalizers=["f", "orphan"]), cr(**deleting, finalizers=["f"])
    assert custom_resource_change("MODIFIED", before, after) is Need.FULL
    assert custom_resource_change("MODIFIED", cr(), cr(finalizers=["f"])) is Need.NOTHING


def test_a_custom_resource_appearing_or_going():
    assert custom_resource_change("ADDED", None, cr()) is Need.FULL
    assert custom_resource_change("DELETED", cr(), None) is Need.FORGET


def pod(node: str = "", image: str = "img:1", owner: str = "a", phase: str = "Pending") -> dict:
    return {
        "metadata": {"name": "performer-a", "ownerReferences": [{"name": owner}]},
        "spec": {"nodeName": node, "containers": [{"image": image}]},
        "status": {"phase": phase},
    }


def test_another_clients_edit_of_a_childs_spec_or_owners_is_an_edit_binding_and_status_are_not():
    assert not child_spec_edited(pod(), pod(node="kwok-0", phase="Running"))
    assert child_spec_edited(pod(), pod(image="evil:1"))
    assert child_spec_edited(pod(), pod(owner="b"))
    assert not child_spec_edited(None, pod()) and not child_spec_edited(pod(), None)


def test_a_child_change_needs_a_status_sync_unless_edited_or_there_is_no_status_sync():
    assert child_change(pod(), pod(phase="Running"), status_sync=True) is Need.STATUS
    assert child_change(pod(), pod(image="evil:1"), status_sync=True) is Need.FULL
    assert child_change(pod(), pod(phase="Running"), status_sync=False) is Need.FULL
