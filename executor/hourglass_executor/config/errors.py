"""The configuration's errors: a `Problem` is one `<path>: <message>` line, a `ConfigError` all the
problems of one file. `fail` is how a value type (`types.py`) refuses a value: pydantic reports its
message as is, and `messages.py` turns it into a `Problem` at the value's path."""

from __future__ import annotations

from typing import NamedTuple

from pydantic_core import PydanticCustomError

from hourglass_executor.strict_yaml import DOCUMENT as DOCUMENT  # the path of a problem of the whole document


class Problem(NamedTuple):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """An invalid configuration; `problems` has every problem found, in document order."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(str(p) for p in problems))


def fail(message: str) -> PydanticCustomError:
    """The error a value type raises: `message` says the rule (never the value, which may be secret)."""
    return PydanticCustomError("invalid", message)
