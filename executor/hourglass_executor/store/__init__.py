"""The executor's state store: which tasks it has already taken, and which performers it runs.

Two things must survive a restart of the executor (with a persistent store) and be shared by every
request handler:

- task ids it has claimed, so that a task sent twice (an aggregator retry, a duplicate delivery)
  runs once: `claim_task` is atomic and returns True only for the first claim of an id; the
  outcome is recorded with `complete_task`; a claim whose task certainly never reached a
  performer (none was ready) is given back with `release_task`, so that the aggregator may send
  it again; entries older than the retention are dropped by `prune`;
- the performers it deployed (`PerformerRecord`), so that after a restart it knows which one
  serves each AVS and which one was only staged.

`open_store(config.storage)` picks the implementation: `memory` (lost on exit) or SQLite (the
`sqlite` type, and `badger`, which is mapped to a SQLite file; see `StorageConfig.sqlite_path`).

The methods are plain synchronous calls that return quickly (a dict lookup, or one indexed SQLite
statement), so asyncio code calls them directly; both implementations are thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from hourglass_executor.config import StorageConfig

DEFAULT_RETENTION = 24 * 3600.0  # seconds a claimed task id is remembered

TaskStatus = Literal["claimed", "done", "failed"]
PerformerStatus = Literal["in_service", "staged"]


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


class Store(Protocol):
    def claim_task(self, task_id: str, avs: str) -> bool:
        """Records `task_id` as claimed; True only the first time the id is seen (within the
        retention). When it returns True the claim is already durable (persistent stores)."""
        ...

    def complete_task(self, task_id: str, status: Literal["done", "failed"]) -> bool:
        """Records the outcome of a claimed task; False if the id is not known."""
        ...

    def release_task(self, task_id: str) -> bool:
        """Forgets a claim that is still "claimed" (its task never ran), so that the id can be
        claimed again; False if the id is unknown or already completed."""
        ...

    def task_status(self, task_id: str) -> TaskStatus | None:
        """ "claimed", "done", "failed", or None for an unknown (or pruned) id."""
        ...

    def prune(self, now: float | None = None) -> int:
        """Forgets task ids claimed more than the retention before `now` (default: the clock);
        returns how many were removed."""
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
    clock: Callable[[], float] = time.time,
) -> Store:
    """The store the configuration asks for: SQLite when it names a database file, else memory."""
    from hourglass_executor.store.memory import MemoryStore
    from hourglass_executor.store.sqlite import SqliteStore

    path = storage.sqlite_path()
    if path is None:
        return MemoryStore(retention=retention, clock=clock)
    return SqliteStore(path, retention=retention, clock=clock)


__all__ = [
    "DEFAULT_RETENTION",
    "PerformerRecord",
    "PerformerStatus",
    "Store",
    "StoreError",
    "TaskStatus",
    "open_store",
]
