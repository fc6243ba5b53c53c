"""What the performer_apply module does: create, server-side apply, delete, replace or restore a
list of core/v1 objects, the API calls of the list issued concurrently, one result per object in
the order given (the shape kubernetes.core.k8s returns for a list: `result` or `error.msg`), so
one object's failure is reported without failing the others.

State `created` creates objects the caller saw missing with a plain create, which costs the API
server and etcd less CPU than a server-side apply that creates (the role's Pod: 8-11 against
12-15 ms, docs/benchmarks.md, round 6); one that exists by then (the caller's view was stale) is
server-side applied. The created object's fields belong to the field manager's update entry rather
than its apply entry, which changes nothing here: what the role later writes to an object either only adds
and changes labels (server-side apply, with force) or restores it whole (`updated`). With
`create_by_apply` every creation is a server-side apply, as under ansible-operator, whose proxy adds
an owner reference (a second one, besides the role's) to every create it forwards, not to applies.

State `updated` restores objects that another client changed: the object is read and written back
(an update, guarded by its resourceVersion) with the given labels, owner references and spec, so
what other field managers added or changed is gone, which server-side apply cannot do. What the
API server allocated (a Service's cluster IPs) is kept; an object that cannot be restored in place
(a headless Service, an immutable field changed) is deleted and created again. An update the API
server answers with the object unchanged (same resourceVersion: admission made the written object
into the live one again, a policy setting a Service's session affinity, say) is `changed: false`.

State `lost` deletes terminating pods that their node never confirmed gone: each given as a
reference with its uid and `spec.nodeName`. The node is read first; only when it is not Ready (or no
longer exists) is the pod deleted with a grace period of 0 (what `kubectl delete --force` does),
guarded by its uid so a newer pod of the same name is never touched. A node that is Ready again
leaves the pod to its kubelet (`node_ready` in the result); another controller's finalizers that
still keep the pod are reported as an error naming them.

`ObjectWriter` takes the REST call as a function (`hourglass_kube.request` bound to a client), so
unit tests drive it with a fake API server.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    api_message,
    collection_path,
    object_path,
    resource_version,
)

CONCURRENT_CALLS = 16
STATES = ("created", "present", "absent", "replaced", "updated", "lost")
UPDATE_ATTEMPTS = 3  # an update that conflicts (the object changed since it was read) is retried
ALLOCATED = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")  # a Service's, kept on update
IMMUTABLE = ("field is immutable", "may not change once set")  # an update that needs a recreate
POLL_SECONDS = 0.2  # how often a deletion being waited for is checked
# Refusals of a replacement pod's dry-run create that its real create, after the old pod's deletion,
# may not meet: a quota the old pod fills, a webhook that cannot be asked in a dry run.
REPLACEMENT_CHECK_PASSES = ("exceeded quota", "failed quota", "status unknown for quota", "dry run")

Obj = dict[str, Any]
# (method, path, query=..., body=..., content_type=...) -> (HTTP status, decoded body)
Call = Callable[..., tuple[int, Any]]


def restored(current: Obj, desired: Obj) -> Obj:
    """`current` with the labels, owner references and spec of `desired`: what an update writes."""
    body = copy.deepcopy(current)
    body.pop("status", None)
    meta, wanted = body["metadata"], desired.get("metadata") or {}
    meta.pop("managedFields", None)
    meta["labels"] = {**(meta.get("labels") or {}), **(wanted.get("labels") or {})}
    meta["annotations"] = {**(meta.get("annotations") or {}), **(wanted.get("annotations") or {})}
    if wanted.get("ownerReferences"):
        meta["ownerReferences"] = wanted["ownerReferences"]
    spec = copy.deepcopy(desired.get("spec") or {})
    if current.get("kind") == "Service":
        have = current.get("spec") or {}
        spec.update({k: have[k] for k in ALLOCATED if k in have and k not in spec})
    body["spec"] = spec
    return body


def slim(obj: Obj | None) -> Obj:
    """What the status module needs of an applied object; full objects would make every batch's
    result (and ansible-runner's events) megabytes large."""
    if not obj:
        return {}
    meta = obj.get("metadata") or {}
    kept = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": {
        k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "annotations", "labels",
                             "deletionTimestamp") if k in meta}}  # fmt: skip
    if obj.get("kind") == "Pod":
        kept["spec"] = {"nodeName": (obj.get("spec") or {}).get("nodeName")}
        kept["status"] = obj.get("status") or {}
    return kept


