"""Progress lines of the benchmarks on stderr (the table and the JSON path stay on stdout): which
phase is running and, while waiting, how far it got, so that a long run shows it is alive."""

from __future__ import annotations

import sys
import time

_STARTED = time.monotonic()


def say(message: str) -> None:
    """One line on stderr, prefixed with the wall clock and the seconds since the benchmark started."""
    elapsed = time.monotonic() - _STARTED
    print(f"[{time.strftime('%H:%M:%S')} +{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


class Ticker:
    """Says `message` at most every `every` seconds (for progress inside a polling loop)."""

    def __init__(self, every: float = 5.0) -> None:
        self._every, self._next = every, time.monotonic() + every

    def tick(self, message: str) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._every
            say(message)
