"""Checks a value (a document read from YAML) against a Kubernetes structural OpenAPI v3 schema, as the
API server's schema validation would, minus CEL rules (x-kubernetes-validations), which it cannot
evaluate. A named field given as null where the schema is not nullable counts as absent, as the API
server drops it; null elsewhere (a list item, a map's value) is refused. Stricter than the API server
in one way, because it is a mistake in a file: an unknown field is refused (the API server would
prune it).

Each error is (field path, message), the path spelled as the API server spells it
(spec.scheduling.tolerations[0].value) and the message naming it and the rule. Values under a `secret`
path are never shown, only what YAML made of them (`kind_of`). Patterns are ECMA/RE2 regular
expressions: `$` is translated to `\\Z`, as Python's `$` also matches before a trailing newline.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

Schema = Mapping[str, Any]
Error = tuple[str, str]

TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a mapping",
    "array": "a list",
}
PLURALS = {"item": "items", "entry": "entries"}
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def kind_of(value: Any) -> str:
    """What YAML made of an unquoted value, in words ("an integer"), without the value."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return f"a value of type {type(value).__name__}"


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    """`pattern` with ECMA/RE2's `$` (end of input, outside character classes), ASCII classes."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out), re.ASCII)


def _has_type(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    wanted = schema.get("type")
    if wanted in ("integer", "number") and isinstance(value, bool):
        return False
    kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict}
    return wanted is None or isinstance(value, kinds.get(wanted, list))


def _words(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "an integer or a string"
    return TYPE_WORDS[schema["type"]]


def schema_errors(
    value: Any,
    schema: Schema,
    path: str = "",
    *,
    secret: Sequence[str] = (),
    pattern_words: Mapping[str, str] | None = None,
) -> list[Error]:
    """Why `value` at `path` does not satisfy `schema`. Values at or under a path of `secret` are never
    shown; `pattern_words` says what a pattern means ("a resource quantity such as 500m")."""
    checker = _Checker(tuple(secret), pattern_words or {})
    checker.check(value, schema, path)
    return checker.errors


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {PLURALS[noun]}"


def _characters(bound: str, number: int) -> str:
    return f"be {bound} {number} characters long"


def _items(bound: str, number: int) -> str:
    return f"have {bound} {_count(number, 'item')}"


def _entries(bound: str, number: int) -> str:
    return f"have {bound} {_count(number, 'entry')}"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Checker:
    def __init__(self, secret: tuple[str, ...], words: Mapping[str, str]) -> None:
        self.secret, self.words = secret, words
        self.errors: list[Error] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append((path, f"{path or 'the document'}{message}"))

    def shown(self, value: Any, path: str) -> str:
        """` value` for a message, or nothing under a secret path."""
        if any(path == s or path.startswith((s + ".", s + "[")) for s in self.secret):
            return ""
        text = repr(value)
        return " " + (text if len(text) <= 80 else text[:77] + "...")

    def check(self, value: Any, schema: Schema, path: str) -> None:
        if value is None and schema.get("nullable"):
            return
        if value is None or not _has_type(value, schema):
            takes_string = schema.get("type") == "string" or schema.get("x-kubernetes-int-or-string")
            quote = takes_string and not isinstance(value, (dict, list))
            hint = " (quote it in YAML)" if quote else ""
            return self.fail(path, f" must be {_words(schema)}{hint}, got {kind_of(value)}")
        if "enum" in schema and value not in schema["enum"]:
            choices = ", ".join(str(choice) or '""' for choice in schema["enum"])
            return self.fail(path, f"{self.shown(value, path)} must be one of: {choices}")
        if isinstance(value, str):
            return self.check_string(value, schema, path)
        if isinstance(value, list):
            return self.check_list(value, schema, path)
        if isinstance(value, dict):
            return self.check_mapping(value, schema, path)
        if not isinstance(value, bool):  # a number
            low, high = INT_RANGES.get(schema.get("format", ""), (None, None))
            low, high = schema.get("minimum", low), schema.get("maximum", high)
            if low is not None and value < low:
                return self.fail(path, f"{self.shown(value, path)} must be at least {low}")
            if high is not None and value > high:
                return self.fail(path, f"{self.shown(value, path)} must be at most {high}")
        return None

    def out_of_bounds(
        self, size: int, schema: Schema, keys: tuple[str, str], path: str, words: Callable[[str, int], str]
    ) -> bool:
        """Fails when `size` is outside the schema's bounds `keys` (min, max) and says so; `words("at
        least", n)` is what follows "must"."""
        low, high = (schema.get(key) for key in keys)
        if low is not None and size < low:
            self.fail(path, f" must {words('at least', low)}")
        elif high is not None and size > high:
            self.fail(path, f" must {words('at most', high)} (it has {size})")
        else:
            return False
        return True

    def check_string(self, value: str, schema: Schema, path: str) -> None:
        if self.out_of_bounds(len(value), schema, ("minLength", "maxLength"), path, _characters):
            return None
        pattern = schema.get("pattern")
        if pattern and not _regex(pattern).search(value):
            what = self.words.get(pattern) or f"a string matching {pattern}"
            return self.fail(path, f"{self.shown(value, path)} must be {what}")
        return None

    def check_list(self, value: list, schema: Schema, path: str) -> None:
        if self.out_of_bounds(len(value), schema, ("minItems", "maxItems"), path, _items):
            return None
        list_type, keys = schema.get("x-kubernetes-list-type"), schema.get("x-kubernetes-list-map-keys", [])
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            self.check(item, schema.get("items", {}), f"{path}[{index}]")
            if list_type == "map" and isinstance(item, dict):
                identity = repr([item.get(k) for k in keys])
            elif list_type == "set":
                identity = repr(item)
            else:
                continue
            if identity in seen:
                what = ", ".join(f"{k}{self.shown(item.get(k), path)}" for k in keys) or "the same value"
                self.fail(f"{path}[{index}]", f" repeats {path}[{seen[identity]}] ({what})")
            seen.setdefault(identity, index)
        return None

    def check_mapping(self, value: dict, schema: Schema, path: str) -> None:
        if self.out_of_bounds(len(value), schema, ("minProperties", "maxProperties"), path, _entries):
            return None
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
        dropped = {
            k for k, v in value.items() if v is None and k in properties and not properties[k].get("nullable")
        }
        for name in schema.get("required", []):
            if name not in value or name in dropped:
                self.fail(_child(path, name), " is required")
        for key, item in value.items():
            if key in dropped:
                continue
            if not isinstance(key, str):
                self.fail(path, f": keys must be strings (quote them in YAML), one is {kind_of(key)}")
            elif key in properties:
                self.check(item, properties[key], _child(path, key))
            elif isinstance(extra, Mapping):
                self.check(item, extra, _child(path, key))
            elif not (extra or schema.get("x-kubernetes-preserve-unknown-fields")):
                known = ", ".join(sorted(properties)) or "none"
                self.fail(_child(path, key), f": unknown field (the known fields here: {known})")
        return None
