"""Keeps callers from flooding the executor's log (`LogLimit`).

Every refused call is one log line, which is what an operator needs to follow a task, until a caller
sends thousands of refused calls a second (anyone who reaches a port can: the refusals before
authentication cost the caller nothing). Of one kind of line (its message and `kind` fields, such
as the status code), at most `burst` are written per `window` seconds; the rest are counted, and the
count is written as one line (`<message> not logged`, with the `kind` fields and `not_logged`) when
the next line of that kind comes after the window. Metrics count every call regardless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

BURST = 50  # lines of one kind per window
WINDOW = 10.0  # seconds


class LogLimit:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = BURST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._burst = burst
        self._window = window
        self._clock = clock
        # by kind: (when its window opened, lines written in it, lines not written)
        self._windows: dict[tuple[Any, ...], tuple[float, int, int]] = {}

    def log(self, level: int, message: str, kind: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Writes `message` with `kind` and `fields`, unless `burst` lines of its kind were written in
        this window."""
        key = (message, *sorted(kind.items()))
        now = self._clock()
        opened, written, skipped = self._windows.get(key, (now, 0, 0))
        if now - opened >= self._window:
            if skipped:
                self._log.log(level, f"{message} not logged", extra={**kind, "not_logged": skipped})
            opened, written, skipped = now, 0, 0
        if written < self._burst:
            self._log.log(level, message, extra={**fields, **kind})
            written += 1
        else:
            skipped += 1
        self._windows[key] = (opened, written, skipped)
