"""A circuit breaker for one performer: stop sending tasks to a performer that keeps failing.

closed: calls pass; `failure_threshold` consecutive failures open the circuit.
open: `allow()` is False until `reset_timeout` seconds have passed since it opened.
half_open: `allow()` lets ONE trial call through; its success closes the circuit, its failure
re-opens it (for another `reset_timeout`). Callers report every allowed call's outcome with
`record_success()` / `record_failure()`; which errors count as failures is theirs to decide (a
task the performer rejected as invalid says nothing about the performer's health).

Results that arrive while the circuit is open (calls allowed before it opened) change nothing. A
trial whose outcome is never reported (e.g. the caller was cancelled) would block the circuit
forever, so after another `reset_timeout` a new trial is allowed.

Concurrency: no locks. Every method runs to completion without awaiting, so on one asyncio event
loop no two of them interleave; do not share one breaker between threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must be >= 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._opened = False
        self._opened_at = 0.0
        self._trial_started_at: float | None = None  # set while a half-open trial is in flight
        self.consecutive_failures = 0

    @property
    def state(self) -> str:
        if not self._opened:
            return CLOSED
        if self._trial_started_at is not None or self._clock() - self._opened_at >= self.reset_timeout:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """Whether a call may be made now. In half_open, True for one caller only."""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        now = self._clock()
        if self._trial_started_at is not None and now - self._trial_started_at < self.reset_timeout:
            return False
        self._trial_started_at = now
        return True

    def record_success(self) -> None:
        if self.state == OPEN:
            return
        self._opened = False
        self._trial_started_at = None
        self.consecutive_failures = 0

    def record_failure(self) -> None:
        state = self.state
        if state == OPEN:
            return
        self.consecutive_failures += 1
        if state == HALF_OPEN or self.consecutive_failures >= self.failure_threshold:
            self._opened = True
            self._opened_at = self._clock()
            self._trial_started_at = None
