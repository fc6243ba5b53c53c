"""The CRD's schema carries every field of the upstream contract (§1) with the upstream enums and
defaults. (That the committed CRD is what hack/crd/generate.py writes is checked by `make lint`.)"""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from tests.support.paths import CRD_FILE, REPO


@pytest.fixture(scope="module")
def schema() -> dict:
    crd = yaml.safe_load(CRD_FILE.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def field(schema: dict, dotted: str) -> dict:
    node = schema
    for part in dotted.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


CONTRACT_SPEC_FIELDS = [
    "avsAddress",
    "image",
    "imagePullPolicy",
    "version",
    "config.grpcPort",
    "config.environment",
    "config.environmentFrom",
    "config.environmentFrom.[].name",
    "config.environmentFrom.[].valueFrom.secretKeyRef.name",
    "config.environmentFrom.[].valueFrom.secretKeyRef.key",
    "config.environmentFrom.[].valueFrom.secretKeyRef.optional",
    "config.environmentFrom.[].valueFrom.configMapKeyRef.name",
    "config.environmentFrom.[].valueFrom.configMapKeyRef.key",
    "config.environmentFrom.[].valueFrom.configMapKeyRef.optional",
    "config.args",
    "config.command",
    "config.serviceAccountName",
    "resources.limits",
    "resources.requests",
    "resources.claims",
    "scheduling.nodeSelector",
    "scheduling.tolerations",
    "scheduling.affinity.nodeAffinity",
    "scheduling.affinity.podAffinity",
    "scheduling.affinity.podAntiAffinity",
    "scheduling.runtimeClass",
    "scheduling.priorityClassName",
    "hardwareRequirements.gpuType",
    "hardwareRequirements.gpuCount",
    "hardwareRequirements.teeRequired",
    "hardwareRequirements.teeType",
    "hardwareRequirements.customLabels",
    "imagePullSecrets.[].name",
]
CONTRACT_STATUS_FIELDS = [
    "phase",
    "ready",
    "podName",
    "serviceName",
    "grpcEndpoint",
    "conditions",
    "lastUpgrade",
    "readyTime",
    "observedGeneration",
]


@pytest.mark.parametrize("path", CONTRACT_SPEC_FIELDS)
def test_spec_declares_contract_field(schema: dict, path: str):
    assert field(schema["properties"]["spec"], path)


@pytest.mark.parametrize("path", CONTRACT_STATUS_FIELDS)
def test_status_declares_contract_field(schema: dict, path: str):
    assert field(schema["properties"]["status"], path)


def test_required_fields_enums_and_defaults(schema: dict):
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["avsAddress", "image"]
    assert field(spec, "imagePullPolicy")["enum"] == ["Always", "Never", "IfNotPresent"]
    assert field(spec, "imagePullPolicy")["default"] == "IfNotPresent"
    assert field(spec, "config.grpcPort")["default"] == 9090
    assert "default" not in field(spec, "config")  # no config block: the operator falls back to 8080
    assert field(spec, "hardwareRequirements.teeType")["enum"] == ["sgx", "sev", "sev-snp", "tdx"]
    role_defaults = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
    assert field(spec, "hardwareRequirements.gpuType")["enum"] == sorted(
        role_defaults["performer_gpu_products"]
    )
    env_from = field(spec, "config.environmentFrom")
    assert (env_from["x-kubernetes-list-type"], env_from["x-kubernetes-list-map-keys"]) == ("map", ["name"])
    status = schema["properties"]["status"]
    assert field(status, "phase")["enum"] == ["Pending", "Running", "Upgrading", "Terminating", "Failed"]
    conditions = field(status, "conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_quantities_are_held_to_what_core_v1_accepts(schema: dict):
    """Negative, beyond 2^63-1, fractional extended resources, overcommitted extended resources:
    the rules exist on both maps (the cluster tests show the API server applying them)."""
    resources = field(schema["properties"]["spec"], "resources")
    for name in ("limits", "requests"):
        quantities = resources["properties"][name]
        value_rules = " ".join(
            r["rule"] for r in quantities["additionalProperties"]["x-kubernetes-validations"]
        )
        assert "isLessThan(quantity('0'))" in value_rules
        assert "isGreaterThan(quantity('9223372036854775807'))" in value_rules
        assert any("isInteger()" in r["rule"] for r in quantities["x-kubernetes-validations"])
    assert any(
        "== 0" in r["rule"] and "hugepages-" in r["rule"] for r in resources["x-kubernetes-validations"]
    )


def test_every_cel_rule_has_a_message(schema: dict):
    def rules(node: object):
        if isinstance(node, dict):
            yield from node.get("x-kubernetes-validations", [])
            for value in node.values():
                yield from rules(value)
        elif isinstance(node, list):
            for value in node:
                yield from rules(value)

    found = list(rules(schema))
    assert len(found) > 20
    for rule in found:
        assert rule.get("message") or rule.get("messageExpression"), rule


def test_the_status_schema_declares_every_field_the_operator_writes_and_no_other(schema: dict):
    """An operator started against an older CRD names what it lacks (hourglass_operator.discovery)."""
    assert set(schema["properties"]["status"]["properties"]) == set(contract.STATUS_FIELDS)


def walk(node: object, path: str = ""):
    """Every (dotted path, schema) under `node`; list items are `[]`."""
    if isinstance(node, dict):
        yield path, node
        for name, child in node.get("properties", {}).items():
            yield from walk(child, f"{path}.{name}" if path else name)
        if "items" in node:
            yield from walk(node["items"], f"{path}.[]")


def rule_texts(node: dict) -> str:
    return " ".join(r["rule"] for r in node.get("x-kubernetes-validations", []))


def test_affinity_is_held_to_what_core_v1_accepts_in_a_pod(schema: dict):
    """Label keys and values, node field selectors, topology keys, namespaces, (mis)matchLabelKeys: the
    rules exist wherever the shape repeats (the cluster tests show the API server applying them)."""
    affinity = field(schema["properties"]["spec"], "scheduling.affinity")
    nodes = dict(walk(affinity))
    expressions = [p for p in nodes if p.endswith("matchExpressions.[]")]
    assert len(expressions) == 10  # 2 node affinity terms, 8 pod (anti-)affinity label selectors
    for path in expressions:
        assert "format.qualifiedName()" in rule_texts(nodes[f"{path}.key"]), path
        assert ".matches('^(([A-Za-z0-9]" in rule_texts(nodes[f"{path}.values.[]"]), path
    fields = [p for p in nodes if p.endswith("matchFields.[]")]
    assert len(fields) == 2
    for path in fields:
        assert rule_texts(nodes[f"{path}.key"]) == "self == 'metadata.name'"
        assert nodes[f"{path}.operator"]["enum"] == ["In", "NotIn"]
        assert nodes[f"{path}.values"]["maxItems"] == 1
        assert "format.dns1123Subdomain()" in rule_texts(nodes[f"{path}.values.[]"])
    terms = [p for p in nodes if p.endswith("topologyKey")]
    assert len(terms) == 4
    for path in (t.rsplit(".", 1)[0] for t in terms):
        assert "format.qualifiedName()" in rule_texts(nodes[f"{path}.topologyKey"])
        assert "format.dns1123Label()" in rule_texts(nodes[f"{path}.namespaces.[]"])
        for keys in ("matchLabelKeys", "mismatchLabelKeys"):
            assert "format.qualifiedName()" in rule_texts(nodes[f"{path}.{keys}.[]"])
            assert f"size(self.{keys}) == 0 || has(self.labelSelector)" in rule_texts(nodes[path])
    required = nodes["nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"]
    assert required["minItems"] == 1
    # Every list is bounded: the bounds keep the CEL cost estimate within the API server's budget.
    assert all("maxItems" in node for path, node in nodes.items() if node.get("type") == "array")


def test_resources_are_held_to_what_core_v1_accepts_in_a_container(schema: dict):
    resources = field(schema["properties"]["spec"], "resources")
    assert rule_texts(resources["properties"]["claims"]) == "size(self) == 0"
    assert "'memory' in self.requests" in rule_texts(resources)  # huge pages need cpu or memory
    for name in ("limits", "requests"):
        rules = rule_texts(resources["properties"][name])
        assert "k in ['cpu', 'memory', 'ephemeral-storage'] || k.startsWith('hugepages-')" in rules
        assert "!k.startsWith('requests.')" in rules
        assert "% quantity(k.substring(10)).asInteger() == 0" in rules  # whole huge pages
