"""The structural schema validator (plugins/module_utils/structural_schema.py): each rule of a
Kubernetes structural schema refuses a value naming the field path and the rule, values under a
secret path are never shown, and the generated schema module (plugins/module_utils/performer_schema.py)
holds the committed CRD's schema (`hack/crd/generate.py --check`, run by `make lint`, checks it too)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_schema import PATTERN_WORDS, SCHEMA
from ansible_collections.hourglass.operator.plugins.module_utils.structural_schema import schema_errors

from tests.support.paths import CRD_FILE

QUANTITY = next(iter(PATTERN_WORDS))
DROP = object()  # a field left out
ITEM = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
}
SCHEMA_UNDER_TEST = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"type": "string", "enum": ["A", "B", ""]},
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "count": {"type": "integer", "minimum": 1, "maximum": 9},
        "big": {"type": "integer", "format": "int64"},
        "ratio": {"type": "number"},
        "on": {"type": "boolean"},
        "maybe": {"type": "string", "nullable": True},
        "labels": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}},
        "some": {"type": "object", "minProperties": 1, "properties": {"a": {"type": "string"}}},
        "amount": {"x-kubernetes-int-or-string": True, "pattern": QUANTITY},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
        "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "entries": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": ITEM,
        },
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "secret": {"type": "object", "additionalProperties": {"type": "string", "enum": ["x"]}},
    },
}

STRING = "must be a string (quote it in YAML), got"
QUANTITY_RULE = "must be a resource quantity such as 500m, 2, 1.5 or 4Gi"
VALID = {
    "name": "ab", "count": 9, "big": 2**63 - 1, "ratio": 1, "on": False, "maybe": None, "amount": 2,
    "labels": {"a": "1"}, "tags": ["x"], "set": ["a", "b"], "entries": [{"name": "a"}, {"name": "b"}],
    "free": {"anything": [1, {"at": "all"}]}, "some": {"a": "b"},
}  # fmt: skip
# (the document's fields besides kind: "A", the errors)
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "valid": (VALID, []),
    "type-string": ({"name": 12}, [f"name {STRING} an integer"]),
    "type-date": ({"name": datetime.date(2024, 1, 2)}, [f"name {STRING} a date"]),
    "type-integer-bool": ({"count": True}, ["count must be an integer, got a boolean"]),
    "type-integer-float": ({"count": 1.5}, ["count must be an integer, got a number"]),
    "type-number": ({"ratio": "1"}, ["ratio must be a number, got a string"]),
    "type-boolean": ({"on": "false"}, ["on must be a boolean (true or false), got a string"]),
    "type-object": ({"labels": "a=b"}, ["labels must be a mapping, got a string"]),
    "type-array": ({"tags": "x"}, ["tags must be a list, got a string"]),
    # A named field given as null is absent, as the API server drops it; a map's null value is not.
    "null-field": ({"name": None, "count": None}, []),
    "null-required-field": ({"kind": None}, ["kind is required"]),
    "null-map-value": ({"labels": {"a": None}}, [f"labels.a {STRING} null (an empty value)"]),
    "null-list-item": ({"tags": [None]}, [f"tags[0] {STRING} null (an empty value)"]),
    "enum": ({"kind": "C"}, ["kind 'C' must be one of: A, B, \"\""]),
    "required": ({"kind": DROP}, ["kind is required"]),
    "min-length": ({"name": "a"}, ["name must be at least 2 characters long"]),
    "max-length": ({"name": "abcdef"}, ["name must be at most 5 characters long (it has 6)"]),
    "minimum": ({"count": 0}, ["count 0 must be at least 1"]),
    "maximum": ({"count": 10}, ["count 10 must be at most 9"]),
    "int64": ({"big": 2**63}, [f"big {2**63} must be at most {2**63 - 1}"]),
    "pattern": ({"amount": "2 cpus"}, [f"amount '2 cpus' {QUANTITY_RULE}"]),
    # ECMA/RE2's $ is the end of the input; Python's would match before a trailing newline.
    "pattern-newline": ({"amount": "2\n"}, [f"amount '2\\n' {QUANTITY_RULE}"]),
    "int-or-string": (
        {"amount": 0.5},
        ["amount must be an integer or a string (quote it in YAML), got a number"],
    ),
    "min-items": ({"tags": []}, ["tags must have at least 1 item"]),
    "max-items": ({"tags": ["a", "b", "c"]}, ["tags must have at most 2 items (it has 3)"]),
    "min-properties": ({"some": {}}, ["some must have at least 1 entry"]),
    "max-properties": (
        {"labels": dict.fromkeys("abc", "1")},
        ["labels must have at most 2 entries (it has 3)"],
    ),
    "additional-properties": (
        {"labels": {"dedicated": True, "rack": 16}},
        [f"labels.dedicated {STRING} a boolean", f"labels.rack {STRING} an integer"],
    ),
    "key-not-string": (
        {"labels": {1: "a"}},
        ["labels: keys must be strings (quote them in YAML), one is an integer"],
    ),
    "unknown-field": ({"some": {"b": "1"}}, ["some.b: unknown field (the known fields here: a)"]),
    "list-items": (
        {"entries": [{"name": "a"}, {"n": "2"}]},
        ["entries[1].name is required", "entries[1].n must be an integer, got a string"],
    ),
    "list-map-duplicate": (
        {"entries": [{"name": "a"}, {"name": "b"}, {"name": "a"}]},
        ["entries[2] repeats entries[0] (name 'a')"],
    ),
    "list-set-duplicate": ({"set": ["a", "a"]}, ["set[1] repeats set[0] (the same value)"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_rule_refuses_naming_the_field_and_the_rule(case):
    fields, said = CASES[case]
    document = {k: v for k, v in {"kind": "A", **fields}.items() if v is not DROP}
    errors = schema_errors(document, SCHEMA_UNDER_TEST, pattern_words=PATTERN_WORDS)
    assert [message for _, message in errors] == said


def test_errors_carry_the_field_path():
    document = {"kind": "A", "entries": [{"name": "a", "n": "x"}], "labels": {"x": 1}}
    assert [path for path, _ in schema_errors(document, SCHEMA_UNDER_TEST)] == ["entries[0].n", "labels.x"]


def test_the_root_is_named_when_it_has_the_wrong_type():
    assert schema_errors([], SCHEMA_UNDER_TEST) == [("", "the document must be a mapping, got a list")]
    assert schema_errors([], SCHEMA_UNDER_TEST, "spec") == [("spec", "spec must be a mapping, got a list")]


SECRET = "sk_live_TOPSECRET"


@pytest.mark.parametrize("value", [SECRET, 918273645546372819, [SECRET]])
def test_values_under_a_secret_path_are_never_shown(value):
    document = {"kind": "A", "secret": {"TOKEN": value}}
    [(path, message)] = schema_errors(document, SCHEMA_UNDER_TEST, secret=("secret",))
    assert path == "secret.TOKEN" and message.startswith("secret.TOKEN ")
    assert SECRET not in message and "918273645546372819" not in message


def test_values_elsewhere_are_shown():
    document = {"kind": "A", "secret": {"TOKEN": SECRET}}
    assert schema_errors(document, SCHEMA_UNDER_TEST, secret=("secre",)) == [
        ("secret.TOKEN", f"secret.TOKEN {SECRET!r} must be one of: x")
    ]


def structural_part(schema: dict) -> dict:
    """The keywords of a CRD schema node that the schema module keeps (the others are documented as
    left out by hack/crd/generate.py)."""
    left_out = {"description", "default", "x-kubernetes-validations", "x-kubernetes-map-type", "anyOf"}
    node = {k: v for k, v in schema.items() if k not in left_out}
    if "properties" in node:
        node["properties"] = {name: structural_part(s) for name, s in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = structural_part(node[key])
    return node


def test_the_schema_module_holds_the_committed_crds_schema():
    crd = yaml.safe_load(CRD_FILE.read_text())
    expected = structural_part(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    # Not status (the API server drops it on create); metadata keeps ObjectMeta's other fields.
    del expected["properties"]["status"]
    expected["properties"]["metadata"]["x-kubernetes-preserve-unknown-fields"] = True
    assert expected == SCHEMA
    assert set(PATTERN_WORDS) == {QUANTITY}
