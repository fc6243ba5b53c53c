"""The structural schema validator (plugins/module_utils/structural_schema.py): each rule of a
Kubernetes structural schema refuses a value naming the field path and the rule, its CEL rules are
evaluated where and on what the API server evaluates them (with their messages, naming the field),
whole floats are integers, values under a secret path are never shown, and the generated schema
module (plugins/module_utils/performer_schema.py) holds the committed CRD's schema, CEL rules
included (`hack/crd/generate.py --check`, run by `make lint`, checks it too)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_schema import PATTERN_WORDS, SCHEMA
from ansible_collections.hourglass.operator.plugins.module_utils.structural_schema import (
    normalized,
    schema_errors,
)

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
    # A whole float is an integer, as the API server takes it (kubectl sends 8080.0 as 8080).
    "type-integer-whole-float": ({"count": 3.0, "big": -(2.0**63), "amount": 2.0}, []),
    "whole-float-bounds": ({"count": 10.0}, ["count 10 must be at most 9"]),
    "type-integer-float-beyond-int64": ({"big": 2.0**63}, ["big must be an integer, got a number"]),
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
    """The keywords of a CRD schema node that the schema module keeps, CEL rules included (the others
    are documented as left out by hack/crd/generate.py)."""
    left_out = {"description", "x-kubernetes-map-type", "anyOf"}
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


def rule(expression: str, message: str, field: str | None = None) -> dict:
    return {"rule": expression, "message": message} | ({"fieldPath": field} if field else {})


def ruled(schema: dict, *rules: dict) -> dict:
    return schema | {"x-kubernetes-validations": list(rules)}


RULED_SCHEMA = ruled(
    {
        "type": "object",
        "properties": {
            "name": ruled({"type": "string"}, rule("self.matches('^[a-z]+$')", "must be lower-case letters")),
            "min": {"type": "integer"},
            "max": {"type": "integer", "maximum": 100},
            "mode": {"type": "string", "default": "fast"},
            "labels": ruled(
                {
                    "type": "object",
                    "additionalProperties": ruled(
                        {"type": "string"}, rule("size(self) <= 3", "must be at most 3 characters")
                    ),
                },
                rule("self.all(k, k != 'bad')", "keys must not be bad"),
            ),
            "items": {
                "type": "array",
                "items": ruled(
                    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
                    rule("has(self.a)", "a is required with b", ".a"),
                    rule("!has(self.a) || self.b != ''", "b must not be empty with a", ".b"),
                ),
            },
            "amount": ruled(
                {"x-kubernetes-int-or-string": True},
                rule("quantity(string(self)).isInteger()", "must be a whole quantity"),
            ),
            "maybe": ruled({"type": "string", "nullable": True}, rule("self != ''", "must not be empty")),
            "secret": {
                "type": "object",
                "additionalProperties": ruled({"type": "string"}, rule("self != 'x'", "must not be x")),
            },
        },
    },
    rule("!has(self.min) || !has(self.max) || self.min <= self.max", "min must be at most max", ".min"),
    rule("self.mode != 'fast' || !has(self.max)", "max is not for the fast mode", ".max"),
)
# (the document, the errors)
RULE_CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "valid": (
        {"name": "abc", "min": 1, "max": 2, "mode": "slow", "amount": "2k", "items": [{"a": "1", "b": "2"}]},
        [],
    ),
    "absent": ({}, []),
    "null-field-is-absent": ({"name": None, "min": None, "max": None}, []),
    "nullable-null-is-not-evaluated": ({"maybe": None}, []),
    "scalar-shows-its-value": ({"name": "ABC"}, [("name", "name 'ABC' must be lower-case letters")]),
    "the-field-path-names-the-field": (
        {"min": 3, "max": 2, "mode": "slow"},
        [("min", "min must be at most max")],
    ),
    "into-a-list-item": (
        {"items": [{"a": "x", "b": "y"}, {"b": "y"}]},
        [("items[1].a", "items[1].a is required with b")],
    ),
    # As on the API server, at the node: the fieldPath says where a false rule is wrong.
    "an-error-at-the-node": (
        {"items": [{"a": "x"}]},
        [
            (
                "items[0]",
                "items[0]: b must not be empty with a (the rule could not be evaluated: no such key: b)",
            )
        ],
    ),
    "a-maps-entry-as-the-api-server-names-it": (
        {"labels": {"abcd": "long"}},
        [("labels[abcd]", "labels[abcd] 'long' must be at most 3 characters")],
    ),
    "a-rule-on-a-map": ({"labels": {"bad": "x"}}, [("labels", "labels: keys must not be bad")]),
    "defaults-applied": ({"max": 5}, [("max", "max is not for the fast mode")]),
    "whole-floats-are-integers": (
        {"min": 3.0, "max": 2.0, "mode": "slow", "amount": 2.0},
        [("min", "min must be at most max")],
    ),
    # The API server checks no rule of an object with a structural error; here the valid parts are.
    "a-structural-error-skips-the-rules-above-it-only": (
        {"name": "ABC", "min": 3, "max": "2", "labels": {"bad": "x"}},
        [
            ("name", "name 'ABC' must be lower-case letters"),
            ("max", "max must be an integer, got a string"),
            ("labels", "labels: keys must not be bad"),
        ],
    ),
    "a-structural-error-in-a-map-skips-its-rules": (
        {"labels": {"bad": 1}},
        [("labels.bad", "labels.bad must be a string (quote it in YAML), got an integer")],
    ),
}


@pytest.mark.parametrize("case", RULE_CASES, ids=list(RULE_CASES))
def test_the_cel_rules_are_evaluated_as_the_api_server_does(case):
    document, said = RULE_CASES[case]
    assert schema_errors(document, RULED_SCHEMA) == said


def test_a_rule_that_cannot_be_evaluated_fails():
    [(path, message)] = schema_errors({"amount": "lots"}, RULED_SCHEMA)
    assert path == "amount"
    assert message.startswith("amount 'lots' must be a whole quantity (the rule could not be evaluated: ")


def test_a_rules_message_never_shows_a_value_under_a_secret_path():
    document = {"secret": {"TOKEN": "x"}}
    assert schema_errors(document, RULED_SCHEMA, secret=("secret",)) == [
        ("secret[TOKEN]", "secret[TOKEN] must not be x")
    ]
    assert schema_errors(document, RULED_SCHEMA) == [("secret[TOKEN]", "secret[TOKEN] 'x' must not be x")]


def test_normalized_turns_whole_floats_into_integers_where_the_schema_takes_integers():
    document = {
        "count": 3.0,
        "big": 2.0**62,
        "amount": 2.0,
        "ratio": 1.0,
        "labels": {"a": 1.0},
        "free": {"x": 1.0},
        "entries": [{"name": "a", "n": 4.0}, {"name": "b", "n": 4.5}],
        "name": "ab",
    }
    result = normalized(document, SCHEMA_UNDER_TEST)
    assert result == document
    assert [type(result[k]) for k in ("count", "big", "amount", "ratio")] == [int, int, int, float]
    assert type(result["labels"]["a"]) is float and type(result["free"]["x"]) is float
    assert [type(e["n"]) for e in result["entries"]] == [int, float]
    assert type(document["count"]) is float  # a copy
