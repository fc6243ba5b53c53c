"""Which informer events call for what: a full reconcile (an ansible run), a status-only sync (the
status fast path), forgetting a resource, or nothing. Pure functions of the old and new objects;
the controller queues what they say.

- A custom resource needs a full reconcile when it appears or its generation, labels, annotations,
  deletion timestamp or uid change, or, once deleted, its finalizers (the garbage collector removes
  its `orphan` finalizer once it orphaned the children: the finalizer run waits for that); a change
  of nothing but its status needs a status sync (the status sync restores a status another client
  wrote); a deleted one is forgotten.
- A child (Pod, Service) whose spec or owner references another client edited needs a full
  reconcile of its owners (the scheduler binding a pod to a node does not count); any other change
  of it, status included, a status sync.
"""

from __future__ import annotations

from enum import Enum

from hourglass_operator.informer import Obj

RECONCILED_FIELDS = ("generation", "labels", "annotations", "deletionTimestamp", "uid")


class Need(Enum):
    NOTHING = "nothing"
    FULL = "full"  # an ansible run
    STATUS = "status"  # a status-only sync
    FORGET = "forget"  # the resource is gone


def custom_resource_change(event: str, old: Obj | None, new: Obj | None) -> Need:
    """What an event of a watched custom resource calls for."""
    if event == "DELETED":
        return Need.FORGET
    if old is None or new is None:
        return Need.FULL
    if unseen_change(old, new):
        return Need.FULL
    before, after = old["metadata"], new["metadata"]
    if after.get("deletionTimestamp") and before.get("finalizers") != after.get("finalizers"):
        return Need.FULL  # another finalizer of a deleted one went: the garbage collector's `orphan`
    if old.get("status") != new.get("status"):
        return Need.STATUS
    return Need.NOTHING


def unseen_change(seen: Obj, written: Obj) -> bool:
    """Whether `written` differs from `seen` in a field that needs a full reconcile. For the answer to
    a write of this process (a status or finalizer patch, which change none of these fields): whether
    it carries another client's change the handlers were not told of."""
    before, after = seen["metadata"], written["metadata"]
    return any(before.get(field) != after.get(field) for field in RECONCILED_FIELDS)


def child_spec_edited(old: Obj | None, new: Obj | None) -> bool:
    """Whether another client edited a child's spec or owner references (the scheduler binding a
    pod to a node does not count). Creation, deletion and label changes are left to the status
    sync, which reports a lost pod at once and escalates when our labels changed."""
    if old is None or new is None:
        return False

    def shape(obj: Obj) -> tuple:
        spec = dict(obj.get("spec") or {})
        spec.pop("nodeName", None)
        return obj["metadata"].get("ownerReferences"), spec

    return shape(old) != shape(new)


def child_change(old: Obj | None, new: Obj | None, *, status_sync: bool) -> Need:
    """What a change of a child calls for, for each of its owners: without a status sync every
    change needs a full reconcile."""
    return Need.FULL if not status_sync or child_spec_edited(old, new) else Need.STATUS
