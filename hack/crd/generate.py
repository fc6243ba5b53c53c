"""Generates crds/hourglass.eigenlayer.io_performers.yaml, the Performer CustomResourceDefinition.

The schema is written here as Python so that the shapes Kubernetes repeats (label selectors, node
selector terms, pod affinity terms, quantities) are defined once. Field names and defaults follow
the upstream contract (docs/upstream-contract.md §1), and the printer columns are upstream's,
reordered so that `kubectl get` shows NAME PHASE READY VERSION AGE and `-o wide` adds AVS, IMAGE
and ENDPOINT; the validation is stricter and every rule's message names the field it is about.

CEL rules use the Kubernetes `format` library (stored CRD expressions need Kubernetes >= 1.32).

It also writes the CRD's schema, without descriptions, into plugins/module_utils/performer_schema.py:
the one-off deploy's check (the filter `performer_errors`) validates a Performer from a file against
it (plugins/module_utils/structural_schema.py), CEL rules included (plugins/module_utils/cel_rules.py).
Every rule is compiled here: one that cel_rules.py cannot read stops the generator, naming it, so that
no rule of the CRD goes unchecked there.

    python hack/crd/generate.py            # rewrite the CRD file, its copies and the schema module
    python hack/crd/generate.py --check    # exit 1 when one of them is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.cel_rules import CelSyntaxError, compile_rule

Schema = dict[str, Any]

GROUP = "hourglass.eigenlayer.io"
REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "crds" / f"{GROUP}_performers.yaml"
# gpuType is admitted only when the role knows its products (performer_gpu_products); an admin who
# adds a type there regenerates the CRD.
ROLE_DEFAULTS = REPO / "roles" / "performer" / "defaults" / "main.yml"
# Byte-for-byte copies of CRD_PATH: kustomize loads no file outside a kustomization's directory,
# and a packaged Helm chart carries its CRDs in its own crds/.
CRD_COPIES = [
    CRD_PATH.parents[1] / "config" / "crd" / "bases" / CRD_PATH.name,
    CRD_PATH.parents[1] / "charts" / "hourglass-operator" / "crds" / CRD_PATH.name,
]

SCHEMA_MODULE = REPO / "plugins" / "module_utils" / "performer_schema.py"

TEE_TYPES = ["sgx", "sev", "sev-snp", "tdx"]
MAX_GPU_COUNT = 16
# Bounds that keep the CEL cost estimate of the rules below within the API server's budget.
MAX_MAP_ENTRIES = 64
MAX_LIST_ITEMS = 64
# Affinity nests lists three deep (terms, their requirements, the requirements' values) under rules
# that check label keys and values as core/v1 does. With these bounds the CRD's estimated CEL cost is
# about 43 % of the API server's budget for one CRD (measured by applying it to v1.36 with larger
# bounds); 16 terms per list would take it to about 84 %, and every 8 more values by some 3 %.
MAX_AFFINITY_TERMS = 8  # node selector terms, pod (anti-)affinity terms: each list
MAX_SELECTOR_ITEMS = 16  # matchExpressions, matchFields, namespaces, (mis)matchLabelKeys
MAX_SELECTOR_VALUES = 64  # values of one requirement
MAX_NAME_LENGTH = 253
MAX_RESOURCES = 16
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# The largest magnitude a Kubernetes quantity represents (resource.Quantity's documented limit);
# larger values such as 1e400 pass core/v1 validation and then overflow the scheduler's arithmetic.
MAX_QUANTITY = "9223372036854775807"
# Extended resources (a domain other than kubernetes.io, such as nvidia.com/gpu) and huge pages
# cannot be overcommitted: core/v1 wants whole numbers of extended resources and requests equal to
# limits for both.
EXTENDED = "(k.contains('/') && !k.contains('kubernetes.io/'))"
NOT_OVERCOMMITTED = f"({EXTENDED} || k.startsWith('hugepages-'))"
HUGE_PAGE_SIZE = "quantity(k.substring(10))"  # k is hugepages-<page size>
HUGE_PAGE_SIZE_OK = (
    f"isQuantity(k.substring(10)) && {HUGE_PAGE_SIZE}.isInteger()"
    f" && {HUGE_PAGE_SIZE}.isGreaterThan(quantity('0'))"
)


def huge_pages_in(quantities: str) -> str:
    """CEL: the resources' map `quantities` (limits or requests) has huge pages."""
    return f"(has(self.{quantities}) && self.{quantities}.exists(k, k.startsWith('hugepages-')))"


def cpu_or_memory_in(quantities: str) -> str:
    return f"(has(self.{quantities}) && ('cpu' in self.{quantities} || 'memory' in self.{quantities}))"


def gpu_types() -> list[str]:
    return sorted(yaml.safe_load(ROLE_DEFAULTS.read_text())["performer_gpu_products"])


# --- building blocks -------------------------------------------------------------------------


def rule(expr: str, message: str, *, field: str | None = None, reason: str | None = None) -> Schema:
    """One x-kubernetes-validations entry; `field` points the error at a child field."""
    entry: Schema = {"rule": expr, "message": message}
    if field:
        entry["fieldPath"] = field
    if reason:
        entry["reason"] = reason
    return entry


