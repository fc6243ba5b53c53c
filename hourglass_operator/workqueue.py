"""The reconcile work queue: keys (`namespace/name`) waiting to be reconciled, handed to workers in
batches.

- A key is queued at most once; adding it again keeps the earlier due time.
- A key handed out is never handed out again until `done`; adding it meanwhile marks it dirty,
  and `done` queues it again, so one Performer is never reconciled twice at the same time.
- Failures back off per key: 1 s doubling to 5 min, or to less when the caller says (`add_after_failure`),
  reset by `forget`.
- Each queued key says whether it needs a **full** reconcile (an ansible run) or only a **status**
  sync (its Pod's status changed); ansible workers take full keys and the status worker the others,
  so a pod turning Ready is not stuck behind a long batch. When both are asked for, a full reconcile
  due no later than the status sync does the sync's work too; one due later (a failure's back-off)
  stays at its time, and the status sync goes first: a status event does not cut a back-off short.
- A queue made `held` (a standby operator's, which does no work) takes no key until `resume`: its
  keys and metrics would otherwise say that every Performer waits for work nobody does.
- What it does is reported to a `QueueObserver` (metrics.WorkQueueMetrics exports it as client-go's
  workqueue metrics): adds, retries, how long a key waited once due, how long its work took, and
  how long the keys being processed have been at it (`unfinished_work`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class QueueObserver(Protocol):
    def added(self) -> None: ...

    def retried(self) -> None: ...

    def handed_out(self, waited_seconds: float) -> None: ...

    def finished(self, worked_seconds: float) -> None: ...


class _Unobserved:
    def added(self) -> None:
        pass

    def retried(self) -> None:
        pass

    def handed_out(self, waited_seconds: float) -> None:
        pass

    def finished(self, worked_seconds: float) -> None:
        pass


@dataclass
class _Pending:
    due: float
    full: bool
    full_after: float | None = None  # a status sync's full reconcile, due later than the sync

    def merge(self, due: float, full: bool, now: float) -> None:
        """Adds a request due at `due` (a full reconcile or a status sync). A full reconcile due by
        now, or no later than the status sync, does the sync's work too."""
        status_due = None if self.full else self.due
        full_due = self.due if self.full else self.full_after
        if full:
            full_due = due if full_due is None else min(full_due, due)
        else:
            status_due = due if status_due is None else min(status_due, due)
        if full_due is not None and (status_due is None or full_due <= max(status_due, now)):
            self.due, self.full, self.full_after = full_due, True, None
        else:
            self.due, self.full, self.full_after = status_due, False, full_due


