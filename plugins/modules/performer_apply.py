#!/usr/bin/python
"""Ansible module performer_apply: server-side applies, deletes or replaces a list of objects, with
the API calls of the list issued concurrently, and one result per object in the order given.

State C(updated) restores objects that another client changed: the object is read and written back
(an update, guarded by its resourceVersion) with the given labels, owner references and spec, so
what other field managers added or changed is gone, which server-side apply cannot do. What the
API server allocated (a Service's cluster IPs) is kept; an object that cannot be restored in place
(a headless Service, an immutable field changed) is deleted and created again.

The performer role hands it every Pod and Service of a batch in one call. Results have the shape
kubernetes.core.k8s returns for a list (`result.results[i]` with `result` or `error.msg`), so one
object's failure is reported without failing the others.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: performer_apply
short_description: Server-side apply, delete or replace a list of Pods and Services concurrently
options:
  objects:
    description: The objects (core/v1 Pods and Services with metadata.namespace).
    type: list
    elements: dict
    required: true
  state:
    description:
      - C(present) applies, C(absent) deletes (a missing object counts as deleted).
      - C(replaced) deletes the existing object of the same name, waits up to I(wait_timeout)
        seconds until it is gone, then applies the given one. When it is not gone in time the
        result has C(pending=true) and nothing is applied (a later run creates it).
      - C(updated) writes the given labels, owner references and spec over the existing object
        (keeping its other labels and annotations and what the API server allocated), or deletes
        and creates it when that cannot be done in place; a missing object is created. The result
        has C(recreated=true) when it was recreated.
    type: str
    choices: [present, absent, replaced, updated]
    default: present
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: hourglass-operator
  wait:
    description: With C(absent), wait until every object is gone (up to I(wait_timeout)).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with I(wait), or for a replaced object to be gone.
    type: int
    default: 120
  kubeconfig:
    description: Path to a kubeconfig; defaults as kubernetes.core modules do.
    type: path
  context:
    description: Kubeconfig context.
    type: str
author: hourglass-operator maintainers
"""

RETURN = r"""
result:
  description: C(results), one entry per object in the order given, with C(object) (its kind,
    namespace and name) and C(result) (the object as the API server returned it) or C(error.msg);
    C(pending) when an object deleted with I(wait) (or the old object of C(replaced)) was still
    there after I(wait_timeout).
  returned: always
  type: dict
"""

import copy
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.hourglass_kube import api_client, object_path, request

CONCURRENT_CALLS = 16
STATES = ["present", "absent", "replaced", "updated"]
UPDATE_ATTEMPTS = 3  # an update that conflicts (the object changed since it was read) is retried
ALLOCATED = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")  # a Service's, kept on update
IMMUTABLE = ("field is immutable", "may not change once set")  # an update that needs a recreate


def restored(current: dict, desired: dict) -> dict:
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


def slim(obj: dict | None) -> dict:
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


def failure(status: int, body: dict | None) -> dict:
    message = (body or {}).get("message") or f"HTTP {status}"
    return {"changed": False, "error": {"msg": f"{status} {message}", "status": status}}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "objects": {"type": "list", "elements": "dict", "required": True},
            "state": {"type": "str", "choices": STATES, "default": "present"},
            "field_manager": {"type": "str", "default": "hourglass-operator"},
            "wait": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 120},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    client = api_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_CALLS)

    def apply(obj: dict) -> dict:
        query = [("fieldManager", params["field_manager"]), ("force", "true")]
        if module.check_mode:
            query.append(("dryRun", "All"))
        status, body = request(client, "PATCH", object_path(obj), query=query, body=obj,
                               content_type="application/apply-patch+yaml")  # fmt: skip
        return {"changed": True, "result": slim(body)} if status < 300 else failure(status, body)

    def gone(path: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while request(client, "GET", path)[0] != 404:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def delete(obj: dict) -> dict:
        path = object_path(obj)
        query = [("propagationPolicy", "Background")] + ([("dryRun", "All")] if module.check_mode else [])
        status, body = request(client, "DELETE", path, query=query)
        if status == 404:
            return {"changed": False, "result": {}}
        if status >= 300:
            return failure(status, body)
        if params["wait"] and not module.check_mode and not gone(path, params["wait_timeout"]):
            return {"changed": True, "pending": True, "result": slim(body)}
        return {"changed": True, "result": slim(body)}

    def replace(obj: dict) -> dict:
        path = object_path(obj)
        status, body = request(client, "DELETE", path, query=[("propagationPolicy", "Background")])
        if status >= 300 and status != 404:
            return failure(status, body)
        if not gone(path, params["wait_timeout"]):
            return {"changed": True, "pending": True, "result": {}}
        return apply(obj)

    def recreate(obj: dict) -> dict:
        return {**replace(obj), "recreated": True}

    def update(obj: dict) -> dict:
        path = object_path(obj)
        for _ in range(UPDATE_ATTEMPTS):
            status, current = request(client, "GET", path)
            if status == 404:
                return apply(obj)
            if status >= 300:
                return failure(status, current)
            if current.get("kind") == "Service" and (current.get("spec") or {}).get("clusterIP") == "None":
                return recreate(obj)  # a headless Service never gets a cluster IP in place
            query = [("fieldManager", params["field_manager"])]
            status, body = request(client, "PUT", path, query=query, body=restored(current, obj))
            if status < 300:
                return {"changed": True, "result": slim(body)}
            if status == 422 and any(s in str((body or {}).get("message")) for s in IMMUTABLE):
                return recreate(obj)
            if status != 409:
                return failure(status, body)
        return failure(status, body)

    action = {"present": apply, "absent": delete, "replaced": replace, "updated": update}[params["state"]]
    if module.check_mode and params["state"] in ("replaced", "updated"):
        action = apply  # a dry run cannot wait for a deletion that did not happen

    def guarded(obj: dict) -> dict:
        meta = obj.get("metadata") or {}
        identity = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta.get("name")}
        try:
            return {**action(obj), "object": identity}
        except Exception as error:  # one bad object must not fail the batch
            return {"changed": False, "error": {"msg": str(error)}, "object": identity}

    with ThreadPoolExecutor(max_workers=CONCURRENT_CALLS) as pool:
        results = list(pool.map(guarded, params["objects"]))
    # The objects can be megabytes large (env values): report which they were, not what they held.
    invocation = {"module_args": {**params, "objects": [r["object"] for r in results]}}
    module.exit_json(changed=any(r["changed"] for r in results), result={"results": results},
                     invocation=invocation)  # fmt: skip


if __name__ == "__main__":
    main()
