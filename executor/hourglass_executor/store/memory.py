"""The in-memory store (`storage.type: memory`): everything is lost when the executor exits.

Thread-safe: every method holds one lock, so a claim is atomic across threads and coroutines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hourglass_executor.store import DEFAULT_RETENTION, PerformerRecord, TaskStatus


@dataclass
class _Task:
    avs: str
    status: TaskStatus
    claimed_at: float


class MemoryStore:
    def __init__(
        self, *, retention: float = DEFAULT_RETENTION, clock: Callable[[], float] = time.time
    ) -> None:
        self.retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self._performers: dict[str, PerformerRecord] = {}

    def claim_task(self, task_id: str, avs: str) -> bool:
        with self._lock:
            if task_id in self._tasks:
                return False
            self._tasks[task_id] = _Task(avs, "claimed", self._clock())
            return True

    def complete_task(self, task_id: str, status: Literal["done", "failed"]) -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return False
            task.status = status
            return True

    def release_task(self, task_id: str) -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status != "claimed":
                return False
            del self._tasks[task_id]
            return True

    def task_status(self, task_id: str) -> TaskStatus | None:
        with self._lock:
            task = self._tasks.get(task_id)
            return task.status if task else None

    def prune(self, now: float | None = None) -> int:
        cutoff = (self._clock() if now is None else now) - self.retention
        with self._lock:
            old = [task_id for task_id, task in self._tasks.items() if task.claimed_at < cutoff]
            for task_id in old:
                del self._tasks[task_id]
            return len(old)

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
