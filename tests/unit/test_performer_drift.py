"""The drift filters: a live Pod or Service as the API server returns it (defaults added, quantities
made canonical, token volume and tolerations injected) shows no drift from what the role rendered;
any change another client makes to a field that matters does, named without env values."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_drift import (
    performer_pod_drift,
    performer_service_drift,
    quantity,
    service_needs_recreate,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render

from tests.support.paths import REPO

SETTINGS = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
SECRET = "s3cr3t-value"


def rendered(**spec) -> dict:
    cr = {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1",
        "kind": "Performer",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"avsAddress": "0x" + "ab" * 20, "image": "img:1", **spec},
    }
    [doc] = performer_render([{"_hourglass_eigenlayer_io_performer": cr}], SETTINGS)
    return doc


def as_served(pod: dict) -> dict:
    """The pod as the API server stores it (what v1.36 adds to a pod like the role's)."""
    live = copy.deepcopy(pod)
    spec = live["spec"]
    spec.update(terminationGracePeriodSeconds=30, dnsPolicy="ClusterFirst", schedulerName="default-scheduler",
                serviceAccountName=spec.get("serviceAccountName", "default"), priority=0, nodeName="kwok-a",
                preemptionPolicy="PreemptLowerPriority")  # fmt: skip
    spec["tolerations"] = spec.get("tolerations", []) + [
        {
            "key": f"node.kubernetes.io/{k}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
        for k in ("not-ready", "unreachable")
    ]
    token = spec.get("automountServiceAccountToken") is not False
    if token:
        spec["volumes"] = [{"name": "kube-api-access-x1y2z", "projected": {"defaultMode": 420}}]
    for container in spec["containers"]:
        container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
        for probe in ("livenessProbe", "readinessProbe"):
            container[probe]["grpc"]["service"] = ""
            container[probe].setdefault("successThreshold", 1)
        resources = container.get("resources") or {}
        if resources.get("limits"):
            resources["requests"] = {**resources["limits"], **resources.get("requests", {})}
        for kind in ("requests", "limits"):
            for name, value in (resources.get(kind) or {}).items():
                resources[kind][name] = {"0.5": "500m", "1000m": "1", "2": "2"}.get(value, value)
        if token:
            container["volumeMounts"] = [
                {"name": "kube-api-access-x1y2z", "readOnly": True, "mountPath": "/var"}
            ]
    return live


def served_service(service: dict) -> dict:
    live = copy.deepcopy(service)
    live["spec"].update(clusterIP="10.96.3.4", clusterIPs=["10.96.3.4"], ipFamilies=["IPv4"],
                        ipFamilyPolicy="SingleStack", sessionAffinity="None")  # fmt: skip
    live["spec"]["internalTrafficPolicy"] = "Cluster"
    live["metadata"]["labels"]["team"] = "extra labels of others are fine"
    return live


PERFORMERS = {
    "plain": {},
    "config": {"config": {"grpcPort": 9090, "environment": {"A": "1", "TOKEN": SECRET}, "args": ["--x"],
                          "command": ["/p"], "serviceAccountName": "sa"}},
    "resources": {"resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}, "limits": {"cpu": "1000m"}}},
    "gpu": {"hardwareRequirements": {"gpuType": "nvidia-h100", "gpuCount": 2}},
    "tee": {"hardwareRequirements": {"teeRequired": True, "teeType": "sgx"}},
}  # fmt: skip


@pytest.mark.parametrize("spec", PERFORMERS.values(), ids=PERFORMERS.keys())
def test_what_the_api_server_adds_is_no_drift(spec: dict):
    doc = rendered(**spec)
    assert performer_pod_drift(doc["pod"], as_served(doc["pod"])) == []
    assert performer_service_drift(doc["service"], served_service(doc["service"])) == []


def test_a_pod_observed_without_its_spec_has_nothing_to_compare():
    doc = rendered()
    assert (
        performer_pod_drift(doc["pod"], {"metadata": doc["pod"]["metadata"], "spec": {"nodeName": "n"}}) == []
    )


def tampered(change, **spec) -> list[str]:
    doc = rendered(**spec)
    live = as_served(doc["pod"])
    change(live["spec"], live["spec"]["containers"][0])
    return performer_pod_drift(doc["pod"], live)


@pytest.mark.parametrize(("change", "field"), [
    (lambda pod, c: c.update(image="evil:1"), "containers[performer].image"),
    (lambda pod, c: c.update(command=["/bin/sh"]), "containers[performer].command"),
    (lambda pod, c: c.update(args=["-c", "x"]), "containers[performer].args"),
    (lambda pod, c: c.update(resources={"limits": {"cpu": "4"}}), "containers[performer].resources"),
    (lambda pod, c: c["securityContext"].update(privileged=True), "containers[performer].securityContext"),
    (lambda pod, c: c["ports"].append({"containerPort": 22}), "containers[performer].ports"),
    (lambda pod, c: c["readinessProbe"].update(periodSeconds=600), "containers[performer].readinessProbe"),
    (lambda pod, c: pod["containers"].append({"name": "sidecar", "image": "x"}), "containers"),
    (lambda pod, c: pod.update(hostNetwork=True), "hostNetwork"),
    (lambda pod, c: pod.update(activeDeadlineSeconds=1), "activeDeadlineSeconds"),
    (lambda pod, c: pod["securityContext"].update(runAsUser=0), "securityContext"),
    (lambda pod, c: pod.update(serviceAccountName="admin"), "serviceAccountName"),
    (lambda pod, c: pod.update(volumes=[{"name": "host", "hostPath": {"path": "/"}}]), "volumes"),
])  # fmt: skip
def test_a_change_to_a_field_that_matters_is_drift(change, field: str):
    differences = tampered(change, config={"environment": {"A": "1"}})
    assert differences and all(d.startswith(f"spec.{field}") for d in differences), differences


def test_env_drift_names_the_variables_never_their_values():
    def change(pod: dict, container: dict) -> None:
        container["env"][1]["value"] = "stolen"
        container["env"].append({"name": "EXTRA", "value": SECRET})

    [difference] = tampered(change, config={"environment": {"A": "1", "TOKEN": SECRET}})
    assert difference == "spec.containers[performer].env differs: EXTRA, TOKEN"
    assert SECRET not in difference and "stolen" not in difference


def test_extra_node_selectors_and_tolerations_from_admission_are_no_drift_missing_ones_are():
    doc = rendered(hardwareRequirements={"gpuType": "nvidia-h100", "gpuCount": 1})
    live = as_served(doc["pod"])
    live["spec"].setdefault("nodeSelector", {})["runtime.example/added-by"] = "RuntimeClass"
    assert performer_pod_drift(doc["pod"], live) == []
    live["spec"]["tolerations"] = live["spec"]["tolerations"][1:]
    assert [d.split(":")[0] for d in performer_pod_drift(doc["pod"], live)] == ["spec.tolerations"]


def test_quantities_compare_by_value():
    assert quantity("0.5") == quantity("500m") == Decimal("0.5")
    assert quantity("1Gi") == quantity(str(2**30)) and quantity("1G") != quantity("1Gi")
    assert quantity("1e3") == quantity("1k")
    assert quantity("not a quantity") == "not a quantity"


def service_tampered(change) -> list[str]:
    doc = rendered(config={})
    live = served_service(doc["service"])
    change(live["spec"])
    return performer_service_drift(doc["service"], live)


@pytest.mark.parametrize(("change", "field"), [
    (lambda spec: spec["ports"][0].update(port=9999), "spec.ports"),
    (lambda spec: spec["ports"].append({"name": "metrics", "port": 9100, "targetPort": 9100}), "spec.ports"),
    (lambda spec: spec.update(selector={"app": "other"}), "spec.selector"),
    (lambda spec: spec.update(type="NodePort"), "spec.type"),
    (lambda spec: spec.update(externalIPs=["1.2.3.4"]), "spec.externalIPs"),
    (lambda spec: spec.update(sessionAffinity="ClientIP"), "spec.sessionAffinity"),
    (lambda spec: spec.update(clusterIP="None", clusterIPs=["None"]), "spec.clusterIP"),
])  # fmt: skip
def test_a_service_change_is_drift(change, field: str):
    differences = service_tampered(change)
    assert any(d.startswith(field) for d in differences), differences


def test_a_removed_label_is_service_drift_and_a_headless_service_needs_recreating():
    doc = rendered(config={})
    live = served_service(doc["service"])
    del live["metadata"]["labels"]["app"]
    assert [d.split(":")[0] for d in performer_service_drift(doc["service"], live)] == ["metadata.labels"]
    assert not service_needs_recreate(live)
    live["spec"]["clusterIP"] = "None"
    assert service_needs_recreate(live)
