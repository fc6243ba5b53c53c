"""A clock a unit test moves by hand: pass it where the code takes a `clock` callable returning
seconds (time.monotonic / time.time), and set or advance `now`."""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.5) -> None:  # a fraction, so that rounding shows
        self.now = now

    def __call__(self) -> float:
        return self.now