def as_registered(results: list[Obj], state: str) -> Obj:
    """What a task writing objects in `state` registers for their `results` (none: what a skipped
    task registers)."""
    if not results:
        return {"changed": False, "skipped": True, "skip_reason": "no objects"}
    # The objects can be megabytes large (env values): report which they were, not what they held.
    return {
        "changed": any(r["changed"] for r in results),
        "result": {"results": results},
        "invocation": {"module_args": {"state": state, "objects": [r["object"] for r in results]}},
    }


def service_needs_recreate(live: Obj) -> bool:
    """A headless Service (clusterIP None) cannot get a cluster IP in place: it must be recreated."""
    return live.get("kind", "Service") == "Service" and (live.get("spec") or {}).get("clusterIP") == "None"


def namespace_terminating(body: Obj | None) -> bool:
    """Whether the API server refused a create because the object's namespace is being deleted
    (403 Forbidden, cause NamespaceTerminating): no retry can succeed, and the namespace controller
    deletes whatever is in it."""
    if not isinstance(body, dict):
        return False
    causes = (body.get("details") or {}).get("causes") or []
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes)


def failure(status: int, body: Obj | None) -> Obj:
    message = api_message(body) or f"HTTP {status}"
    error = {"msg": f"{status} {message}", "status": status}
    if status == 403 and namespace_terminating(body):
        error["namespace_terminating"] = True
    return {"changed": False, "error": error}


def kept(result: Obj, obj: Obj) -> Obj:
    """`result`, the failure of a replacement of `obj` before its deletion, saying that the old pod is
    left in place (`kept_pod`: the Performer's status reports it, still serving)."""
    if obj.get("kind") == "Pod":
        result["error"]["kept_pod"] = True
    return result