def obj(
    description: str,
    properties: Schema,
    *,
    required: list[str] | None = None,
    rules: list[Schema] | None = None,
    **extra: Any,
) -> Schema:
    schema: Schema = {"description": description, "type": "object"}
    if required:
        schema["required"] = required
    schema["properties"] = properties
    if rules:
        schema["x-kubernetes-validations"] = rules
    schema.update(extra)
    return schema


def string(
    description: str,
    *,
    max_length: int | None = MAX_NAME_LENGTH,
    rules: list[Schema] | None = None,
    **extra: Any,
) -> Schema:
    schema: Schema = {"description": description, "type": "string"}
    if max_length is not None:
        schema["maxLength"] = max_length
    schema.update(extra)
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def string_list(description: str, *, max_items: int | None = None, item: Schema | None = None) -> Schema:
    schema: Schema = {"description": description, "type": "array", "items": item or {"type": "string"}}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def valid_format(fmt: str, value: str) -> str:
    """CEL: `value` passes Kubernetes' own validation for the named format."""
    return f"!format.{fmt}().validate({value}).hasValue()"


def named_string(description: str, fmt: str, what: str, *, max_length: int = MAX_NAME_LENGTH) -> Schema:
    """A string that must pass a Kubernetes name format (dns1123Subdomain, qualifiedName, ...)."""
    return string(
        description, max_length=max_length, rules=[rule(valid_format(fmt, "self"), f"must be a valid {what}")]
    )


def resource_name(description: str) -> Schema:
    return named_string(description, "dns1123Subdomain", "Kubernetes object name (DNS-1123 subdomain)")


def label_map(description: str) -> Schema:
    """A map validated like Pod.spec.nodeSelector: qualified-name keys and label values."""
    return {
        "description": description,
        "type": "object",
        "maxProperties": MAX_MAP_ENTRIES,
        "additionalProperties": {
            "type": "string",
            "maxLength": 63,
            "x-kubernetes-validations": [
                rule(
                    valid_format("labelValue", "self"),
                    "must be a valid label value: at most 63 alphanumerics, '-', '_' or '.', "
                    "beginning and ending with an alphanumeric",
                )
            ],
        },
        "x-kubernetes-validations": [
            rule(
                f"self.all(k, {valid_format('qualifiedName', 'k')})",
                "keys must be valid label keys: an optional DNS subdomain prefix and '/', then at most "
                "63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric",
            )
        ],
    }


def quantity_map(description: str) -> Schema:
    """Resource quantities, held to what core/v1 accepts in a container's resources (and to the
    documented range, which it does not check)."""
    value = "quantity(string(self))"
    return {
        "description": description,
        "type": "object",
        "maxProperties": MAX_RESOURCES,
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "maxLength": 64,
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                rule(f"!{value}.isLessThan(quantity('0'))", "must be greater than or equal to 0"),
                rule(
                    f"!{value}.isGreaterThan(quantity('{MAX_QUANTITY}'))",
                    f"must be at most {MAX_QUANTITY} (2^63-1), the largest quantity Kubernetes represents",
                ),
            ],
        },
        "x-kubernetes-validations": [
            rule(
                f"self.all(k, {valid_format('qualifiedName', 'k')})",
                "resource names must be qualified names such as cpu, memory or nvidia.com/gpu",
            ),
            # core/v1 takes, in a container, the standard container resources and names with a domain
            # (extended resources, which must not begin with requests.).
            rule(
                "self.all(k, k.contains('/') ? (k.contains('kubernetes.io/') || !k.startsWith('requests.'))"
                " : (k in ['cpu', 'memory', 'ephemeral-storage'] || k.startsWith('hugepages-')))",
                "resource names must be cpu, memory, ephemeral-storage, hugepages-<page size> or a name "
                "with a domain such as nvidia.com/gpu (not beginning with requests.)",
            ),
            rule(
                f"self.all(k, !k.startsWith('hugepages-') || ({HUGE_PAGE_SIZE_OK} && "
                f"quantity(string(self[k])).isInteger() && "
                f"quantity(string(self[k])).asInteger() % {HUGE_PAGE_SIZE}.asInteger() == 0))",
                "huge pages must be named hugepages-<page size> (such as hugepages-2Mi) and their amount "
                "must be a whole multiple of the page size",
            ),
            # isInteger() is false for some whole numbers beyond int64's scale helpers; plain digits pass.
            rule(
                f"self.all(k, !{EXTENDED} || quantity(string(self[k])).isInteger()"
                " || string(self[k]).matches('^[+]?[0-9]+$'))",
                "extended resources such as nvidia.com/gpu must be whole numbers",
            ),
        ],
    }


# --- Kubernetes core shapes ------------------------------------------------------------------

SELECTOR_VALUES_RULES = [
    rule(
        "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
        "values must be non-empty when operator is In or NotIn",
        field=".values",
    ),
    rule(
        "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
        "values must be empty when operator is Exists or DoesNotExist",
        field=".values",
    ),
]


