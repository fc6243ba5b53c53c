"""Reading the configuration: the YAML file (`load_config`), YAML text (`parse_config`) or already
parsed data (`validate_config`) into an `ExecutorConfig`, or a `ConfigError` with every problem.

YAML is read with a safe loader that also reports duplicate keys (PyYAML keeps the last one
silently) and reads an integer too long for `int()` as `LongInteger`, which the model refuses at its
key (PyYAML would raise ValueError); a syntax error is reported by line and column without quoting
the line (it may hold a secret). A key whose value is null counts as not set. The model's problems
and the rules between fields (`rules.py`) are reported together, in document order.

What the configuration points to on the executor's machine (keystores, password files and
variables, the kubeconfig, the store's file, a static chain file, TLS files) is not read here: `run`
loads it at start-up, and `validate` checks it the same way (`server/startup.py`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hourglass_executor.config.errors import DOCUMENT, ConfigError, Problem
from hourglass_executor.config.messages import document_order, problems_of
from hourglass_executor.config.model import ExecutorConfig
from hourglass_executor.config.rules import cross_checks
from hourglass_executor.config.types import LongInteger


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def validate_config(data: Any) -> ExecutorConfig:
    """Validates already parsed data (a mapping with the YAML keys); raises ConfigError."""
    if not isinstance(data, dict):
        if data is None:
            raise ConfigError([Problem(DOCUMENT, "empty; expected a mapping of settings")])
        raise ConfigError([Problem(DOCUMENT, f"must be a mapping of settings, not a {type(data).__name__}")])
    data = _drop_nulls(data)
    problems: list[Problem] = []
    config = None
    try:
        config = ExecutorConfig.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc)
    for problem in cross_checks(data):
        if problem not in problems:
            problems.append(problem)
    if problems or config is None:
        raise ConfigError(document_order(data, problems))
    return config


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    mark = key_node.start_mark
                    self.duplicates.append(
                        Problem(
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


def _parse_yaml(text: str) -> tuple[Any, list[Problem]]:
    """The document and its duplicate-key problems; a syntax error is a ConfigError."""
    loader = _Loader(text)
    problem = Problem(DOCUMENT, "invalid YAML")
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        # Only the problem text: str(exc) quotes the offending line, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else DOCUMENT
        what = exc.problem or exc.context or "cannot be parsed"
        if exc.context and what.startswith("but "):  # "expected a single document ..., but found ..."
            what = f"{exc.context}, {what}"
        problem = Problem(where, f"invalid YAML: {what}")
    except yaml.YAMLError as exc:
        problem = Problem(DOCUMENT, f"invalid YAML: {exc}")
    finally:
        loader.dispose()
    raise ConfigError([problem])


def parse_config(text: str, source: str | None = None) -> ExecutorConfig:
    """Parses and validates YAML text; raises ConfigError (with `source` set to `source`)."""
    problems: list[Problem] = []
    config = None
    try:
        data, problems = _parse_yaml(text)
        config = validate_config(data)
    except ConfigError as exc:
        problems = problems + exc.problems
    if problems or config is None:
        raise ConfigError(problems, source)
    return config


def load_config(path: str | Path) -> ExecutorConfig:
    """Reads and validates the executor configuration file; raises ConfigError."""
    source = str(path)
    reason = None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        reason = "cannot be read: not UTF-8 text"
    except OSError as exc:
        reason = f"cannot be read: {exc.strerror or exc}"
    if reason is not None:
        raise ConfigError([Problem(source, reason)], source)
    return parse_config(text, source)
