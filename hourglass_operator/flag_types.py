"""The types of `hourglass-operator run`'s flags: each reads the flag's text or its environment
variable's, and refuses a value the flag does not take with one line naming both and the rule (exit
code 2, before logging starts), never a traceback.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

from hourglass_operator import health

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class Parser(argparse.ArgumentParser):
    """Reports a wrong argument in one line (what is wrong and where to look), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _converter(env: str, convert: Callable[[str], Any], rule: str) -> Callable[[str], Any]:
    """An argparse type: `convert` of the flag's or its variable's text, or an error naming the
    variable too (argparse names the flag) and the `rule`."""

    def parse(text: str) -> Any:
        try:
            return convert(text.strip())
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} (the flag or env {env}) {rule}") from None

    return parse


def _whole(text: str, least: int) -> int:
    value = int(text)
    if value < least:
        raise ValueError(text)
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _boolean(text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError(text)


def _address(text: str) -> str:
    if text != "0":
        health.split_address(text)
    return text


def whole_number(env: str, least: int) -> Callable[[str], int]:
    return _converter(env, lambda text: _whole(text, least), f"must be a whole number of at least {least}")


def seconds(env: str) -> Callable[[str], float]:
    return _converter(env, _seconds, "must be a finite number of seconds of at least 0")


def boolean(env: str) -> Callable[[str], bool]:
    return _converter(env, _boolean, "must be true or false (or 1/0, yes/no, on/off)")


def address(env: str) -> Callable[[str], str]:
    return _converter(env, _address, "must be host:port or :port, the port from 0 to 65535, or 0 to disable")


class EnvBoolean(argparse.BooleanOptionalAction):
    """--flag / --no-flag, whose default is the text of an environment variable, parsed as a boolean
    (argparse converts a text default by the action's type)."""

    def __init__(self, *args: Any, env: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.type = boolean(env)