LABEL_KEY = (
    "label key: an optional DNS subdomain prefix and '/', then at most 63 alphanumerics, '-', '_' "
    "or '.', beginning and ending with an alphanumeric"
)
# core/v1's label value regex; with maxLength 63 it is all of core/v1's label value validation.
LABEL_VALUE_REGEX = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_VALUE = (
    "label value: at most 63 alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric"
)


def label_key(description: str) -> Schema:
    return named_string(description, "qualifiedName", LABEL_KEY, max_length=317)


def label_value(description: str) -> Schema:
    # Selector values sit three lists deep (terms, requirements, values): the API server estimates
    # core/v1's label value regex (with maxLength 63, all of its validation) at about a third of the
    # cost of format.labelValue.
    return string(
        description,
        max_length=63,
        rules=[rule(f"self.matches('{LABEL_VALUE_REGEX}')", f"must be a valid {LABEL_VALUE}")],
    )


def label_key_list(description: str) -> Schema:
    return string_list(description, max_items=MAX_SELECTOR_ITEMS, item=label_key("A label key."))


def requirement(description: str, operators: list[str]) -> Schema:
    """A label selector or node selector requirement on a label: its key and values are validated
    as the API server validates them in a pod (label key, label values)."""
    rules = list(SELECTOR_VALUES_RULES)
    if "Gt" in operators:
        rules.append(
            rule(
                "!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1"
                " && self.values[0].matches('^-?[0-9]+$'))",
                "values must hold exactly one integer when operator is Gt or Lt",
                field=".values",
            )
        )
    return obj(
        description,
        {
            "key": label_key("The label key the selector applies to."),
            "operator": string("How the key relates to the values.", max_length=None, enum=operators),
            "values": string_list(
                "The values (label values); see operator.",
                max_items=MAX_SELECTOR_VALUES,
                item=label_value("A label value."),
            ),
        },
        required=["key", "operator"],
        rules=rules,
    )


def field_requirement(description: str) -> Schema:
    """A node selector requirement on a node field: core/v1 knows one field, metadata.name, compared
    (In or NotIn) with exactly one node name."""
    return obj(
        description,
        {
            "key": string(
                "The node field: metadata.name.",
                max_length=317,
                rules=[
                    rule(
                        "self == 'metadata.name'",
                        "must be metadata.name, the only node field a selector matches",
                    )
                ],
            ),
            "operator": string("In or NotIn.", max_length=None, enum=["In", "NotIn"]),
            "values": string_list(
                "Exactly one node name.",
                max_items=1,
                item=resource_name("A node name."),
            ),
        },
        required=["key", "operator"],
        rules=[
            rule(
                "has(self.values) && size(self.values) == 1",
                "values must hold exactly one node name (matchFields compares metadata.name with one value)",
                field=".values",
            )
        ],
    )


def label_selector(description: str) -> Schema:
    return obj(
        description,
        {
            "matchLabels": label_map("Labels that must all match."),
            "matchExpressions": string_list(
                "Label requirements that must all match.",
                max_items=MAX_SELECTOR_ITEMS,
                item=requirement("A label selector requirement.", ["In", "NotIn", "Exists", "DoesNotExist"]),
            ),
        },
        **{"x-kubernetes-map-type": "atomic"},
    )


def node_selector_term(description: str) -> Schema:
    node_ops = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    return obj(
        description,
        {
            "matchExpressions": string_list(
                "Requirements on node labels.",
                max_items=MAX_SELECTOR_ITEMS,
                item=requirement("A node selector requirement on a label.", node_ops),
            ),
            "matchFields": string_list(
                "Requirements on node fields (metadata.name).",
                max_items=MAX_SELECTOR_ITEMS,
                item=field_requirement("A node selector requirement on a field."),
            ),
        },
        **{"x-kubernetes-map-type": "atomic"},
    )


def weight() -> Schema:
    return {
        "description": "Weight in the range 1-100.",
        "type": "integer",
        "format": "int32",
        "minimum": 1,
        "maximum": 100,
    }


