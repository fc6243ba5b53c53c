#!/usr/bin/python
"""Ansible module performer_status: writes the status of a batch of Performers and emits Events.

It receives what the role rendered, observed and applied, computes each Performer's status with
module_utils/performer_status.py, patches the status subresource only where it changed, creates
an Event for each transition, and returns one result per Performer. The runner loop reads them (to
retry failed Performers with back-off and release finalizers) from `results_file`, because
ansible-runner drops event payloads over 700 kB; for the same reason the invocation it reports
names the batch's Performers instead of echoing the batch.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: performer_status
short_description: Update the status of Performers from their observed Pods and Services
description:
  - Computes phase, ready, endpoint, readyTime, lastUpgrade, observedGeneration and the Ready,
    Scheduled and Reconciled conditions of each Performer, patches the status subresource when it
    changed and records Kubernetes Events on transitions.
options:
  batch:
    description: The role's batch, one item per Performer with the Performer object
      (C(_hourglass_eigenlayer_io_performer)) and what was observed of its Pod and Service
      (C(_hourglass_observed)).
    type: list
    elements: dict
    required: true
  observed:
    description: Pod and Service per C(namespace/name) when the items carry none (single-Performer runs).
    type: dict
    default: {}
  plan:
    description: What the role's plan (C(performer_plan) filter) says of each Performer (its
      C(performers) entries by C(namespace/name)) - render errors, pod actions, upgrades.
    type: dict
    required: true
  applied:
    description: The registered result of the apply task (may be skipped).
    type: dict
    default: {}
  updated:
    description: The registered result of the task restoring Services that drifted (may be skipped).
    type: dict
    default: {}
  replaced:
    description: The registered result of the replace task (may be skipped).
    type: dict
    default: {}
  deleted:
    description: The registered result of the delete task (may be skipped).
    type: dict
    default: {}
  state:
    description: C(present) for a reconcile, C(absent) for a finalizer run.
    type: str
    choices: [present, absent]
    default: present
  field_manager:
    description: Name used as the Events' reporting component.
    type: str
    default: hourglass-operator
  cluster_domain:
    description: Cluster DNS suffix of C(status.grpcEndpoint).
    type: str
    default: cluster.local
  results_file:
    description: Also append the results there, one JSON object per line (how the runner loop
      reads them whatever the batch's size). Not set under the operator-sdk ansible-operator.
    type: path
  kubeconfig:
    description: Path to a kubeconfig; defaults as kubernetes.core modules do.
    type: path
  context:
    description: Kubeconfig context.
    type: str
author: hourglass-operator maintainers
"""

RETURN = r"""
results:
  description: One entry per Performer.
  returned: always
  type: list
  elements: dict
  contains:
    namespace: {description: Namespace., type: str}
    name: {description: Name., type: str}
    phase: {description: The phase written., type: str}
    ready: {description: The ready flag written., type: bool}
    error: {description: Why the reconcile failed, or null., type: str}
    children_gone: {description: With state=absent, whether Pod and Service no longer exist., type: bool}
    baseline:
      description: After a successful reconcile, what it established (spec hash and labels of the
        pod, resourceVersion of the Service, cluster domain); the runner loop uses it to keep the
        status in step with pod status changes without an ansible run. Null otherwise.
      type: dict
"""

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.hourglass_kube import api_client, request
from ansible.module_utils.performer_status import (
    child_name,
    compute_status,
    event_object,
    now_rfc3339,
    transitions,
)

GROUP = "hourglass.eigenlayer.io"
VERSION = "v1alpha1"
PLURAL = "performers"
CONCURRENT_WRITES = 16


def results_by_object(registered: dict) -> dict:
    """The results of a performer_apply task by (kind, namespace, name)."""
    if not registered or registered.get("skipped"):
        return {}
    return {
        (r["object"]["kind"], r["object"]["namespace"], r["object"]["name"]): r
        for r in registered["result"]["results"]
    }


def error_of(result: dict | None) -> str | None:
    error = (result or {}).get("error")
    if not error:
        return None
    return error.get("msg") or str(error)


def invocation(params: dict) -> dict:
    """What the result reports of the module's arguments: the scalars, and the keys of the batch
    rather than the batch (which holds whole Performers and can be megabytes large)."""
    args = {k: v for k, v in params.items() if k not in ("batch", "observed", "plan", "applied",
                                                          "replaced", "deleted")}  # fmt: skip
    metas = [item["_hourglass_eigenlayer_io_performer"]["metadata"] for item in params["batch"]]
    args["batch"] = [f"{meta['namespace']}/{meta['name']}" for meta in metas]
    return {"module_args": args}


