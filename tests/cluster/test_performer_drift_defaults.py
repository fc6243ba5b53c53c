"""The drift filters against the real API server: a Pod and a Service exactly as the role renders
them, created (server-side dry run: defaults, admission and canonical quantities applied, nothing
stored), show no drift. A false difference here would make the operator replace a healthy pod on
every reconcile."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_drift import (
    performer_pod_drift,
    performer_service_drift,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render

from tests.support.paths import REPO

SETTINGS = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

PERFORMERS = {
    "no-config": {},
    "everything": {
        "config": {
            "grpcPort": 9443, "environment": {"B": "2", "A": "1", "EMPTY": ""}, "args": ["--x"],
            "command": ["/p"], "serviceAccountName": "avs-performer",
            "environmentFrom": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        },
        "resources": {
            "requests": {"cpu": "0.5", "memory": "1Gi"},
            "limits": {"cpu": "1000m", "memory": "2G"},
        },
        "imagePullPolicy": "Always",
        "imagePullSecrets": [{"name": "registry"}],
        "scheduling": {
            "nodeSelector": {"topology.kubernetes.io/zone": "us-east-1a"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        },
    },
    "limits-only": {"config": {}, "resources": {"limits": {"cpu": "2", "memory": "512Mi"}}},
    "gpu": {"config": {}, "hardwareRequirements": {"gpuType": "nvidia-h100", "gpuCount": 2}},
    "tee": {"config": {}, "hardwareRequirements": {"teeRequired": True, "teeType": "sgx"}},
}  # fmt: skip


def render(name: str, spec: dict, namespace: str, settings: dict = SETTINGS) -> dict:
    cr = {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"avsAddress": AVS, "image": "ghcr.io/example/performer:v1", **spec},
    }  # fmt: skip
    [doc] = performer_render([{"_hourglass_eigenlayer_io_performer": cr}], settings)
    return doc


def dry_run_create(core, obj: dict) -> dict:
    namespace = obj["metadata"]["namespace"]
    plural = {"Pod": "pods", "Service": "services"}[obj["kind"]]
    api = core.api_client
    response = api.call_api(*api.param_serialize(
        "POST", f"/api/v1/namespaces/{namespace}/{plural}", query_params=[("dryRun", "All")], body=obj,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    ))  # fmt: skip
    body = json.loads(response.read())
    assert response.status == 201, body
    return body


@pytest.mark.parametrize("spec", PERFORMERS.values(), ids=PERFORMERS.keys())
def test_what_the_api_server_stores_is_no_drift(core, namespace, node_catalog, spec: dict):
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "avs-performer"}})
    doc = render("d", spec, namespace)
    assert performer_pod_drift(doc["pod"], dry_run_create(core, doc["pod"])) == []
    assert performer_service_drift(doc["service"], dry_run_create(core, doc["service"])) == []


def test_probe_numbers_the_api_server_omits_are_no_drift(core, namespace):
    settings = {**SETTINGS, "performer_readiness_probe": {"initialDelaySeconds": 0, "periodSeconds": 10}}
    doc = render("p", {"config": {}}, namespace, settings)
    assert performer_pod_drift(doc["pod"], dry_run_create(core, doc["pod"])) == []