def pod_affinity_term(description: str) -> Schema:
    def keys_need_selector(name: str) -> Schema:
        return rule(
            f"!has(self.{name}) || size(self.{name}) == 0 || has(self.labelSelector)",
            f"{name} must be empty when labelSelector is not set (its keys are merged into labelSelector)",
            field=f".{name}",
        )

    return obj(
        description,
        {
            "labelSelector": label_selector("Pods this term selects."),
            "namespaceSelector": label_selector("Namespaces whose pods this term considers."),
            "namespaces": string_list(
                "Namespaces whose pods this term considers.",
                max_items=MAX_SELECTOR_ITEMS,
                item=named_string(
                    "A namespace name.", "dns1123Label", "namespace name (DNS-1123 label)", max_length=63
                ),
            ),
            "topologyKey": string(
                "Node label key that defines the topology domain.",
                max_length=317,
                minLength=1,
                rules=[rule(valid_format("qualifiedName", "self"), f"must be a valid {LABEL_KEY}")],
            ),
            "matchLabelKeys": label_key_list("Pod label keys merged into labelSelector with In."),
            "mismatchLabelKeys": label_key_list("Pod label keys merged into labelSelector with NotIn."),
        },
        required=["topologyKey"],
        rules=[
            keys_need_selector("matchLabelKeys"),
            keys_need_selector("mismatchLabelKeys"),
            rule(
                "!has(self.matchLabelKeys) || !has(self.mismatchLabelKeys) || "
                "self.matchLabelKeys.all(k, !(k in self.mismatchLabelKeys))",
                "a key must not be in both matchLabelKeys and mismatchLabelKeys",
                field=".matchLabelKeys",
            ),
            # The API server merges `key In (the pod's value)` into labelSelector and refuses a pod that
            # carries a label whose key labelSelector has already (the performer pod's labels are fixed).
            rule(
                "!has(self.matchLabelKeys) || !has(self.labelSelector) || self.matchLabelKeys.all(k, "
                "!(has(self.labelSelector.matchLabels) && k in self.labelSelector.matchLabels) && "
                "!(has(self.labelSelector.matchExpressions) && "
                "self.labelSelector.matchExpressions.exists(e, e.key == k)))",
                "a key of matchLabelKeys must not be a key of labelSelector (matchLabelKeys adds it there)",
                field=".matchLabelKeys",
            ),
        ],
    )


def pod_affinity(description: str) -> Schema:
    return obj(
        description,
        {
            "requiredDuringSchedulingIgnoredDuringExecution": string_list(
                "Terms that must all be met at scheduling time.",
                max_items=MAX_AFFINITY_TERMS,
                item=pod_affinity_term("A pod affinity term."),
            ),
            "preferredDuringSchedulingIgnoredDuringExecution": string_list(
                "Terms the scheduler prefers, by weight.",
                max_items=MAX_AFFINITY_TERMS,
                item=obj(
                    "A weighted pod affinity term.",
                    {
                        "weight": weight(),
                        "podAffinityTerm": pod_affinity_term("The term."),
                    },
                    required=["weight", "podAffinityTerm"],
                ),
            ),
        },
    )


def affinity() -> Schema:
    return obj(
        "Affinity rules copied to the pod (core/v1 Affinity).",
        {
            "nodeAffinity": obj(
                "Node affinity.",
                {
                    "requiredDuringSchedulingIgnoredDuringExecution": obj(
                        "Node selector terms, at least one of which must match.",
                        {
                            "nodeSelectorTerms": string_list(
                                "ORed node selector terms (at least one).",
                                max_items=MAX_AFFINITY_TERMS,
                                item=node_selector_term("A node selector term (its requirements are ANDed)."),
                            )
                            | {"minItems": 1},
                        },
                        required=["nodeSelectorTerms"],
                        **{"x-kubernetes-map-type": "atomic"},
                    ),
                    "preferredDuringSchedulingIgnoredDuringExecution": string_list(
                        "Node selector terms the scheduler prefers, by weight.",
                        max_items=MAX_AFFINITY_TERMS,
                        item=obj(
                            "A weighted node selector term.",
                            {
                                "weight": weight(),
                                "preference": node_selector_term("The term."),
                            },
                            required=["weight", "preference"],
                        ),
                    ),
                },
            ),
            "podAffinity": pod_affinity("Co-locate with pods matching these terms."),
            "podAntiAffinity": pod_affinity("Keep away from pods matching these terms."),
        },
    )


def toleration() -> Schema:
    return obj(
        "A toleration copied to the pod (core/v1 Toleration).",
        {
            "key": string(
                "Taint key to tolerate; empty with operator Exists tolerates every taint.", max_length=317
            ),
            "operator": string(
                "Exists or Equal (the default).", max_length=None, enum=["", "Exists", "Equal"]
            ),
            "value": string("Taint value to match when operator is Equal.", max_length=63),
            "effect": string(
                "Taint effect to match; empty matches all effects.",
                max_length=None,
                enum=["", "NoSchedule", "PreferNoSchedule", "NoExecute"],
            ),
            "tolerationSeconds": {
                "description": "How long a NoExecute taint is tolerated.",
                "type": "integer",
                "format": "int64",
            },
        },
        rules=[
            rule(
                "!has(self.key) || self.key == '' || " + valid_format("qualifiedName", "self.key"),
                "key must be a valid label key",
                field=".key",
            ),
            rule(
                "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
                "operator must be Exists when key is empty",
                field=".operator",
            ),
            rule(
                "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "value must be empty when operator is Exists",
                field=".value",
            ),
            rule(
                "!has(self.value) || " + valid_format("labelValue", "self.value"),
                "value must be a valid label value",
                field=".value",
            ),
            rule(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds may only be set when effect is NoExecute",
                field=".tolerationSeconds",
            ),
        ],
    )


def key_ref(description: str, kind: str) -> Schema:
    return obj(
        description,
        {
            "name": resource_name(f"Name of the {kind} in the Performer's namespace."),
            "key": string(
                f"Key within the {kind}.",
                rules=[
                    rule(
                        "self.matches('^[-._a-zA-Z0-9]+$')",
                        "must consist of alphanumeric characters, '-', '_' or '.'",
                    )
                ],
            ),
            "optional": {"description": f"Whether the {kind} or its key may be missing.", "type": "boolean"},
        },
        required=["name", "key"],
    )


