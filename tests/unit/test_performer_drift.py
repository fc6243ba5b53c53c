"""The drift filters: a live Pod or Service as the API server returns it (defaults added, quantities
made canonical, token volume and tolerations injected), and a pod as admission made it (a
LimitRange's resources, a sidecar, a pinned digest), shows no drift from what the role rendered; a
change another client makes to a pod by updating it (image, resources, deadline, tolerations) or to
a Service does."""

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
    """The pod as the API server stores it (what v1.36 adds to a pod like the role's), never updated."""
    live = copy.deepcopy(pod)
    live["metadata"]["generation"] = 1
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


def updated(change, generation: int | None = 2, **spec) -> list[str]:
    """The drift of the role's pod for `spec`, served, then changed by `change(pod_spec, container)`
    with the generation an update gives it (None: a cluster that counts none, before 1.34)."""
    doc = rendered(**spec)
    live = as_served(doc["pod"])
    change(live["spec"], live["spec"]["containers"][0])
    live["metadata"]["generation"] = generation
    return performer_pod_drift(doc["pod"], live)


RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}}


@pytest.mark.parametrize("generation", [2, None], ids=["generation-2", "no-generations"])
@pytest.mark.parametrize(("change", "field"), [
    (lambda pod, c: c.update(image="evil:1"), "containers[performer].image"),
    (lambda pod, c: c["resources"]["requests"].update(cpu="250m"), "containers[performer].resources"),
    (lambda pod, c: c["resources"]["limits"].update(cpu="2"), "containers[performer].resources"),
    (lambda pod, c: pod.update(activeDeadlineSeconds=1), "activeDeadlineSeconds"),
    (lambda pod, c: pod.update(tolerations=pod["tolerations"][1:]), "tolerations"),
])  # fmt: skip
def test_a_change_an_update_makes_to_a_pod_is_drift(change, field: str, generation: int | None):
    differences = updated(change, generation, resources=RESOURCES, hardwareRequirements={"gpuCount": 1})
    assert differences and all(d.startswith(f"spec.{field}") for d in differences), differences


def limit_range_defaults(pod: dict, container: dict) -> None:
    container["resources"] = {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def sidecar(pod: dict, container: dict) -> None:
    pod["containers"].append({"name": "istio-proxy", "image": "proxyv2:1.24", "args": ["proxy"]})
    pod["initContainers"] = [{"name": "istio-init", "image": "proxyv2:1.24"}]
    pod.setdefault("volumes", []).append({"name": "istio-envoy", "emptyDir": {}})
    container.setdefault("volumeMounts", []).append({"name": "istio-envoy", "mountPath": "/etc/istio"})


def pinned_digest(pod: dict, container: dict) -> None:
    container["image"] += "@sha256:" + "ab" * 32


def policy_defaults(pod: dict, container: dict) -> None:
    pod["securityContext"]["fsGroup"] = 2000
    pod.setdefault("nodeSelector", {})["runtime.example/added-by"] = "RuntimeClass"
    container.setdefault("env", []).append({"name": "HTTP_PROXY", "value": "http://proxy:3128"})


@pytest.mark.parametrize("change", [limit_range_defaults, sidecar, pinned_digest, policy_defaults])
def test_what_admission_gives_a_new_pod_is_no_drift(change):
    """A new pod would get it again: replacing the pod for it would never end."""
    assert updated(change, generation=1, config={}) == []  # not updated since it was created
    assert updated(change, generation=None, config={}) == []  # a cluster that counts no generations


def test_an_update_after_admission_names_only_what_it_changed():
    def admitted_then_set_image(pod: dict, container: dict) -> None:
        limit_range_defaults(pod, container)
        sidecar(pod, container)
        container["image"] = "evil:1"

    assert updated(admitted_then_set_image, config={}) == [
        'spec.containers[performer].image: have "evil:1", want "img:1"'
    ]


def test_quantities_compare_by_value():
    assert quantity("0.5") == quantity("500m") == Decimal("0.5")
    assert quantity("1Gi") == quantity(str(2**30)) and quantity("1G") != quantity("1Gi")
    assert quantity("1e3") == quantity("1k")
    assert quantity("not a quantity") == "not a quantity"


@pytest.mark.parametrize("generation", [2, None], ids=["generation-2", "no-generations"])
def test_quantities_the_api_server_rounds_up_to_thousandths_are_no_drift(generation: int | None):
    """The API server stores every resource quantity rounded up to thousandths (1.5m of CPU as 2m): that
    is no drift, or any update of the pod (another client's toleration, say) would have it replaced,
    and on a cluster that counts no pod generations every run would."""
    resources = {"requests": {"cpu": "1.5m", "memory": "0.0005"}, "limits": {"cpu": "1.0005"}}

    def rounded(cpu: str):
        def served(pod: dict, container: dict) -> None:
            container["resources"] = {"requests": {"cpu": cpu, "memory": "1m"}, "limits": {"cpu": "1001m"}}

        return served

    assert updated(rounded("2m"), generation, resources=resources) == []
    # More digits than Python's default decimal precision (28), which the CRD admits.
    precise = {
        "limits": {"cpu": "1.0000000000000000000000000000001"},
        "requests": {"cpu": "1.5m", "memory": "1m"},
    }
    assert updated(rounded("2m"), generation, resources=precise) == []
    [difference] = updated(rounded("3m"), generation, resources=resources)
    assert difference.startswith('spec.containers[performer].resources: have {"limits": {"cpu": "1.001"}, ')
    assert '"requests": {"cpu": "0.003"' in difference and '"requests": {"cpu": "0.002"' in difference


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
