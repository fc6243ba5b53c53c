"""Filters of the molecule scenarios.

`performer_placement`: the nodes a Performer's pod may run on, worked out from what the
Performer asks for and the cluster's nodes, independently of the operator. The molecule scenarios
use it to decide which samples a cluster can host (converge) and to check that each pod landed on
one of those nodes (verify).

What counts, from the Performer's spec and the performer role's tables (`roles/performer/defaults`):

- `hardwareRequirements.gpuType`: the node's GPU product label is one of that type's products;
  `gpuCount`: the node advertises the GPU resource; the role's GPU tolerations apply.
- `hardwareRequirements.teeRequired`: the TEE profile's node labels, resources and tolerations;
  its RuntimeClass unless `scheduling.runtimeClass` names one.
- the RuntimeClass must exist; its `scheduling.nodeSelector` and tolerations count as well.
- `scheduling.nodeSelector`, `hardwareRequirements.customLabels`, `scheduling.tolerations`.
- every NoSchedule/NoExecute taint of the node must be tolerated; cordoned nodes are out.

`performer_with_image`: a sample Performer running another image (the echo performer on clusters
with real kubelets), serving gRPC on the sample's port (`GRPC_PORT`, which the echo performer reads).
"""

from __future__ import annotations

import re
from typing import Any

Obj = dict[str, Any]


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _quantity_positive(value: object) -> bool:
    number = re.match(r"[0-9.]+", str(value).strip())
    return bool(number) and float(number.group()) > 0


def performer_placement(
    performer: Obj, nodes: list[Obj], runtime_classes: list[Obj], role_defaults: Obj
) -> Obj:
    """`{"nodes": [names], "requires": "what it asks for", "reason": "why no node fits" or ""}`."""
    spec = performer.get("spec") or {}
    hardware = spec.get("hardwareRequirements") or {}
    scheduling = spec.get("scheduling") or {}
    labels: dict[str, list[str]] = {}  # label key -> allowed values
    resources: list[str] = []
    tolerations: list[Obj] = list(scheduling.get("tolerations") or [])
    runtime_class = scheduling.get("runtimeClass") or ""

    if hardware.get("gpuType"):
        products = role_defaults["performer_gpu_products"].get(hardware["gpuType"])
        if not products:
            return {"nodes": [], "requires": f"gpuType {hardware['gpuType']}", "reason": "unknown gpuType"}
        labels[role_defaults["performer_gpu_product_label"]] = list(products)
    if hardware.get("gpuCount") or hardware.get("gpuType"):
        resources.append(role_defaults["performer_gpu_resource"])
        tolerations += role_defaults["performer_gpu_tolerations"]
    if hardware.get("teeRequired"):
        profile = role_defaults["performer_tee_profiles"][hardware["teeType"]]
        labels.update({k: [str(v)] for k, v in profile["node_selector"].items()})
        resources += list(profile.get("resources") or {})
        tolerations += profile.get("tolerations") or []
        runtime_class = runtime_class or profile.get("runtime_class") or ""
    for source in (scheduling.get("nodeSelector") or {}, hardware.get("customLabels") or {}):
        labels.update({k: [str(v)] for k, v in source.items()})

    if runtime_class:
        found = [rc for rc in runtime_classes if rc["metadata"]["name"] == runtime_class]
        if not found:
            return {
                "nodes": [],
                "requires": f"RuntimeClass {runtime_class}",
                "reason": f"RuntimeClass {runtime_class} does not exist",
            }
        rc_scheduling = found[0].get("scheduling") or {}
        for key, value in (rc_scheduling.get("nodeSelector") or {}).items():
            labels.setdefault(key, [str(value)])
        tolerations += rc_scheduling.get("tolerations") or []

    requires = ", ".join(
        [f"{k} in {v}" if len(v) > 1 else f"{k}={v[0]}" for k, v in sorted(labels.items())]
        + [f"allocatable {r}" for r in resources]
        + ([f"RuntimeClass {runtime_class}"] if runtime_class else [])
    )
    fitting = []
    for node in nodes:
        node_labels = node["metadata"].get("labels") or {}
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        node_spec = node.get("spec") or {}
        if node_spec.get("unschedulable"):
            continue
        if any(node_labels.get(k) not in allowed for k, allowed in labels.items()):
            continue
        if not all(_quantity_positive(allocatable.get(r, "")) for r in resources):
            continue
        blocking = [
            t for t in node_spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")
        ]
        if all(_tolerates(tolerations, t) for t in blocking):
            fitting.append(node["metadata"]["name"])
    return {
        "nodes": sorted(fitting),
        "requires": requires or "any schedulable node without untolerated taints",
        "reason": "" if fitting else f"no node has {requires or 'no untolerated taints'}",
    }


# The CRD defaults config.grpcPort to 9090 when `config` is present; without it the port is 8080.
CRD_DEFAULT_PORT = 9090


def performer_with_image(performer: Obj, image: str, default_port: int) -> Obj:
    """A copy of `performer` that runs `image` on the same gRPC port, set explicitly."""
    spec = performer.get("spec") or {}
    config = spec.get("config")
    port = default_port if config is None else config.get("grpcPort", CRD_DEFAULT_PORT)
    new_config = {**(config or {}), "grpcPort": port}
    new_config["environment"] = {**(new_config.get("environment") or {}), "GRPC_PORT": str(port)}
    new_spec = {**spec, "image": image, "imagePullPolicy": "IfNotPresent", "config": new_config}
    return {**performer, "spec": new_spec}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"performer_placement": performer_placement, "performer_with_image": performer_with_image}