ENV_NAME_RULE = "self.matches('^[ -<>-~]+$')"  # printable ASCII without '=' (Kubernetes >= 1.34)


def condition() -> Schema:
    return obj(
        "A metav1.Condition.",
        {
            "type": string(
                "Condition type in CamelCase.",
                max_length=316,
                pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            ),
            "status": string("True, False or Unknown.", max_length=None, enum=["True", "False", "Unknown"]),
            "observedGeneration": {
                "description": "The .metadata.generation the condition was set for.",
                "type": "integer",
                "format": "int64",
                "minimum": 0,
            },
            "lastTransitionTime": string(
                "When the status last changed.", max_length=None, format="date-time"
            ),
            "reason": string(
                "Machine-readable reason in CamelCase.",
                max_length=1024,
                minLength=1,
                pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            ),
            "message": string("Human-readable details.", max_length=32768),
        },
        required=["type", "status", "lastTransitionTime", "reason", "message"],
    )


# --- the Performer ---------------------------------------------------------------------------


def spec() -> Schema:
    hardware_rules = [
        rule(
            "!has(self.gpuType) || self.gpuType == '' || (has(self.gpuCount) && self.gpuCount > 0)",
            "gpuCount must be at least 1 when gpuType is set",
            field=".gpuCount",
        ),
        rule(
            "!has(self.teeRequired) || !self.teeRequired || has(self.teeType)",
            "teeType is required when teeRequired is true (one of: " + ", ".join(TEE_TYPES) + ")",
            field=".teeType",
            reason="FieldValueRequired",
        ),
        rule(
            "!has(self.teeType) || (has(self.teeRequired) && self.teeRequired)",
            "teeRequired must be true when teeType is set",
            field=".teeRequired",
        ),
    ]
    return obj(
        "Desired state of the performer.",
        {
            "avsAddress": string(
                "Ethereum address of the AVS this performer serves: 0x followed by 40 hex digits.",
                max_length=42,
                rules=[
                    rule(
                        "self.matches('^0x[0-9a-fA-F]{40}$')",
                        "must be an Ethereum address: 0x followed by 40 hexadecimal digits",
                    )
                ],
            ),
            "image": string(
                "Container image reference including a tag or digest.",
                max_length=4096,
                rules=[
                    rule(
                        "self.matches('^[^\\\\s{}]+$')",
                        "must be a non-empty image reference without whitespace or template braces",
                    )
                ],
            ),
            "imagePullPolicy": string(
                "When the kubelet pulls the image.",
                max_length=None,
                enum=["Always", "Never", "IfNotPresent"],
                default="IfNotPresent",
            ),
            "version": string(
                "Informational version of the performer (executors put the image tag here).", max_length=128
            ),
            "config": obj(
                "Container configuration. When present, grpcPort defaults to 9090; when absent "
                "the operator uses port 8080 like the upstream controller.",
                {
                    "grpcPort": {
                        "description": "Port the performer serves gRPC on.",
                        "type": "integer",
                        "format": "int32",
                        "minimum": 1,
                        "maximum": 65535,
                        "default": 9090,
                    },
                    "environment": {
                        "description": "Environment variables for the container.",
                        "type": "object",
                        "maxProperties": 256,
                        "additionalProperties": {"type": "string"},
                        "x-kubernetes-validations": [
                            rule(
                                "self.all(k, k.matches('^[ -<>-~]+$'))",
                                "environment variable names must be non-empty printable ASCII without '='",
                            )
                        ],
                    },
                    "environmentFrom": string_list(
                        "Environment variables taken from Secret or ConfigMap keys; names are unique "
                        "here and must not repeat a name of environment.",
                        max_items=MAX_LIST_ITEMS,
                        item=obj(
                            "One environment variable from exactly one source.",
                            {
                                "name": string(
                                    "Name of the environment variable.",
                                    max_length=MAX_NAME_LENGTH,
                                    rules=[
                                        rule(ENV_NAME_RULE, "must be non-empty printable ASCII without '='")
                                    ],
                                ),
                                "valueFrom": obj(
                                    "The variable's source: exactly one of secretKeyRef or configMapKeyRef.",
                                    {
                                        "secretKeyRef": key_ref("A key of a Secret.", "Secret"),
                                        "configMapKeyRef": key_ref("A key of a ConfigMap.", "ConfigMap"),
                                    },
                                    rules=[
                                        rule(
                                            "has(self.secretKeyRef) != has(self.configMapKeyRef)",
                                            "must set exactly one of secretKeyRef or configMapKeyRef",
                                        )
                                    ],
                                ),
                            },
                            required=["name", "valueFrom"],
                        ),
                    )
                    # A pod's env is a map keyed by name for server-side apply: a repeated name would
                    # make every apply of the pod fail.
                    | {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
                    "args": string_list("Arguments to the entrypoint."),
                    "command": string_list("Entrypoint override."),
                    "serviceAccountName": resource_name("ServiceAccount the performer pod runs as."),
                },
                rules=[
                    rule(
                        "!has(self.environment) || !has(self.environmentFrom) || "
                        "self.environmentFrom.all(e, !(e.name in self.environment))",
                        "names must not repeat a name of environment (each variable is defined once)",
                        field=".environmentFrom",
                    )
                ],
            ),
            "resources": obj(
                "Compute resources of the performer container (core/v1 ResourceRequirements).",
                {
                    "limits": quantity_map("Maximum amount of each resource."),
                    "requests": quantity_map("Minimum amount of each resource."),
                    # upstream's field; the Performer has no pod.spec.resourceClaims for a claim to name.
                    "claims": string_list(
                        "Dynamic resource claims the container uses: must be empty, as a Performer "
                        "cannot set the pod's resourceClaims that a claim names.",
                        max_items=MAX_LIST_ITEMS,
                        item=obj(
                            "A resource claim reference.",
                            {
                                "name": string(
                                    "Name of an entry in the pod's resourceClaims.", max_length=63
                                ),
                                "request": string("Name of a request within the claim.", max_length=63),
                            },
                            required=["name"],
                        ),
                    )
                    | {
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "x-kubernetes-validations": [
                            rule(
                                "size(self) == 0",
                                "must be empty: a claim names an entry of the pod's resourceClaims, "
                                "which a Performer cannot set (the API server would refuse the pod)",
                            )
                        ],
                    },
                },
                rules=[
                    rule(
                        f"!({huge_pages_in('limits')} || {huge_pages_in('requests')}) || "
                        f"{cpu_or_memory_in('limits')} || {cpu_or_memory_in('requests')}",
                        "huge pages (hugepages-<page size>) need a cpu or memory request or limit as well",
                    ),
                    rule(
                        "!has(self.requests) || !has(self.limits) || self.requests.all(k, "
                        "!(k in self.limits) || quantity(string(self.requests[k]))"
                        ".compareTo(quantity(string(self.limits[k]))) <= 0)",
                        "every request must be less than or equal to the limit of the same resource",
                        field=".requests",
                    ),
                    rule(
                        f"!has(self.requests) || self.requests.all(k, !{NOT_OVERCOMMITTED} || "
                        "(has(self.limits) && k in self.limits && quantity(string(self.requests[k]))"
                        ".compareTo(quantity(string(self.limits[k]))) == 0))",
                        "extended resources (such as nvidia.com/gpu) and huge pages cannot be "
                        "overcommitted: a request needs a limit of the same amount",
                        field=".requests",
                    ),
                ],
            ),
            "scheduling": obj(
                "Where the performer pod may run.",
                {
                    "nodeSelector": label_map("Node labels the pod's node must have."),
                    "tolerations": string_list(
                        "Taints the pod tolerates.", max_items=MAX_LIST_ITEMS, item=toleration()
                    ),
                    "affinity": affinity(),
                    "runtimeClass": named_string(
                        "RuntimeClass for the pod (pod.spec.runtimeClassName).",
                        "dns1123Subdomain",
                        "RuntimeClass name (DNS-1123 subdomain)",
                    ),
                    "priorityClassName": resource_name("PriorityClass for the pod."),
                },
            ),
            "hardwareRequirements": obj(
                "Hardware the performer needs; the operator turns it into resources, "
                "node selection, tolerations and a runtime class.",
                {
                    "gpuType": string(
                        "GPU model, one of: " + ", ".join(gpu_types()) + " (the types whose products "
                        "the operator knows: performer_gpu_products).",
                        max_length=None,
                        enum=gpu_types(),
                    ),
                    "gpuCount": {
                        "description": f"Number of GPUs (0-{MAX_GPU_COUNT}).",
                        "type": "integer",
                        "format": "int32",
                        "minimum": 0,
                        "maximum": MAX_GPU_COUNT,
                    },
                    "teeRequired": {
                        "description": "Run inside a trusted execution environment.",
                        "type": "boolean",
                    },
                    "teeType": string("Kind of TEE.", max_length=None, enum=TEE_TYPES),
                    "customLabels": label_map(
                        "Extra node labels the pod's node must have (added to nodeSelector)."
                    ),
                },
                rules=hardware_rules,
            ),
            "imagePullSecrets": string_list(
                "Secrets used to pull the image.",
                max_items=MAX_LIST_ITEMS,
                item=obj(
                    "A Secret in the Performer's namespace.",
                    {
                        "name": resource_name("Name of the Secret."),
                    },
                    required=["name"],
                    **{"x-kubernetes-map-type": "atomic"},
                ),
            ),
        },
        required=["avsAddress", "image"],
    )


def status() -> Schema:
    return obj(
        "Observed state, written by the operator through the status subresource.",
        {
            "phase": string(
                "Lifecycle phase.",
                max_length=None,
                enum=["Pending", "Running", "Upgrading", "Terminating", "Failed"],
            ),
            "ready": {
                "description": "True only when the pod is Running and its Ready condition is True.",
                "type": "boolean",
            },
            "podName": string("Name of the performer pod.", max_length=MAX_NAME_LENGTH),
            "serviceName": string("Name of the performer Service.", max_length=MAX_NAME_LENGTH),
            "grpcEndpoint": string(
                "DNS name executors dial: performer-<name>.<namespace>.svc.cluster.local (no port).",
                max_length=MAX_NAME_LENGTH,
            ),
            "observedGeneration": {
                "description": "The .metadata.generation the status describes.",
                "type": "integer",
                "format": "int64",
                "minimum": 0,
            },
            "conditions": string_list(
                "Current conditions (Ready, Scheduled, ...).", max_items=32, item=condition()
            )
            | {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
            "lastUpgrade": string(
                "When the pod was last replaced because its spec changed.",
                max_length=None,
                format="date-time",
            ),
            "readyTime": string("When the performer last became ready.", max_length=None, format="date-time"),
            "endedPods": {
                "description": "How many of the performer's pods ended (evicted, rejected or shut down by "
                "their node) since it was last ready. Each next one is replaced later: once it is "
                "performer_ended_pod_min_age_seconds old (10 s), doubled per pod counted here, up to "
                "performer_ended_pod_max_age_seconds (5 min). Absent once the performer is ready.",
                "type": "integer",
                "format": "int32",
                "minimum": 0,
            },
        },
    )


def crd() -> Schema:
    root = obj(
        "A Performer runs one AVS performer container as a Pod with a stable Service "
        "(performer-<name>.<namespace>.svc.cluster.local).",
        {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            # The API server already holds names to DNS-1123 subdomains; without dots and within 53
            # characters, performer-<name> is a DNS-1035 label (the Pod's and Service's name).
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "x-kubernetes-validations": [
                            rule(
                                "size(self) <= 53",
                                "must be at most 53 characters so that the Pod and Service name "
                                "performer-<name> is a valid DNS-1035 label (at most 63 characters)",
                            ),
                            rule(
                                "!self.contains('.')",
                                "must not contain dots so that the Pod and Service name "
                                "performer-<name> is a valid DNS-1035 label",
                            ),
                        ],
                    }
                },
            },
            "spec": spec(),
            "status": status(),
        },
        required=["spec"],
    )
    # `kubectl get`: NAME PHASE READY VERSION AGE; `-o wide` adds AVS, IMAGE, ENDPOINT and MESSAGE (the
    # Ready condition's: why it is not ready) (priority 1).
    columns = [
        ("Phase", ".status.phase", "string", 0),
        ("Ready", ".status.ready", "boolean", 0),
        ("Version", ".spec.version", "string", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
        ("AVS", ".spec.avsAddress", "string", 1),
        ("Image", ".spec.image", "string", 1),
        ("Endpoint", ".status.grpcEndpoint", "string", 1),
        ("Message", '.status.conditions[?(@.type=="Ready")].message', "string", 1),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"performers.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "hourglass-operator",
                "app.kubernetes.io/part-of": "hourglass",
            },
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": "Performer",
                "listKind": "PerformerList",
                "plural": "performers",
                "singular": "performer",
                "shortNames": ["perf"],
                "categories": ["hourglass"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": n, "type": t, "jsonPath": p} | ({"priority": priority} if priority else {})
                        for n, p, t, priority in columns
                    ],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER = (
    "# Generated by hack/crd/generate.py from the schema written there; do not edit by hand.\n"
    "# yamllint disable rule:line-length\n"
)


def render() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100)


