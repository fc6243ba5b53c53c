"""The executor's state store: which tasks it has already taken, and which performers it runs.

Two things must survive a restart of the executor (with a persistent store) and be shared by every
request handler:

- task ids it has claimed, so that a task sent twice (an aggregator retry, a duplicate delivery)
  runs once: ids are kept in their canonical form (`task_key`: lower-case, so that `0xAB…` and
  `0xab…`, the same 32 bytes, are one task), `claim_task` is atomic and returns True only for the
  first claim of an id, and keeps the submission's fingerprint (what identifies the task, so that a
  retry can be told from another task under the same id); the outcome is recorded once with
  `complete_task` — the serialized signed result of a task that finished, the status code and
  message of one that failed, or "interrupted" — so that a retry gets the same answer (a recorded
  outcome is never replaced: a later `complete_task` of the id changes nothing); a claim whose task
  certainly never reached a performer (none was ready) is given back with `release_task`, so that
  the aggregator may send it again; entries older than the retention are dropped by `prune` (the
  executor calls it every minute), results with them;
- the performers it deployed (`PerformerRecord`), so that after a restart it knows which one
  serves each AVS and which one was only staged.

`open_store(config.storage)` picks the implementation: `memory` (lost on exit: after a restart every
task id is new again, so a retry of a task that ran before the restart runs again — at most once
holds only while the process lives) or SQLite (the `sqlite` type, and `badger`, which is mapped to a
SQLite file; see `StorageConfig.sqlite_path`): every claim and outcome is durable before the method
returns, so after a crash a claimed task is never run again and a finished one's result is kept.
SQLite commits concurrent writes together (group commits, see `store.sqlite`).

Size: an entry holds the ids, a 32-byte fingerprint and, for a finished task, its result (the
output plus about 250 bytes of addresses and signatures), for the retention (24 h): at a steady
rate of R tasks/s with outputs of B bytes, about R * 86400 * (350 + B) bytes.

The task writes come in two forms with the same meaning: `claim_task`, `complete_task` and
`release_task` block the calling thread until the write is durable; `claim_task_async`,
`complete_task_async` and `release_task_async` are awaited by asyncio code (the task service) and
suspend only the awaiting coroutine, so that the event loop serves other tasks while a commit is on
its way to disk. Reads, the performer records and `prune` are plain calls (quick: a dict lookup or
an indexed SQLite statement; a write waits for its commit). Both implementations are thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from hourglass_executor.config import StorageConfig

DEFAULT_RETENTION = 24 * 3600.0  # seconds a claimed task id is remembered

TaskStatus = Literal["claimed", "done", "failed", "interrupted"]
Outcome = Literal["done", "failed", "interrupted"]
PerformerStatus = Literal["in_service", "staged"]


def task_key(task_id: str) -> str:
    """The form a task id is stored under: hex digits in either case name the same task."""
    return task_id.lower()


class StoreError(Exception):
    """The store cannot be opened or used (the message says which file and why)."""


@dataclass(frozen=True)
class PerformerRecord:
    """A performer the executor deployed, as remembered across restarts."""

    performer_id: str
    avs_address: str
    backend: str  # "kubernetes" | "docker"
    status: PerformerStatus
    image: str
    endpoint: str
    resource_id: str
    created_at: float  # unix seconds


@dataclass(frozen=True)
class TaskRecord:
    """What the store remembers of a claimed task id."""

    task_id: str  # as stored (`task_key`)
    avs: str
    status: TaskStatus
    claimed_at: float  # unix seconds
    fingerprint: bytes | None  # identifies the submission; None: claimed without one
    result: bytes | None = None  # "done": the serialized signed TaskResult
    error_code: str | None = None  # "failed": the gRPC status code name it was answered with
    error_message: str | None = None  # "failed": the message it was answered with


class Store(Protocol):
    def claim_task(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        """Records `task_id` as claimed, with the submission's `fingerprint`; True only the first
        time the id is seen (within the retention). When it returns True the claim is already
        durable (persistent stores)."""
        ...

    def complete_task(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        """Records the outcome of a claimed task — `result` (the serialized signed TaskResult) for
        "done", `error` (status code name, message) for "failed" — durably before it returns
        (persistent stores); False, changing nothing, if the id is not known or its outcome is
        already recorded."""
        ...

    async def claim_task_async(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        """`claim_task` for asyncio code: the awaiting coroutine resumes once the claim is durable."""
        ...

    async def complete_task_async(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        """`complete_task` for asyncio code: resumes once the outcome is durable."""
        ...

    async def release_task_async(self, task_id: str) -> bool:
        """`release_task` for asyncio code: resumes once the claim is forgotten on disk."""
        ...

    def task(self, task_id: str) -> TaskRecord | None:
        """The record of a claimed task id, or None for an unknown (or pruned) id."""
        ...

    def release_task(self, task_id: str) -> bool:
        """Forgets a claim that is still "claimed" (its task never ran), so that the id can be
        claimed again; False if the id is unknown or already completed."""
        ...

    def task_status(self, task_id: str) -> TaskStatus | None:
        """ "claimed", "done", "failed", or None for an unknown (or pruned) id."""
        ...

    def prune(self, now: float | None = None, limit: int | None = None) -> int:
        """Forgets task ids claimed more than the retention before `now` (default: the clock), the
        oldest first and at most `limit` of them (default: all); returns how many were removed."""
        ...

    def save_performer(self, record: PerformerRecord) -> None:
        """Inserts or replaces the record with this performer id."""
        ...

    def delete_performer(self, performer_id: str) -> None:
        """Removes the record; deleting an unknown id is not an error."""
        ...

    def performers(self) -> list[PerformerRecord]:
        """Every performer record, oldest first."""
        ...

    def close(self) -> None: ...


def open_store(
    storage: StorageConfig,
    *,
    retention: float = DEFAULT_RETENTION,
    clock: Callable[[], float] | None = None,
) -> Store:
    """The store the configuration asks for: SQLite when it names a database file, else memory."""
    from hourglass_executor.store.memory import MemoryStore
    from hourglass_executor.store.sqlite import SqliteStore

    path = storage.sqlite_path()
    if path is None:
        return MemoryStore(retention=retention, clock=clock)
    return SqliteStore(path, retention=retention, clock=clock)


def check_store(storage: StorageConfig) -> None:
    """Raises StoreError when `open_store(storage)` would fail for the file or its directory, found
    without creating or changing anything (see `sqlite.check_file`)."""
    from hourglass_executor.store.sqlite import check_file

    path = storage.sqlite_path()
    if path is not None:
        check_file(path)


__all__ = [
    "DEFAULT_RETENTION",
    "Outcome",
    "PerformerRecord",
    "PerformerStatus",
    "Store",
    "StoreError",
    "TaskRecord",
    "TaskStatus",
    "check_store",
    "open_store",
    "task_key",
]