class WorkQueue:
    def __init__(
        self,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        observer: QueueObserver | None = None,
        held: bool = False,
    ) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock
        self._lock = threading.Lock()
        # Keys due for a full reconcile and those due for a status sync are kept (and waited for)
        # apart: a worker looks only through its own kind, and a key queued wakes only the workers of
        # its kind. A pod event for each of a thousand Performers waiting for the next ansible run
        # would otherwise make the status worker look through all thousand each time.
        self._wakeups = {full: threading.Condition(self._lock) for full in (True, False)}
        self._due: dict[bool, dict[str, _Pending]] = {True: {}, False: {}}
        self._processing: dict[str, float] = {}  # key -> when it was handed out
        self._processing_full: set[str] = set()  # those of them handed out for a full reconcile
        self._dirty: dict[str, _Pending] = {}
        self._failures: dict[str, int] = {}
        self._shut_down = False
        self._held = held
        self._observer = observer or _Unobserved()

    def now(self) -> float:
        """The queue's clock: what a delay given to `add` counts from."""
        return self._clock()

    def add(self, key: str, delay: float = 0.0, *, full: bool = True) -> None:
        """Queue `key`; `full=False` asks only for a status sync."""
        with self._lock:
            if self._shut_down or self._held:
                return
            due = self._clock() + delay
            if key not in self._processing:
                if self._enqueue(key, _Pending(due, full)):
                    self._observer.added()
            elif key in self._dirty:  # `done` queues it
                self._dirty[key].merge(due, full, self._clock())
            else:
                self._dirty[key] = _Pending(due, full)
                self._observer.added()

    def _queued(self, key: str) -> _Pending | None:
        return self._due[True].get(key) or self._due[False].get(key)

    def _enqueue(self, key: str, pending: _Pending) -> bool:
        """Queues `key` as `pending` says, merged into its queued entry if it has one (which then sits
        with the full keys when its full reconcile does the status sync's work: `_Pending.merge`);
        wakes the workers of its kind. Whether it was new."""
        queued = self._queued(key)
        entry = pending
        if queued is not None:
            del self._due[queued.full][key]
            now = self._clock()
            queued.merge(pending.due, pending.full, now)
            if pending.full_after is not None:
                queued.merge(pending.full_after, True, now)
            entry = queued
        self._due[entry.full][key] = entry
        self._wakeups[entry.full].notify_all()
        return queued is None

    def add_after_failure(self, key: str, max_delay: float | None = None) -> float:
        """Queue `key` for a full reconcile after its back-off delay (which doubles with each
        consecutive failure, up to the queue's most or `max_delay` when that is less)."""
        with self._lock:
            if self._held:
                return 0.0
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
        self._observer.retried()
        most = self._max_delay if max_delay is None else min(max_delay, self._max_delay)
        delay = min(self._base_delay * 2 ** min(failures - 1, 62), most)
        self.add(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the back-off of `key` (after a successful reconcile)."""
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._lock:
            return self._failures.get(key, 0)

    def get_batch(
        self, max_items: int, timeout: float | None = None, *, full: bool = True, window: float = 0.0
    ) -> list[str]:
        """Up to `max_items` due keys needing a full reconcile (or, with `full=False`, only a status
        sync), earliest first; waits until one is due, or returns [] after `timeout` seconds or on
        shut-down. With a `window`, while other keys are being fully reconciled, a batch smaller than
        `max_items` waits until its earliest key has been due for `window` seconds, so that changes
        arriving together share a batch; with none in progress it goes at once (a lone change is not
        delayed, and those arriving during its run share the next batch). The keys are processing
        until `done`."""
        deadline = None if timeout is None else self._clock() + timeout
        due = self._due[full]
        with self._lock:
            while not self._shut_down:
                now = self._clock()
                mine = [(p.due, key) for key, p in due.items()]
                ready = sorted(entry for entry in mine if entry[0] <= now)
                waiting = window if self._processing_full else 0.0
                if ready and (len(ready) >= max_items or ready[0][0] + waiting <= now):
                    keys = [key for _, key in ready[:max_items]]
                    for since, key in ready[:max_items]:
                        if due[key].full_after is not None:  # `done` queues it, as a change meanwhile
                            self._dirty[key] = _Pending(due[key].full_after, True)
                        del due[key]
                        self._processing[key] = now
                        self._observer.handed_out(now - since)
                    if full:
                        self._processing_full.update(keys)
                    return keys
                earliest = min((since for since, _ in mine), default=now + 3600)
                wait = (ready[0][0] + waiting if ready else earliest) - now
                if deadline is not None:
                    if now >= deadline:
                        return []
                    wait = min(wait, deadline - now)
                # At most an hour: a delay of years (a role var) must not overflow the wait.
                self._wakeups[full].wait(min(max(wait, 0.001), 3600.0))
            return []

    def overdue(self, seconds: float, *, full: bool = True) -> bool:
        """Whether a key has been due for a full reconcile (or, with `full=False`, a status sync) for
        `seconds` or more without a worker taking it. A worker free to take keys takes them within the
        batch window, so a key overdue past it says that every worker is busy."""
        with self._lock:
            now = self._clock()
            return any(p.due + seconds <= now for p in self._due[full].values())

    def done(self, key: str) -> None:
        with self._lock:
            started = self._processing.pop(key, None)
            self._processing_full.discard(key)
            if started is not None:
                self._observer.finished(self._clock() - started)
            dirty = self._dirty.pop(key, None)
            if dirty is not None:
                self._enqueue(key, dirty)

    def queued(self, key: str) -> tuple[float, bool] | None:
        """When `key` is due and whether for a full reconcile; None when it is not queued (or is
        being processed)."""
        with self._lock:
            pending = self._queued(key)
            return None if pending is None else (pending.due, pending.full)

    def depth(self) -> int:
        """Keys waiting (due now or later), not counting those being processed."""
        with self._lock:
            return len(self._due[True]) + len(self._due[False]) + len(self._dirty)

    def processing(self) -> int:
        with self._lock:
            return len(self._processing)

    def unfinished_work(self) -> tuple[float, float]:
        """Seconds the keys being processed have been at it: (their sum, the longest)."""
        with self._lock:
            now = self._clock()
            spans = [now - started for started in self._processing.values()]
        return sum(spans), max(spans, default=0.0)

    def resume(self) -> bool:
        """A held queue takes keys from now on; whether it was held."""
        with self._lock:
            held, self._held = self._held, False
            return held

    def shut_down(self) -> None:
        with self._lock:
            self._shut_down = True
            for wakeup in self._wakeups.values():
                wakeup.notify_all()
