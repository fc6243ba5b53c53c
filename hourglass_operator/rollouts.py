"""How many Performers the loop lets be replaced at once because the operator renders their pods
differently now, and which ones wait for their turn.

A run replaces a pod whose spec-hash differs from the rendered one (performer_plan). When the
Performer's spec did not change since it was last reconciled, the difference is the operator's own: a
new version, or other role settings (`--role-vars`). Left alone, the first resync after an operator
upgrade would replace every performer of the cluster at once, and a rendering that does not work
(a probe the image does not answer) would take them all down together. So those replacements are a
rollout, as a Deployment's: at most `--rollout-max-unavailable` Performers (a number, or a percentage
of those the loop watches, rounded down, at least one) are being replaced at a time. Being replaced
means: replaced by a rollout and not ready again since, or `Upgrading` (a spec change's replacement,
which is never held back, counts too). A rollout whose replaced Performers never become ready stops
there, with the rest still serving on their old pods.

Each run is granted the slots left (`grant`); while it holds them, a run going on beside it gets
none, so two runs cannot both spend the same slots. What the runs report (`settled`) says which
Performers started their replacement and which wait; when a slot comes free (a replaced one is ready
again, is deleted, or a run gives back what it did not use), as many waiting ones are handed back to
be queued (`observed`, `forget`, `give_back`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    ROLLOUT_STARTED,
    ROLLOUT_WAITING,
    UPGRADING,
)

from hourglass_operator.informer import Obj

ROLLOUT_SLOTS_VAR = "_hourglass_rollout_slots"  # the extra var that gives a run its slots


@dataclass(frozen=True)
class Limit:
    """At most `count` Performers, or `percent` of them (rounded down, at least one)."""

    count: int | None = None
    percent: float | None = None

    def of(self, total: int) -> int:
        if self.count is not None:
            return self.count
        return max(math.floor(total * (self.percent or 0) / 100), 1)


def parse_limit(text: str) -> Limit:
    """`3` or `25%`; a ValueError saying what is accepted otherwise."""
    value = text.strip()
    rule = "a whole number of at least 1, or a percentage from 1% to 100% (e.g. 1, 5, 25%)"
    try:
        if value.endswith("%"):
            percent = float(value[:-1])
            if 1 <= percent <= 100:
                return Limit(percent=percent)
        elif int(value) >= 1:
            return Limit(count=int(value))
    except ValueError:
        pass
    raise ValueError(f"--rollout-max-unavailable: {text!r} is not {rule}")


class Rollouts:
    """The Performers being replaced and those waiting, and the slots granted to runs going on."""

    def __init__(self, limit: Limit, total: Callable[[], int]) -> None:
        self._limit = limit
        self._total = total  # how many Performers the loop watches
        self._lock = threading.Lock()
        self._rolled: set[str] = set()  # replaced by a rollout, not seen ready since
        self._upgrading: set[str] = set()  # their status says Upgrading
        self._waiting: set[str] = set()
        self._granted = 0

    def _free(self) -> int:
        return max(self._limit.of(self._total()) - len(self._rolled | self._upgrading) - self._granted, 0)

    def grant(self) -> int:
        """The slots a run may use (0 while another run holds the free ones)."""
        with self._lock:
            slots = self._free()
            self._granted += slots
            return slots

    def give_back(self, granted: int) -> list[str]:
        """A run holding `granted` slots ended (what it used is in `settled`): the waiting keys to queue."""
        with self._lock:
            self._granted -= granted
            return self._wake()

    def settled(self, key: str, rollout: str | None, ready: bool) -> None:
        """What a run reported of `key`: its replacement started, it waits for a slot, or neither."""
        with self._lock:
            self._waiting.discard(key)
            if rollout == ROLLOUT_WAITING:
                self._waiting.add(key)
            elif rollout == ROLLOUT_STARTED and not ready:
                self._rolled.add(key)

    def observed(self, key: str, cr: Obj) -> list[str]:
        """The informer's latest of a Performer: the waiting keys to queue, if it freed a slot."""
        status = cr.get("status") or {}
        with self._lock:
            before = len(self._rolled | self._upgrading)
            if status.get("phase") == UPGRADING:
                self._upgrading.add(key)
            else:
                self._upgrading.discard(key)
            if status.get("ready"):
                self._rolled.discard(key)
            return self._wake() if len(self._rolled | self._upgrading) < before else []

    def forget(self, key: str) -> list[str]:
        """`key` was deleted: the waiting keys to queue, if it held a slot."""
        with self._lock:
            self._waiting.discard(key)
            held = key in self._rolled or key in self._upgrading
            self._rolled.discard(key)
            self._upgrading.discard(key)
            return self._wake() if held else []

    def _wake(self) -> list[str]:
        woken = sorted(self._waiting)[: self._free()]
        self._waiting.difference_update(woken)
        return woken

    def counts(self) -> tuple[int, int]:
        """(Performers being replaced, Performers waiting)."""
        with self._lock:
            return len(self._rolled | self._upgrading), len(self._waiting)

    def progress(self) -> str:
        """What the log says of the rollout after a run that took part in it."""
        replacing, waiting = self.counts()
        return (f"rollout: {replacing} Performer(s) being replaced, {waiting} waiting for a slot "
                f"(--rollout-max-unavailable: {self._limit.of(self._total())} now)")  # fmt: skip
