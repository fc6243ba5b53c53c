"""The `--check` / write step shared by the generators of committed files (hack/abi, hack/proto):
compare what a generator produces with what is on disk, name every stale file, or rewrite them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def stale(expected: dict[str, bytes], actual: dict[str, bytes]) -> list[str]:
    """One line per file that is missing, out of date or not generated."""
    problems = [f"missing: {name}" for name in expected if name not in actual]
    problems += [
        f"out of date: {name}" for name in expected if name in actual and actual[name] != expected[name]
    ]
    problems += [f"not generated (remove it): {name}" for name in actual if name not in expected]
    return problems


def check_or_write(
    *,
    check: bool,
    out: Path,
    expected: dict[str, bytes],
    on_disk: Callable[[Path], dict[str, bytes]],
    write: Callable[[Path, dict[str, bytes]], None],
    command: str,
) -> int:
    """With `check`, exit status 1 (and the stale files on stderr) when `out` differs from
    `expected`; otherwise rewrite `out`. `command` is what the user runs to regenerate."""
    if not check:
        write(out, expected)
        return 0
    problems = stale(expected, on_disk(out))
    if problems:
        print(f"{out} is stale; run `{command}`:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0
