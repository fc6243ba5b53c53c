"""Reading the configuration: the YAML file (`load_config`), YAML text (`parse_config`) or already
parsed data (`validate_config`) into an `ExecutorConfig`, or a `ConfigError` with every problem.

YAML is read by `strict_yaml`, which also reports duplicate keys and reads an integer too long for
`int()` as `LongInteger` (the model refuses it at its key); a syntax error is reported by line and
column without quoting the line (it may hold a secret). A key whose value is null counts as not set.
The model's problems and the rules between fields (`rules.py`) are reported together, in document
order.

What the configuration points to on the executor's machine (keystores, password files and
variables, the kubeconfig, the store's file, a static chain file, TLS files) is not read here: `run`
loads it at start-up, and `validate` checks it the same way (`server/startup.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hourglass_executor.config.errors import DOCUMENT, ConfigError, Problem
from hourglass_executor.config.messages import document_order, problems_of
from hourglass_executor.config.model import ExecutorConfig
from hourglass_executor.config.rules import cross_checks
from hourglass_executor.strict_yaml import YamlSyntaxError, parse_yaml


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


def _parse_yaml(text: str) -> tuple[Any, list[Problem]]:
    """The document and its duplicate-key problems; a syntax error is a ConfigError."""
    try:
        data, duplicates = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError([Problem(*exc.problem)]) from None
    return data, [Problem(*duplicate) for duplicate in duplicates]


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
