"""pydantic's validation errors as the configuration's `<path>: <message>` problems.

The path uses the YAML key names and list indices (`avsPerformers[0].image.tag`); the message says
the rule: "required", "must be a mapping", the value type's own message (`types.py`), or for an
unknown key the closest known key (`unknown key; did you mean "grpcPort"?`) or the list of keys the
mapping takes. `document_order` sorts problems by where their key is in the file.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from hourglass_executor.config.errors import DOCUMENT, Problem
from hourglass_executor.config.model import ExecutorConfig
from hourglass_executor.config.upstream import as_object


def _format_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or DOCUMENT


def _unwrap(annotation: Any) -> Any:
    """The model class inside Optional[...], list[...] or Annotated[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    for arg in (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (list, typing.Union, types.UnionType)
        else ()
    ):
        if (found := _unwrap(arg)) is not None:
            return found
    return None


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the mapping at `loc` (YAML names)."""
    model: Any = ExecutorConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _unwrap(field.annotation) if field else None
        if model is None:
            return []
    return [f.alias for f in model.model_fields.values() if f.alias]


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    key, known = str(loc[-1]), _known_keys(loc[:-1])
    close = [k for k in known if k.lower() == key.lower()] or difflib.get_close_matches(key, known, n=1)
    if close:
        return f'unknown key; did you mean "{close[0]}"?'
    return f"unknown key; expected one of: {', '.join(known)}" if known else "unknown key"


def _message(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return _unknown_key_message(error["loc"])
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return re.sub(r"^Input should", "must", msg)


def problems_of(error: ValidationError) -> list[Problem]:
    """pydantic's errors as `Problem`s at their YAML paths."""
    return [Problem(_format_path(e["loc"]), _message(e)) for e in error.errors()]


def document_order(data: dict[str, Any], problems: list[Problem]) -> list[Problem]:
    """Problems sorted by where their key is in the document (keys not in it after their siblings)."""

    def position(problem: Problem) -> tuple[int, ...]:
        node: Any = data
        result = []
        for part in re.findall(r"\[\d+\]|[^.\[\]]+", problem.path):
            if isinstance(node, str):  # a path into upstream's contract JSON (upstream.py)
                node = as_object(node)
            if part.startswith("[") and isinstance(node, list):
                index = int(part[1:-1])
                result.append(index)
                node = node[index] if index < len(node) else None
            elif isinstance(node, dict):
                keys = list(node)
                result.append(keys.index(part) if part in keys else len(keys))
                node = node.get(part)
            else:
                result.append(0)
                node = None
        return tuple(result)

    return sorted(problems, key=position)
