"""The `--check` / write step shared by the generators of committed files (hack/abi, hack/proto):
compare what a generator produces with what is on disk, name every stale file, or rewrite them."""

from __future__ import annotations

import argparse
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


def main(
    argv: list[str] | None,
    *,
    description: str,
    default_out: Path,
    generate: Callable[[], dict[str, bytes]],
    errors: tuple[type[Exception], ...],
    on_disk: Callable[[Path], dict[str, bytes]],
    write: Callable[[Path, dict[str, bytes]], None],
    command: str,
) -> int:
    """A generator's command line: `--check` exits 1 (naming the stale files on stderr) when `--out`
    differs from what `generate()` produces; without it the files are rewritten. `command` is what
    the user runs to regenerate; `errors` are the generator's own failures, reported in one line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 when the files on disk are stale")
    parser.add_argument(
        "--out", type=Path, default=default_out, help=f"output directory (default: {default_out})"
    )
    args = parser.parse_args(argv)
    try:
        expected = generate()
    except errors as err:
        print(f"{command}: {err}", file=sys.stderr)
        return 1
    if not args.check:
        write(args.out, expected)
        return 0
    problems = stale(expected, on_disk(args.out))
    if problems:
        print(f"{args.out} is stale; run `{command}`:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0