# The keywords plugins/module_utils/structural_schema.py checks, and those the schema module leaves out:
# documentation, merge hints, and anyOf, which only spells x-kubernetes-int-or-string. Any other
# keyword stops the generator: the validator would silently ignore it.
CHECKED_KEYWORDS = {
    "type", "properties", "additionalProperties", "items", "required", "enum", "nullable", "format",
    "minimum", "maximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "minProperties",
    "maxProperties", "default", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-validations",
}  # fmt: skip
LEFT_OUT_KEYWORDS = {"description", "x-kubernetes-map-type", "anyOf"}
# The keys of a CEL rule the validator reads (a messageExpression or a transition rule's
# optionalOldSelf stops the generator).
RULE_KEYS = ("rule", "message", "fieldPath", "reason")
# A rule's fieldPath as the validator follows it: fields of self, such as .values or .a.b.
FIELD_PATH = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_]*)+")
# What the schema's patterns mean, for the validator's messages.
PATTERN_WORDS = {QUANTITY_PATTERN: "a resource quantity such as 500m, 2, 1.5 or 4Gi"}
SCHEMA_WIDTH = 110


def checked_rules(rules: list[Schema], path: str) -> list[Schema]:
    """`rules` (x-kubernetes-validations at `path`) once each compiles with cel_rules.py."""
    where = path or "the schema"
    for entry in rules:
        unknown = sorted(set(entry) - set(RULE_KEYS))
        if unknown or "message" not in entry:
            what = f"the keys {', '.join(unknown)}" if unknown else "a rule without a message"
            raise SystemExit(f"{where}: structural_schema.py does not check {what}")
        field_path = entry.get("fieldPath")
        if field_path is not None and not FIELD_PATH.fullmatch(field_path):
            raise SystemExit(f"{where}: structural_schema.py does not follow the fieldPath {field_path!r}")
        try:
            compile_rule(entry["rule"])
        except CelSyntaxError as error:
            raise SystemExit(
                f"{where}: plugins/module_utils/cel_rules.py cannot check the rule {entry['rule']!r}: {error}"
            ) from None
    return [{k: entry[k] for k in RULE_KEYS if k in entry} for entry in rules]