def node_is_ready(node: Obj | None) -> bool:
    """Whether a Node's Ready condition is True (its kubelet reports in)."""
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def identity(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    return {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta.get("name")}


class ObjectWriter:
    """Writes lists of objects through `call`; see the module docstring for the states."""

    def __init__(
        self,
        call: Call,
        *,
        field_manager: str,
        check_mode: bool = False,
        wait: bool = False,
        wait_timeout: float = 120,
        create_by_apply: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stop_waiting: Callable[[], bool] = lambda: False,
    ) -> None:
        """`stop_waiting`: whether to give up waiting for a deletion before `wait_timeout` (the runner
        loop says so while other work waits for the run)."""
        self.call = call
        self.field_manager = field_manager
        self.check_mode = check_mode
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.create_by_apply = create_by_apply
        self.clock, self.sleep = clock, sleep
        self.stop_waiting = stop_waiting
        # A node's answer, read once per call whatever the number of its pods: a node that dies takes
        # all its performers' pods with it, and the taint manager deletes them together.
        self._nodes: dict[str, tuple[int, Any]] = {}
        self._nodes_lock = threading.Lock()

    def write(self, objects: list[Obj], state: str) -> list[Obj]:
        """One result per object, in order; each has `object` (kind, namespace, name) and `changed`."""
        self._action(state)  # an unknown state fails the call, not each object
        with ThreadPoolExecutor(max_workers=CONCURRENT_CALLS) as pool:
            return list(pool.map(lambda obj: self.write_one(obj, state), objects))

    def write_one(self, obj: Obj, state: str, on_waiting: Callable[[], None] | None = None) -> Obj:
        """The result of writing one object in `state`: an error is reported in it, never raised.
        `on_waiting` is called once when a replacement begins to wait for the old object to go."""
        try:
            return {**self._action(state, on_waiting)(obj), "object": identity(obj)}
        except Exception as error:  # one bad object must not fail the batch
            return {"changed": False, "error": {"msg": str(error)}, "object": identity(obj)}

    def _action(self, state: str, on_waiting: Callable[[], None] | None = None) -> Callable[[Obj], Obj]:
        if state not in STATES:
            raise ValueError(f"state: {state!r} is not one of {', '.join(STATES)}")
        if self.check_mode and state in ("replaced", "updated"):
            return self.apply  # a dry run cannot wait for a deletion that did not happen
        return {"created": self.create, "present": self.apply, "absent": self.delete, "updated": self.update,
                "replaced": lambda obj: self.replace(obj, on_waiting),
                "lost": self.delete_lost}[state]  # fmt: skip

    def apply(self, obj: Obj) -> Obj:
        query = [("fieldManager", self.field_manager), ("force", "true")]
        if self.check_mode:
            query.append(("dryRun", "All"))
        status, body = self.call("PATCH", object_path(obj), query=query, body=obj,
                                 content_type="application/apply-patch+yaml")  # fmt: skip
        return {"changed": True, "result": slim(body)} if status < 300 else failure(status, body)

    def create(self, obj: Obj) -> Obj:
        if self.create_by_apply:
            return self.apply(obj)
        query = [("fieldManager", self.field_manager)] + ([("dryRun", "All")] if self.check_mode else [])
        status, body = self.call("POST", collection_path(obj), query=query, body=obj)
        if status == 409:  # it exists after all
            return self.apply(obj)
        return {"changed": True, "result": slim(body)} if status < 300 else failure(status, body)

    def gone(self, path: str, on_waiting: Callable[[], None] | None = None) -> bool:
        """Whether the object at `path` is gone within the wait timeout (looked at once at least, and
        no longer once `stop_waiting` says so). `on_waiting` is called once, when the first look finds
        it still there and the wait goes on."""
        deadline = self.clock() + self.wait_timeout
        while self.call("GET", path)[0] != 404:
            if self.clock() > deadline or self.stop_waiting():
                return False
            if on_waiting:
                on_waiting()
                on_waiting = None
            self.sleep(POLL_SECONDS)
        return True

    def delete(self, obj: Obj) -> Obj:
        path = object_path(obj)
        query = [("propagationPolicy", "Background")] + ([("dryRun", "All")] if self.check_mode else [])
        status, body = self.call("DELETE", path, query=query)
        if status == 404:
            return {"changed": False, "result": {}}
        if status >= 300:
            return failure(status, body)
        if self.check_mode:
            return {"changed": True, "result": slim(body)}
        if self.wait:
            pending = not self.gone(path)
        else:  # gone at once (a Status, or the object as it was) or still terminating
            pending = bool(((body or {}).get("metadata") or {}).get("deletionTimestamp"))
        return {"changed": True, "result": slim(body), **({"pending": True} if pending else {})}

    def delete_lost(self, obj: Obj) -> Obj:
        node = (obj.get("spec") or {}).get("nodeName")
        with self._nodes_lock:  # only lost pods wait on it, and only for their node's one read
            if node not in self._nodes:
                self._nodes[node] = self.call("GET", f"/api/v1/nodes/{node}")
            status, body = self._nodes[node]
        if status == 200 and node_is_ready(body):
            return {"changed": False, "result": {}, "node_ready": True}
        if status not in (200, 404):
            reason = api_message(body) or f"HTTP {status}"
            return failure(status, {"message": f"cannot read the pod's node {node}: {reason}"})
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                   "preconditions": {"uid": obj["metadata"]["uid"]}}  # fmt: skip
        query = [("dryRun", "All")] if self.check_mode else []
        status, body = self.call("DELETE", object_path(obj), query=query, body=options)
        if status in (404, 409):  # gone, or a newer pod of that name (the uid precondition failed)
            return {"changed": False, "result": {}}
        if status >= 300:
            return failure(status, body)
        deleted = body if isinstance(body, dict) and body.get("kind") == "Pod" else {}  # else a Status
        held_by = (deleted.get("metadata") or {}).get("finalizers")
        if held_by and not self.check_mode:  # another controller's finalizers keep it, whatever we do
            return {"changed": False, "error": {"msg": f"the pod's finalizers {', '.join(held_by)} keep it"}}
        return {"changed": True, "result": {}}

    def replace(self, obj: Obj, on_waiting: Callable[[], None] | None = None) -> Obj:
        """Deletes the object, waits for it to go and creates it again. A replacement that fails before
        the deletion (its new pod refused, the DELETE refused, or not answered and the pod found still
        there) leaves the old pod in place, and its error says so (`kept_pod`): the Performer serves
        on it."""
        path = object_path(obj)
        try:
            refused = self.refused_replacement(obj)
        except Exception as error:  # nothing deleted yet
            return kept({"changed": False, "error": {"msg": str(error)}}, obj)
        if refused is not None:
            return refused
        try:
            status, body = self.call("DELETE", path, query=[("propagationPolicy", "Background")])
        except Exception as error:
            return self._kept_unless_deleted({"changed": False, "error": {"msg": str(error)}}, obj, path)
        if status >= 300 and status != 404:
            return self._kept_unless_deleted(failure(status, body), obj, path)
        if not self.gone(path, on_waiting):
            return {"changed": True, "pending": True, "result": {}}
        return self.create(obj)

    def _kept_unless_deleted(self, result: Obj, obj: Obj, path: str) -> Obj:
        """`result`, a DELETE that failed, saying that the old pod is kept when it is still there and
        not being deleted: a DELETE without an answer (a timeout, an etcd timeout's 500) may have been
        carried out all the same."""
        try:
            status, live = self.call("GET", path)
        except Exception:
            return result
        if status < 300 and not ((live or {}).get("metadata") or {}).get("deletionTimestamp"):
            return kept(result, obj)
        return result

    def refused_replacement(self, obj: Obj) -> Obj | None:
        """The failure of a replacement pod the API server refuses, found before the pod it replaces
        is deleted (None: it may go ahead). The pod's name is taken by the old one, so the check is a
        dry-run create under a generated name. An edit whose pod cannot exist (an invalid field, a
        PriorityClass or RuntimeClass that does not exist, a policy) then leaves the Performer serving
        on its old pod instead of with none. A refusal for a quota does not count (the old pod's
        deletion makes room), nor one by a webhook that cannot be asked in a dry run, nor one in a
        namespace being deleted (the real create says so)."""
        if obj.get("kind") != "Pod":
            return None
        meta = {k: v for k, v in obj["metadata"].items() if k != "name"}
        probe = {**obj, "metadata": {**meta, "generateName": f"{obj['metadata']['name']}-"}}
        query = [("fieldManager", self.field_manager), ("dryRun", "All")]
        status, body = self.call("POST", collection_path(obj), query=query, body=probe)
        message = api_message(body)
        passes = any(s in message for s in REPLACEMENT_CHECK_PASSES) or namespace_terminating(body)
        if status < 300 or status == 409 or passes:
            return None
        result = kept(failure(status, body), obj)
        error = result["error"]
        error["msg"] = f"{error['msg']} (the new pod was refused: the pod it would replace is left in place)"
        if status == 422:  # invalid: only another spec can be admitted
            error["invalid"] = True
        return result

    def recreate(self, obj: Obj) -> Obj:
        return {**self.replace(obj), "recreated": True}

    def update(self, obj: Obj) -> Obj:
        path = object_path(obj)
        status, body = 0, None
        for _ in range(UPDATE_ATTEMPTS):
            status, current = self.call("GET", path)
            if status == 404:
                return self.create(obj)
            if status >= 300:
                return failure(status, current)
            if current.get("kind") == "Service" and service_needs_recreate(current):
                return self.recreate(obj)  # a headless Service never gets a cluster IP in place
            query = [("fieldManager", self.field_manager)]
            status, body = self.call("PUT", path, query=query, body=restored(current, obj))
            if status < 300:
                # The API server writes nothing for an update that leaves the object as it was: what
                # differed from the rendered object is what admission makes of it, not another
                # client's doing, and nothing was restored.
                kept = resource_version(body) == resource_version(current)
                return {"changed": not kept, "result": slim(body)}
            if status == 422 and any(s in str((body or {}).get("message")) for s in IMMUTABLE):
                return self.recreate(obj)
            if status != 409:
                return failure(status, body)
        return failure(status, body)
