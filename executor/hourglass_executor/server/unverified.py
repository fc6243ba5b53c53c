"""How much SubmitTask work may wait for its aggregator signature to be checked (`UnverifiedBudget`).

A submission's chain reads come before its signature can be checked (they find the aggregator's
key), so anyone who reaches the task port can make the executor hold a payload of up to 4 MiB for as
long as those reads take (seconds, on a slow RPC node) and hash it. Without a bound, a few dozen
such calls exceeded the executor's memory limit. The budget counts the bytes of the submissions in
that phase, whole messages (a large `signature` or unknown field costs what a payload does), each at
least `MIN_COST`; a submission that would exceed it is refused at once (RESOURCE_EXHAUSTED, the
aggregator retries), never queued. Once verified, a task no longer counts: it comes from the aggregator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

UNVERIFIED_BYTES = 64 * 1024 * 1024  # about 160 MB held at most, payloads and their parsed copies
MIN_COST = 4 * 1024


class BudgetExceededError(Exception):
    pass


class UnverifiedBudget:
    def __init__(self, limit: int | None = None) -> None:
        self.limit = UNVERIFIED_BYTES if limit is None else limit
        self.in_use = 0

    @contextlib.contextmanager
    def admit(self, size: int) -> Iterator[None]:
        """Holds `size` bytes of the budget for the block; BudgetExceededError if it has no room."""
        cost = max(size, MIN_COST)
        if self.in_use + cost > self.limit:
            raise BudgetExceededError(
                f"{self.in_use} bytes of task submissions already wait for their signature checks "
                f"(at most {self.limit})"
            )
        self.in_use += cost
        try:
            yield
        finally:
            self.in_use -= cost
