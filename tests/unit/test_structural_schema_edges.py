"""The structural schema check at its edges: types, enums, bounds, patterns, nulls, rule messages."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.structural_schema import schema_errors


def rule(expression: str, message: str, field: str | None = None) -> dict[str, str]:
    return {"rule": expression, "message": message} | ({"fieldPath": field} if field else {})


def ruled(schema: dict[str, Any], *rules: dict[str, str]) -> dict[str, Any]:
    return schema | {"x-kubernetes-validations": list(rules)}


SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"x-kubernetes-int-or-string": True},
        "kind": {"type": "string", "enum": ["A", "B"]},
        "level": {"type": "integer", "enum": [1, 2]},
        "ratio": {"type": "number", "minimum": 1, "maximum": 2},
        "word": {"type": "string", "pattern": "b", "maxLength": 3},
        "long": {"type": "string", "enum": ["x"]},
        "numbers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}},
        "names": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "port"],
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
            },
        },
        "free": {"type": "object", "additionalProperties": True},
    },
}


@pytest.mark.parametrize(
    ("document", "said"),
    [
        # As the API server: "must be of type integer,string: boolean".
        ({"amount": True}, ["amount must be an integer or a string (quote it in YAML), got a boolean"]),
        ({"kind": ""}, ["kind '' must be one of: A, B"]),
        ({"level": 0}, ["level 0 must be one of: 1, 2"]),
        ({"ratio": 0.5}, ["ratio 0.5 must be at least 1"]),
        ({"ratio": 2.5}, ["ratio 2.5 must be at most 2"]),
        ({"ratio": 1.5}, []),
        ({"word": "ab"}, []),  # a pattern is found anywhere, as Go's regexp MatchString does
        ({"word": "xyz"}, ["word 'xyz' must be a string matching b"]),
        ({"word": "béb"}, []),  # three characters, five bytes
        ({"word": "bbbb"}, ["word must be at most 3 characters long (it has 4)"]),
        ({"long": "y" * 100}, [f"long '{'y' * 76}... must be one of: x"]),
        ({"numbers": [1, 1.0]}, ["numbers[1] repeats numbers[0] (the same value)"]),
        (
            {"names": ["a", "a", "a"]},
            ["names[1] repeats names[0] (the same value)", "names[2] repeats names[0] (the same value)"],
        ),
        ({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}, []),
        (
            {"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 1.0}]},
            ["ports[1] repeats ports[0] (name 'a', port 1.0)"],
        ),
        ({"free": {"any": {"thing": [1]}}}, []),
    ],
)
def test_structural_checks_at_their_edges(document: dict[str, Any], said: list[str]) -> None:
    assert [message for _, message in schema_errors(document, SCHEMA)] == said


RULED = ruled(
    {
        "type": "object",
        "required": ["maybe", "mode"],
        "properties": {
            "maybe": {"type": "string", "nullable": True},
            "mode": {"type": "string", "default": "fast"},
            "max": {"type": "integer"},
            "min": ruled({"type": "integer"}, rule("self >= 1", "minimum is 1")),
            "count": ruled({"type": "integer"}, rule("self <= 3", "must be at most 3")),
            "any": ruled({"x-kubernetes-int-or-string": True}, rule("self", "must be true")),
            "lists": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": ruled({"type": "string"}, rule("size(self) < 3", "must be short")),
                },
            },
        },
    },
    rule("self.mode != 'fast' || !has(self.max)", "max is not for the fast mode", ".max"),
)


@pytest.mark.parametrize(
    ("document", "said"),
    [
        # A null nullable field is there for `required`; a defaulted one need not be given (the API
        # server answered both so).
        ({"maybe": None}, []),
        # A null field that is not nullable is dropped, then defaulted: the rules see mode 'fast'.
        ({"maybe": "x", "mode": None, "max": 1}, [("max", "max is not for the fast mode")]),
        ({"maybe": "x", "min": 0}, [("min", "min: minimum is 1")]),  # "minimum" does not name min
        ({"maybe": "x", "count": 5}, [("count", "count 5 must be at most 3")]),
        ({"maybe": "x", "any": 1}, [("any", "any 1 must be true")]),  # only true passes a rule
        ({"maybe": "x", "lists": {"k": ["abcd"]}}, [("lists[k][0]", "lists[k][0] 'abcd' must be short")]),
    ],
)
def test_rules_see_the_stored_value_and_name_the_field(
    document: dict[str, Any], said: list[tuple[str, str]]
) -> None:
    assert schema_errors(document, RULED) == said


def test_a_nullable_field_given_null_is_absent_to_has_as_on_the_api_server() -> None:
    # The API server refused {"o": {"maybe": null}} under this schema with "spec.o: Invalid value:
    # maybe absent" (the `required` check passes: a nullable null is there).
    schema = {
        "type": "object",
        "properties": {
            "o": ruled(
                {
                    "type": "object",
                    "required": ["maybe"],
                    "properties": {"maybe": {"type": "string", "nullable": True}},
                },
                rule("has(self.maybe)", "maybe absent"),
            )
        },
    }
    assert [message for _, message in schema_errors({"o": {"maybe": None}}, schema)] == ["o: maybe absent"]
    assert schema_errors({"o": {"maybe": "here"}}, schema) == []
