"""The in-memory store (`storage.type: memory`): everything is lost when the executor exits (see the
package docstring: at most once holds only while the process lives).

Thread-safe: every method holds one lock, so a claim is atomic across threads and coroutines. Tasks
are kept in claim order, so `prune` stops at the first entry to keep. The `*_async` methods are the
plain ones (nothing to wait for).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from hourglass_executor.steady_clock import SteadyClock
from hourglass_executor.store import (
    DEFAULT_RETENTION,
    Outcome,
    PerformerRecord,
    TaskRecord,
    TaskStatus,
    task_key,
)


class MemoryStore:
    def __init__(
        self, *, retention: float = DEFAULT_RETENTION, clock: Callable[[], float] | None = None
    ) -> None:
        self.retention = retention
        self._clock = clock or SteadyClock()  # a stepped wall clock must not forget task ids
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskRecord] = {}  # claim order
        self._performers: dict[str, PerformerRecord] = {}

    def claim_task(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        task_id = task_key(task_id)
        with self._lock:
            if task_id in self._tasks:
                return False
            self._tasks[task_id] = TaskRecord(task_id, avs, "claimed", self._clock(), fingerprint)
            return True

    def complete_task(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        code, message = error if error else (None, None)
        task_id = task_key(task_id)
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status != "claimed":
                return False
            self._tasks[task_id] = dataclasses.replace(
                task, status=status, result=result, error_code=code, error_message=message
            )
            return True

    async def claim_task_async(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        return self.claim_task(task_id, avs, fingerprint)

    async def complete_task_async(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        return self.complete_task(task_id, status, result=result, error=error)

    async def release_task_async(self, task_id: str) -> bool:
        return self.release_task(task_id)

    def release_task(self, task_id: str) -> bool:
        task_id = task_key(task_id)
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status != "claimed":
                return False
            del self._tasks[task_id]
            return True

    def task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            return self._tasks.get(task_key(task_id))

    def task_status(self, task_id: str) -> TaskStatus | None:
        with self._lock:
            task = self._tasks.get(task_key(task_id))
            return task.status if task else None

    def prune(self, now: float | None = None, limit: int | None = None) -> int:
        cutoff = (self._clock() if now is None else now) - self.retention
        removed = 0
        with self._lock:
            while self._tasks and (limit is None or removed < limit):
                task_id, task = next(iter(self._tasks.items()))
                if task.claimed_at >= cutoff:
                    break
                del self._tasks[task_id]
                removed += 1
        return removed

    def save_performer(self, record: PerformerRecord) -> None:
        with self._lock:
            self._performers[record.performer_id] = record

    def delete_performer(self, performer_id: str) -> None:
        with self._lock:
            self._performers.pop(performer_id, None)

    def performers(self) -> list[PerformerRecord]:
        with self._lock:
            return sorted(self._performers.values(), key=lambda r: (r.created_at, r.performer_id))

    def close(self) -> None:
        pass
