"""The YAML reader of the files an operator writes for the executor (its configuration, a static
chain file): PyYAML's safe loader, made to report what it would otherwise hide or crash on.

- A duplicate key is reported by line and column (PyYAML keeps the last one silently).
- An integer too long for `int()` (more than 4300 digits) is read as `LongInteger`, which every
  reader refuses at its key (PyYAML raises ValueError, a traceback).
- A syntax error is reported by line and column without quoting the line, which may hold a secret.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import yaml

DOCUMENT = "<document>"  # where a problem of the whole document is


class YamlProblem(NamedTuple):
    where: str  # "line L, column C", or DOCUMENT
    message: str


class YamlSyntaxError(ValueError):
    def __init__(self, problem: YamlProblem) -> None:
        self.problem = problem
        super().__init__(f"{problem.where}: {problem.message}")


class LongInteger:
    """A YAML integer too long for `int()` (more than 4300 decimal digits), which the loader reads as
    this marker instead of failing; every value type refuses it."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys and reads overlong integers as `LongInteger`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[YamlProblem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    mark = key_node.start_mark
                    self.duplicates.append(
                        YamlProblem(
                            f"line {mark.line + 1}, column {mark.column + 1}",
                            f'duplicate key "{key_node.value}"',
                        )
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_integer(self, node: yaml.ScalarNode) -> int | LongInteger:
        """An integer; `LongInteger` for one of more digits than `int()` converts (PyYAML raises
        ValueError for it, and for a `0b_` or `0x_` without digits: a syntax error here)."""
        try:
            return self.construct_yaml_int(node)
        except ValueError:
            digits = sum(c.isdigit() for c in node.value)
            if digits > sys.get_int_max_str_digits():
                return LongInteger(digits)
            raise yaml.constructor.ConstructorError(
                None, None, "an integer without digits (quote it if it is a string)", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_integer)


def parse_yaml(text: str) -> tuple[Any, list[YamlProblem]]:
    """The document and its duplicate keys, in document order; YamlSyntaxError if it is not YAML."""
    loader = _Loader(text)
    problem = YamlProblem(DOCUMENT, "invalid YAML")
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        # Only the problem text: str(exc) quotes the offending line, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else DOCUMENT
        what = exc.problem or exc.context or "cannot be parsed"
        if exc.context and what.startswith("but "):  # "expected a single document ..., but found ..."
            what = f"{exc.context}, {what}"
        problem = YamlProblem(where, f"invalid YAML: {what}")
    except yaml.YAMLError as exc:
        problem = YamlProblem(DOCUMENT, f"invalid YAML: {exc}")
    finally:
        loader.dispose()
    raise YamlSyntaxError(problem)