def write_results(path: str, results: list) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in results)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(lines)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "batch": {"type": "list", "elements": "dict", "required": True},
            "observed": {"type": "dict", "default": {}},
            "plan": {"type": "dict", "required": True},
            "applied": {"type": "dict", "default": {}},
            "updated": {"type": "dict", "default": {}},
            "replaced": {"type": "dict", "default": {}},
            "deleted": {"type": "dict", "default": {}},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "field_manager": {"type": "str", "default": "hourglass-operator"},
            "cluster_domain": {"type": "str", "default": "cluster.local"},
            "results_file": {"type": "path"},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    import kubernetes

    client = api_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_WRITES)
    custom = kubernetes.client.CustomObjectsApi(client)
    core = kubernetes.client.CoreV1Api(client)
    plan = params["plan"]
    applied = results_by_object(params["applied"])
    updated = results_by_object(params["updated"])
    replaced = results_by_object(params["replaced"])
    deleted = results_by_object(params["deleted"])
    now = now_rfc3339()

    def reconcile_status(item: dict) -> dict:
        performer = item["_hourglass_eigenlayer_io_performer"]
        meta = performer["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        key, child = f"{namespace}/{name}", child_name(name)
        entry = plan.get(key, {})
        pod_key, service_key = ("Pod", namespace, child), ("Service", namespace, child)
        pod_result = applied.get(pod_key) or replaced.get(pod_key)
        service_result = applied.get(service_key) or updated.get(service_key)
        object_results = [pod_result, service_result, deleted.get(pod_key), deleted.get(service_key)]
        errors = [entry.get("error")] + [error_of(r) for r in object_results]
        error = "; ".join(e for e in errors if e) or None

        observed = item.get("_hourglass_observed") or params["observed"].get(key) or {}
        pod, service = observed.get("pod"), observed.get("service")
        pod_written = bool(
            pod_result and not error_of(pod_result) and (pod_result.get("result") or {}).get("metadata")
        )
        if pod_written:
            # The pod was created (or relabelled) earlier in this run and may have been scheduled,
            # started or become ready since: report what it is now, not what the apply returned.
            pod = fresh_pod(namespace, child) or pod_result["result"]
        elif entry.get("pod_action") == "replace":
            pod = None  # the old pod is terminating; its replacement comes with the run its deletion triggers
        if service_result and not error_of(service_result):
            service = service_result.get("result") or service
        status = compute_status(
            performer,
            pod,
            deleting=params["state"] == "absent" or bool(meta.get("deletionTimestamp")),
            upgrading=bool(entry.get("upgrading")),
            error=error,
            upgraded_at=entry.get("upgraded_at"),
            now=now,
            cluster_domain=params["cluster_domain"],
        )
        previous = performer.get("status") or {}
        patched = False
        if status != previous and not module.check_mode:
            try:
                custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": status}
                )
                patched = True
            except kubernetes.client.ApiException as exc:
                if exc.status != 404:  # a Performer deleted meanwhile needs no status
                    error = error or f"status update failed: {exc.status} {exc.reason}"
        events = (transitions(previous, status) if patched else []) + drift_events(entry, error)
        for event_type, reason, message in events:
            with contextlib.suppress(kubernetes.client.ApiException):  # best effort: status says it all
                core.create_namespaced_event(
                    namespace,
                    event_object(performer, event_type, reason, message, params["field_manager"], now),
                )
        return {
            "namespace": namespace,
            "name": name,
            "phase": status["phase"],
            "ready": status["ready"],
            "error": error,
            "patched": patched,
            "children_gone": children_gone(entry, [deleted.get(pod_key), deleted.get(service_key)]),
            "baseline": baseline(entry, service, error, pod_written),
        }

    def drift_events(entry: dict, error: str | None) -> list:
        """A Warning for each child another client changed, saying what this run did about it."""
        found = entry.get("drift") or {}
        events = []
        if found.get("pod"):
            events.append(("Warning", "PodDrifted", "replacing the pod, changed by another client: "
                           + "; ".join(found["pod"])))  # fmt: skip
        if found.get("service"):
            outcome = "could not restore" if error else "restored"
            events.append(("Warning", "ServiceDrifted", f"{outcome} the Service, changed by another client: "
                           + "; ".join(found["service"])))  # fmt: skip
        return events

    def children_gone(entry: dict, deletions: list) -> bool:
        """Whether a deleted Performer's Pod and Service are gone: none was left, or this run deleted
        every one that was and saw it disappear."""
        done = [r for r in deletions if r and not r.get("pending") and not error_of(r)]
        return bool(entry.get("children_gone")) or (
            params["state"] == "absent" and len(done) == entry.get("children_deleted", -1)
        )

    def fresh_pod(namespace: str, name: str) -> dict | None:
        status, body = request(client, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        return body if status == 200 else None

    def baseline(entry: dict, service: dict | None, error: str | None, pod_written: bool) -> dict | None:
        """What this reconcile established, when the pod it wants exists (see RETURN)."""
        service_version = ((service or {}).get("metadata") or {}).get("resourceVersion")
        if error or params["state"] != "present" or not entry.get("spec_hash") or not service_version:
            return None
        if entry.get("pod_action") == "wait" or (entry.get("pod_action") == "replace" and not pod_written):
            return None
        return {
            "spec_hash": entry["spec_hash"],
            "pod_labels": entry["pod_labels"],
            "service_resource_version": service_version,
            "cluster_domain": params["cluster_domain"],
        }

    # The API calls of a batch are independent: issue them concurrently (results keep the order).
    with ThreadPoolExecutor(max_workers=CONCURRENT_WRITES) as pool:
        results = list(pool.map(reconcile_status, params["batch"]))
    changed = any(r["patched"] for r in results)
    if params["results_file"]:
        write_results(params["results_file"], results)
    module.exit_json(changed=changed, results=results, invocation=invocation(params))


if __name__ == "__main__":
    main()
