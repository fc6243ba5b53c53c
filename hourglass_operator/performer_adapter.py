"""What the generic loop (watch → queue → batch → ansible-runner) needs to know about Performers:
their children (Pod and Service `performer-<name>`, labelled `app=hourglass-performer` and with the
owner label), how a child names its owner, what the role receives of the children it already has,
the batch's variable names in the role's interface, and how to delete the children directly when
a finalizer run reported nothing. The controller depends on the `controller.KindAdapter` protocol,
which this implements.
"""

from __future__ import annotations

from typing import ClassVar

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from hourglass_operator.informer import Obj
from hourglass_operator.unreported import delete_children

OWNER_LABEL = contract.OWNER_LABEL
CHILD_SELECTOR = contract.CHILD_SELECTOR
CHILD_PATHS = {"pod": "/api/v1/{ns}pods", "service": "/api/v1/{ns}services"}


def observed_view(obj: Obj | None) -> Obj | None:
    """What a reconcile needs of a child: identity, creation time (an ended pod is replaced once old
    enough), labels, annotations (the spec hash), deletion, its spec (the role compares the fields
    that matter with what it renders: another client may have changed them), and for a Pod its
    phase, reason, message, conditions and why its containers wait. The rest of a pod's status
    stays out: it changes all the time and nothing reads it."""
    if obj is None:
        return None
    meta = obj["metadata"]
    view: Obj = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in (
            "name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations",
            "deletionTimestamp", "ownerReferences") if k in meta},
        "spec": obj.get("spec") or {},
    }  # fmt: skip
    if obj.get("kind") == "Pod":
        status = obj.get("status") or {}
        view["status"] = {k: status[k] for k in ("phase", "reason", "message") if k in status}
        view["status"]["conditions"] = [
            {k: c[k] for k in ("type", "status", "reason", "message") if k in c}
            for c in status.get("conditions") or []
        ]
        for kind in ("initContainerStatuses", "containerStatuses"):
            if status.get(kind):
                view["status"][kind] = [_container_view(c) for c in status[kind]]
    return view


def _container_view(container: Obj) -> Obj:
    """What the status reads of a container's status: why it waits and how it last exited."""
    waiting = (container.get("state") or {}).get("waiting")
    exited = (container.get("lastState") or {}).get("terminated")
    view: Obj = {"name": container.get("name")}
    if waiting:
        view["state"] = {"waiting": {k: waiting[k] for k in ("reason", "message") if k in waiting}}
    if exited:
        view["lastState"] = {"terminated": {k: exited[k] for k in ("reason", "exitCode") if k in exited}}
    return view


class PerformerAdapter:
    child_paths = CHILD_PATHS  # child kind -> list path ({ns}: "namespaces/<ns>/" or "")
    child_selector = CHILD_SELECTOR
    state_var = "performer_state"  # "present" or "absent" (a finalizer's vars set it to "absent")
    items_var = "performers"  # the batch: one item of extra vars per custom resource
    # The loop waits for a deleted Performer's children on its informers (controller.awaiting_children)
    # instead of the role polling each of them until gone.
    absent_vars: ClassVar[dict[str, bool]] = {"performer_wait_for_deleted_children": False}

    def __init__(self, kind: str, group: str) -> None:
        self.kind, self.group = kind, group

    def owners(self, child: Obj) -> set[str]:
        """The names of the custom resources a child's owner label and controller reference name."""
        meta = child["metadata"]
        owners = {(meta.get("labels") or {}).get(OWNER_LABEL)}
        for ref in meta.get("ownerReferences") or []:
            ref_group = ref.get("apiVersion", "").split("/")[0]
            if ref.get("controller") and ref.get("kind") == self.kind and ref_group == self.group:
                owners.add(ref.get("name"))
        return {owner for owner in owners if owner}

    def child_key(self, namespace: str, cr_name: str) -> str:
        return f"{namespace}/{contract.child_name(cr_name)}"

    def observed_vars(self, children: dict[str, Obj | None], memo: Obj | None = None) -> Obj:
        """The extra vars of one item that say what the loop already observed of its children, and
        the memo the resource's last run left for the next (performer_plan's `memo`)."""
        observed: Obj = {kind: observed_view(child) for kind, child in children.items()}
        return {"_hourglass_observed": {**observed, **({"memo": memo} if memo else {})}}

    def delete_children(
        self, core: kubernetes.client.CoreV1Api, namespace: str, cr_name: str, kinds: list[str]
    ) -> list[str]:
        """Deletes the children of `kinds` directly; the kinds still present afterwards. API errors
        propagate."""
        return delete_children(core, namespace, cr_name, kinds)
