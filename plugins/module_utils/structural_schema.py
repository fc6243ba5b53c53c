"""Checks a value (a document read from YAML) against a Kubernetes structural OpenAPI v3 schema, as the
API server's schema validation would, and evaluates the schema's CEL rules (x-kubernetes-validations,
with plugins/module_utils/cel_rules.py) as the API server does: at each node with rules whose value
is present and not null, with `self` bound to that value as the API server stores it (whole numbers
as integers, defaults applied, null fields dropped). A node's rules are evaluated only when its
subtree passed the structural checks (the API server evaluates none once the object has such an
error; here the valid parts are still checked). A failed rule is reported at the node, or at its
`fieldPath`, with the rule's message; an error while evaluating it (a string that is no quantity, a
missing key) fails it too, as on the API server.

A named field given as null where the schema is not nullable counts as absent, as the API server
drops it; null elsewhere (a list item, a map's value) is refused. A whole number written as a float
(8080.0) is an integer, as the API server takes it (`normalized` turns it into one); any other float
where an integer belongs is refused. Stricter than the API server in one way, because it is a
mistake in a file: an unknown field is refused (the API server would prune it).

Each error is (field path, message), the path spelled as the API server spells it
(spec.scheduling.tolerations[0].value; as there, the structural checks name a map's entry
spec.resources.limits.cpu, the rules spec.resources.limits[cpu]) and the message naming it and the
rule. Values under a `secret` path are never shown, only what YAML made of them (`kind_of`).
Patterns are RE2 regular expressions, as Go's regexp reads them (kube_formats.re2).
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.cel_rules import CelEvalError, evaluate
from ansible_collections.hourglass.operator.plugins.module_utils.kube_formats import re2 as _regex

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


# A whole float (8080.0 in YAML) reaches the API server as an integer: kubectl (sigs.k8s.io/yaml)
# sends the JSON of what it read, and Go writes the float64 8080 as 8080. Beyond int64 it stays a
# float, which an integer field refuses.
_INT64_FLOATS = (-(2.0**63), 2.0**63)


def _takes_integer(schema: Schema) -> bool:
    return schema.get("type") == "integer" or bool(schema.get("x-kubernetes-int-or-string"))


def _whole(value: Any) -> bool:
    """`value` is a float the API server takes for an integer (8080.0)."""
    return isinstance(value, float) and value.is_integer() and _INT64_FLOATS[0] <= value < _INT64_FLOATS[1]


def normalized(value: Any, schema: Schema) -> Any:
    """A copy of `value` with each whole float (8080.0) where `schema` takes an integer (or an integer
    or a string) turned into an int, as the API server stores it; every other value as it was."""
    if _whole(value) and _takes_integer(schema):
        return int(value)
    if isinstance(value, dict):
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
        extra = extra if isinstance(extra, Mapping) else {}
        return {k: normalized(v, properties.get(k, extra)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(item, schema.get("items", {})) for item in value]
    return value


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
    """Why `value` at `path` does not satisfy `schema` (its structure and its CEL rules). Values at or
    under a path of `secret` are never shown; `pattern_words` says what a pattern means ("a resource
    quantity such as 500m")."""
    checker = _Checker(tuple(secret), pattern_words or {})
    checker.check(value, schema, path, path)
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


_LAST_FIELD = re.compile(r"(?:^|\.)([^.\[\]]+)$")


class _Checker:
    def __init__(self, secret: tuple[str, ...], words: Mapping[str, str]) -> None:
        self.secret, self.words = secret, words
        self.errors: list[Error] = []
        self.refusals = 0  # structural errors so far: a node's rules wait for a valid subtree

    def fail(self, path: str, message: str) -> None:
        self.refusals += 1
        self.errors.append((path, f"{path or 'the document'}{message}"))

    def shown(self, value: Any, path: str) -> str:
        """` value` for a message, or nothing under a secret path."""
        if any(path == s or path.startswith((s + ".", s + "[")) for s in self.secret):
            return ""
        text = repr(value)
        return " " + (text if len(text) <= 80 else text[:77] + "...")

    def check(self, value: Any, schema: Schema, path: str, rule_path: str) -> Any:
        """Checks `value` (at `path`; `rule_path` is how the rules' errors spell it) and returns it as
        the API server stores it, for the rules of the nodes above (None after an error)."""
        if value is None and schema.get("nullable"):
            return None
        if _whole(value) and _takes_integer(schema):
            value = int(value)
        if value is None or not _has_type(value, schema):
            takes_string = schema.get("type") == "string" or schema.get("x-kubernetes-int-or-string")
            quote = takes_string and not isinstance(value, (dict, list))
            hint = " (quote it in YAML)" if quote else ""
            return self.fail(path, f" must be {_words(schema)}{hint}, got {kind_of(value)}")
        if "enum" in schema and value not in schema["enum"]:
            choices = ", ".join(str(choice) or '""' for choice in schema["enum"])
            return self.fail(path, f"{self.shown(value, path)} must be one of: {choices}")
        refusals, stored = self.refusals, value
        if isinstance(value, str):
            self.check_string(value, schema, path)
        elif isinstance(value, list):
            stored = self.check_list(value, schema, path, rule_path)
        elif isinstance(value, dict):
            stored = self.check_mapping(value, schema, path, rule_path)
        elif not isinstance(value, bool):  # a number
            self.check_number(value, schema, path)
        if self.refusals != refusals:
            return None
        for rule in schema.get("x-kubernetes-validations", ()):
            self.check_rule(rule, stored, rule_path)
        return stored

    def check_rule(self, rule: Mapping[str, str], value: Any, path: str) -> None:
        """Reports the rule `rule` when `value` (at `path`) fails it, at its fieldPath, the message as
        the rule's own sentence about the field: "spec.x.gpuCount must be ...", "spec.x.limits:
        resource names ..."."""
        try:
            if evaluate(rule["rule"], value) is True:
                return
            where, why = (path + rule.get("fieldPath", "")).lstrip("."), ""
        except CelEvalError as error:  # the API server names the node then, not the fieldPath
            where, why = path, f" (the rule could not be evaluated: {error})"
        message = rule["message"]
        field = _LAST_FIELD.search(where)
        if field and message.startswith(field.group(1) + " "):
            text = where + message[len(field.group(1)) :]
        elif message.startswith("must "):
            scalar = "fieldPath" not in rule and isinstance(value, (str, int))
            text = f"{where}{self.shown(value, where) if scalar else ''} {message}"
        else:
            text = f"{where or 'the document'}: {message}"
        self.errors.append((where, text + why))

    def check_number(self, value: Any, schema: Schema, path: str) -> None:
        low, high = INT_RANGES.get(schema.get("format", ""), (None, None))
        low, high = schema.get("minimum", low), schema.get("maximum", high)
        if low is not None and value < low:
            self.fail(path, f"{self.shown(value, path)} must be at least {low}")
        elif high is not None and value > high:
            self.fail(path, f"{self.shown(value, path)} must be at most {high}")

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

    def check_list(self, value: list, schema: Schema, path: str, rule_path: str) -> list | None:
        if self.out_of_bounds(len(value), schema, ("minItems", "maxItems"), path, _items):
            return None
        list_type, keys = schema.get("x-kubernetes-list-type"), schema.get("x-kubernetes-list-map-keys", [])
        seen: dict[str, int] = {}
        stored = []
        for index, item in enumerate(value):
            where = f"[{index}]"
            stored.append(self.check(item, schema.get("items", {}), path + where, rule_path + where))
            same = item if stored[-1] is None else stored[-1]  # 1 and 1.0 are the same integer
            if list_type == "map" and isinstance(same, dict):
                identity = repr([same.get(k) for k in keys])
            elif list_type == "set":
                identity = repr(same)
            else:
                continue
            if identity in seen:
                what = ", ".join(f"{k}{self.shown(item.get(k), path)}" for k in keys) or "the same value"
                self.fail(f"{path}[{index}]", f" repeats {path}[{seen[identity]}] ({what})")
            seen.setdefault(identity, index)
        return stored

    def check_mapping(self, value: dict, schema: Schema, path: str, rule_path: str) -> dict | None:
        if self.out_of_bounds(len(value), schema, ("minProperties", "maxProperties"), path, _entries):
            return None
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
        dropped = {
            k for k, v in value.items() if v is None and k in properties and not properties[k].get("nullable")
        }
        for name in schema.get("required", []):
            if (name not in value or name in dropped) and "default" not in properties.get(name, {}):
                self.fail(_child(path, name), " is required")
        stored = {}
        for key, item in value.items():
            if key in dropped:
                continue
            if not isinstance(key, str):
                self.fail(path, f": keys must be strings (quote them in YAML), one is {kind_of(key)}")
            elif key in properties:
                stored[key] = self.check(item, properties[key], _child(path, key), _child(rule_path, key))
            elif isinstance(extra, Mapping):
                stored[key] = self.check(item, extra, _child(path, key), f"{rule_path}[{key}]")
            elif extra or schema.get("x-kubernetes-preserve-unknown-fields"):
                stored[key] = item
            else:
                known = ", ".join(sorted(properties)) or "none"
                self.fail(_child(path, key), f": unknown field (the known fields here: {known})")
        for name, field in properties.items():
            if name not in stored and "default" in field:
                stored[name] = copy.deepcopy(field["default"])
        return stored
