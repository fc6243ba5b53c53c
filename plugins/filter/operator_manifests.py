"""Filter `operator_manifests`: turns the objects `kubectl kustomize config/default` renders (the one
description of an installation) into those of one installation: its namespace, its object names,
its image and the namespaces it watches.

- Every name that is `hourglass-operator` or starts with `hourglass-operator-` gets `name` instead
  of that prefix: objects, binding roleRefs and subjects, the Deployment's ServiceAccount, the
  leader-election Lease (LEADER_ELECTION_ID and the Role's resourceNames), so several installations
  (or tests) can share a cluster.
- The Namespace object is renamed to `namespace`; namespaced objects and ServiceAccount subjects
  move there.
- The operator's pods carry app.kubernetes.io/instance `name`, and the Deployment's selector and the
  metrics Service's select it too (config/ selects by app.kubernetes.io/name and component only), so
  two installations in one namespace do not select each other's pods (the chart's selector is the
  same). A Deployment's selector cannot change: the role replaces a Deployment of an earlier
  version, which selected without the instance (roles/operator/tasks/selector.yml).
- With `watch_namespaces` (comma-separated), WATCH_NAMESPACE is set and the ClusterRoleBinding of
  the operator's ClusterRole is replaced by a RoleBinding of it in each watched namespace, so the
  operator gets no rights elsewhere; the binding of `hourglass-operator-nodes` (reading a Node,
  which no RoleBinding can grant) stays cluster-wide.
- With `role_vars` (a mapping), the operator container gets ROLE_VARS, those variables as JSON: the
  performer role's settings for every run (the chart's `roleVars`).
- With `managed_by`, the labels app.kubernetes.io/managed-by and app.kubernetes.io/instance (the
  installation's name) say who installed the objects, as the Helm chart's do. The CRD gets neither:
  every installation of the cluster shares it, and another one (a second operator_name, or
  `kubectl apply --server-side -k config/default`) would then conflict with this one over them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

BASE_NAME = "hourglass-operator"
CONTAINER = "operator"
MANAGED_BY, INSTANCE = "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"
Obj = dict[str, Any]


def _renamed(value: str, name: str) -> str:
    if value == BASE_NAME or value.startswith(BASE_NAME + "-"):
        return name + value[len(BASE_NAME) :]
    return value


def _bind(obj: Obj, namespace: str, name: str) -> None:
    obj["roleRef"]["name"] = _renamed(obj["roleRef"]["name"], name)
    for subject in obj.get("subjects") or []:
        if subject.get("kind") == "ServiceAccount":
            subject["name"] = _renamed(subject["name"], name)
            subject["namespace"] = namespace


def _deployment(obj: Obj, name: str, image: str, watch_namespaces: str, role_vars: Obj) -> None:
    obj["spec"]["selector"].setdefault("matchLabels", {})[INSTANCE] = name
    obj["spec"]["template"]["metadata"].setdefault("labels", {})[INSTANCE] = name
    pod = obj["spec"]["template"]["spec"]
    pod["serviceAccountName"] = _renamed(pod["serviceAccountName"], name)
    for container in pod["containers"]:
        if container["name"] != CONTAINER:
            continue
        if image:
            container["image"] = image
        for env in container.get("env") or []:
            if env["name"] == "LEADER_ELECTION_ID":
                env["value"] = _renamed(env["value"], name)
            elif env["name"] == "WATCH_NAMESPACE":
                env["value"] = watch_namespaces
        if role_vars:
            container.setdefault("env", []).append({"name": "ROLE_VARS", "value": json.dumps(role_vars)})


def _label(obj: Obj, name: str, managed_by: str) -> None:
    metadatas = [obj["metadata"]]
    if obj["kind"] == "Deployment":
        metadatas.append(obj["spec"]["template"]["metadata"])
    for meta in metadatas:
        labels = meta.setdefault("labels", {})
        labels[MANAGED_BY], labels[INSTANCE] = managed_by, name


def _unlabel(obj: Obj) -> None:
    labels = obj["metadata"].get("labels") or {}
    for key in (MANAGED_BY, INSTANCE):
        labels.pop(key, None)


def operator_manifests(
    objects: list[Obj],
    namespace: str,
    name: str = BASE_NAME,
    image: str = "",
    watch_namespaces: str = "",
    managed_by: str = "",
    role_vars: Obj | None = None,
) -> list[Obj]:
    """The objects of one installation, in the order given (kustomize puts Namespaces and CRDs first)."""
    watched = [n.strip() for n in watch_namespaces.split(",") if n.strip()]
    result = []
    for original in objects:
        if not original:
            continue
        obj = copy.deepcopy(original)
        kind, meta = obj["kind"], obj["metadata"]
        if kind == "Namespace":
            meta["name"] = namespace
        elif kind != "CustomResourceDefinition":
            meta["name"] = _renamed(meta["name"], name)
        if "namespace" in meta:
            meta["namespace"] = namespace
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            _bind(obj, namespace, name)
        elif kind == "Role":
            for rule in obj.get("rules") or []:
                if "resourceNames" in rule:
                    rule["resourceNames"] = [_renamed(n, name) for n in rule["resourceNames"]]
        elif kind == "Deployment":
            _deployment(obj, name, image, ",".join(watched), role_vars or {})
        elif kind == "Service" and (obj.get("spec") or {}).get("selector"):
            obj["spec"]["selector"][INSTANCE] = name
        if managed_by and kind == "CustomResourceDefinition":
            _unlabel(obj)
        elif managed_by:
            _label(obj, name, managed_by)
        if kind == "ClusterRoleBinding" and watched and original["roleRef"]["name"] == BASE_NAME:
            for watched_namespace in watched:
                binding = copy.deepcopy(obj)
                binding["kind"] = "RoleBinding"
                binding["metadata"]["namespace"] = watched_namespace
                result.append(binding)
            continue
        result.append(obj)
    return result


class FilterModule:
    def filters(self) -> dict:
        return {"operator_manifests": operator_manifests}