def structural(schema: Schema, path: str = "") -> Schema:
    """`schema` with only the keywords the validator checks, each CEL rule compiled."""
    unknown = sorted(set(schema) - CHECKED_KEYWORDS - LEFT_OUT_KEYWORDS)
    if "anyOf" in schema and not schema.get("x-kubernetes-int-or-string"):
        unknown.append("anyOf (other than x-kubernetes-int-or-string's)")
    if schema.get("format", "int32") not in ("int32", "int64"):
        unknown.append(f"format {schema['format']}")
    if unknown:
        raise SystemExit(f"{path or 'the schema'}: structural_schema.py does not check {', '.join(unknown)}")
    out: Schema = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: structural(s, f"{path}.{name}") for name, s in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = structural(value, f"{path}[]")
        elif key == "x-kubernetes-validations":
            out[key] = checked_rules(value, path)
        elif key in CHECKED_KEYWORDS:
            out[key] = value
    return out


def flat(value: Any) -> str:
    """`value` (JSON data) as a one-line Python literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(flat, value)) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


# A long CEL rule is written one clause a line: broken after each `||` and `&&` (a line of a rule never
# goes on after one); any long string is broken after a space where it must be, else where the line is
# full.
CLAUSE_END = re.compile(r"(?<=\|\| |&& )")


def string_parts(value: str, room: int) -> list[str]:
    """`value` in pieces whose literals fit in `room` characters (see CLAUSE_END)."""
    parts = []
    for clause in CLAUSE_END.split(value):
        while clause:
            cut = len(clause)
            while len(json.dumps(clause[:cut])) > room:
                cut -= 1
            if cut < len(clause) and clause.rfind(" ", 0, cut) > 0:
                cut = clause.rfind(" ", 0, cut) + 1
            parts.append(clause[:cut])
            clause = clause[cut:]
    return parts


def literal(value: Any, indent: int, prefix: int) -> str:
    """`value` (JSON data) as a Python literal: on one line when it fits in SCHEMA_WIDTH after `prefix`
    characters, else one entry (or piece of a string) per line, indented by one more space."""
    one_line = flat(value)
    if prefix + len(one_line) + 1 <= SCHEMA_WIDTH:
        return one_line
    pad, end = " " * (indent + 1), "\n" + " " * indent
    if isinstance(value, str):  # adjacent string literals
        parts = string_parts(value, SCHEMA_WIDTH - len(pad))
        return "(" + "".join(f"\n{pad}{json.dumps(part)}" for part in parts) + end + ")"
    if isinstance(value, list):
        return "[" + "".join(f"\n{pad}{literal(v, indent + 1, len(pad))}," for v in value) + end + "]"
    lines = []
    for key, item in value.items():
        head = literal(key, indent + 1, len(pad)) + ": "
        last_line = (pad + head).rsplit("\n")[-1]
        lines.append(f"\n{pad}{head}{literal(item, indent + 1, len(last_line))},")
    return "{" + "".join(lines) + end + "}"


def render_schema_module() -> str:
    """plugins/module_utils/performer_schema.py: the Performer's schema, CEL rules included, without status,
    which the API server drops from a Performer it creates (the status subresource) and the one-off
    deploy ignores; metadata keeps every field (the API server validates ObjectMeta itself)."""
    root = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    properties = {k: v for k, v in root["properties"].items() if k != "status"}
    properties["metadata"] = properties["metadata"] | {"x-kubernetes-preserve-unknown-fields": True}
    schema = structural(root | {"properties": properties})
    return (
        "# Generated by hack/crd/generate.py from the Performer CRD's schema; do not edit by hand.\n"
        '"""The OpenAPI v3 schema of the Performer CRD (crds/hourglass.eigenlayer.io_performers.yaml)\n'
        "without its descriptions and status, CEL rules included: what the filter `performer_errors`\n"
        "(plugins/filter/hourglass_checks.py) checks a Performer from a file against, with\n"
        'plugins/module_utils/structural_schema.py and cel_rules.py."""\n\n'
        "from __future__ import annotations\n\n"
        "# fmt: off\n"
        "# What the schema's patterns mean, for the messages.\n"
        f"PATTERN_WORDS = {literal(PATTERN_WORDS, 0, 16)}\n\n"
        f"SCHEMA = {literal(schema, 0, 9)}\n"
        "# fmt: on\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a written file is stale")
    args = parser.parse_args()
    text = render()
    files = {path: text for path in (CRD_PATH, *CRD_COPIES)} | {SCHEMA_MODULE: render_schema_module()}
    if args.check:
        stale = [p for p, content in files.items() if not p.exists() or p.read_text() != content]
        for path in stale:
            print(f"{path} is stale: run python hack/crd/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
