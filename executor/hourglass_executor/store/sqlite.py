"""The SQLite store (`storage.type: sqlite`, and `badger`, mapped to a SQLite file): survives
restarts of the executor.

One connection in autocommit mode, guarded by a lock, shared by all threads: every write is its
own transaction, committed before the method returns. The journal is in WAL mode with
`synchronous=FULL`, so a claim that returned True, and an outcome (a task's signed result) that
was recorded, are on disk even if the machine loses power right after; a task costs two fsyncs (its
claim and its outcome), which is small next to running it. Methods are synchronous and quick (one
indexed statement), so asyncio code calls them directly.

Schema version 2 added the task's fingerprint, result and error; a version-1 file is upgraded in
place when opened (its tasks keep no fingerprint, so retries of them stay ALREADY_EXISTS).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from hourglass_executor.store import (
    DEFAULT_RETENTION,
    Outcome,
    PerformerRecord,
    StoreError,
    TaskRecord,
    TaskStatus,
)

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id       TEXT PRIMARY KEY,
    avs           TEXT NOT NULL,
    status        TEXT NOT NULL,
    claimed_at    REAL NOT NULL,
    fingerprint   BLOB,
    result        BLOB,
    error_code    TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_claimed_at ON tasks (claimed_at);
CREATE TABLE IF NOT EXISTS performers (
    performer_id TEXT PRIMARY KEY,
    avs_address  TEXT NOT NULL,
    backend      TEXT NOT NULL,
    status       TEXT NOT NULL,
    image        TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    created_at   REAL NOT NULL
);
"""
ADDED_IN_2 = ("fingerprint BLOB", "result BLOB", "error_code TEXT", "error_message TEXT")
TASK_COLUMNS = "task_id, avs, status, claimed_at, fingerprint, result, error_code, error_message"
PERFORMER_COLUMNS = "performer_id, avs_address, backend, status, image, endpoint, resource_id, created_at"


def check_file(path: str | Path) -> None:
    """Raises StoreError, with the message `SqliteStore(path)` would give, when the store at `path`
    cannot be opened; writes nothing (`hourglass-executor validate` calls it). An existing file must
    be an SQLite database of a schema this executor knows, in a directory it can write (the WAL
    journal lives beside it); a new one needs a directory that exists or can be created."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path}: cannot open the store: it is a directory")
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        raise StoreError(f"{path}: cannot open the store: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: cannot open the store: cannot write in {directory}")
    if not path.exists():
        return
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store: {exc}") from None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a usable executor store: {exc}") from None
    finally:
        db.close()
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: not a usable executor store: {_newer_schema(version)}")


def _newer_schema(version: int) -> str:
    return f"schema version {version} was written by a newer executor (this one knows {SCHEMA_VERSION})"


class SqliteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        retention: float = DEFAULT_RETENTION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"{self.path}: not a usable executor store: {exc}") from exc

    def _prepare(self) -> None:
        self._db.execute("PRAGMA busy_timeout = 5000")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch the journal to WAL mode (it is {mode})")
        self._db.execute("PRAGMA synchronous = FULL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(_newer_schema(version))
        upgrade = ""
        if version == 1:
            upgrade = " ".join(f"ALTER TABLE tasks ADD COLUMN {column};" for column in ADDED_IN_2)
        self._db.executescript(f"BEGIN; {SCHEMA} {upgrade} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    def claim_task(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO tasks (task_id, avs, status, claimed_at, fingerprint) "
                "VALUES (?, ?, 'claimed', ?, ?)",
                (task_id, avs, self._clock(), fingerprint),
            )
            return cursor.rowcount == 1

    def complete_task(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        code, message = error if error else (None, None)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE tasks SET status = ?, result = ?, error_code = ?, error_message = ? "
                "WHERE task_id = ?",
                (status, result, code, message, task_id),
            )
            return cursor.rowcount == 1

    def task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
        return TaskRecord(*row) if row else None

    def release_task(self, task_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM tasks WHERE task_id = ? AND status = 'claimed'", (task_id,)
            )
            return cursor.rowcount == 1

    def task_status(self, task_id: str) -> TaskStatus | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return cast(TaskStatus, row[0]) if row else None

    def prune(self, now: float | None = None, limit: int | None = None) -> int:
        cutoff = (self._clock() if now is None else now) - self.retention
        with self._lock:
            return self._db.execute(
                "DELETE FROM tasks WHERE rowid IN "
                "(SELECT rowid FROM tasks WHERE claimed_at < ? ORDER BY claimed_at LIMIT ?)",
                (cutoff, -1 if limit is None else limit),
            ).rowcount

    def save_performer(self, record: PerformerRecord) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO performers ({PERFORMER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.performer_id,
                    record.avs_address,
                    record.backend,
                    record.status,
                    record.image,
                    record.endpoint,
                    record.resource_id,
                    record.created_at,
                ),
            )

    def delete_performer(self, performer_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM performers WHERE performer_id = ?", (performer_id,))

    def performers(self) -> list[PerformerRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {PERFORMER_COLUMNS} FROM performers ORDER BY created_at, performer_id"
            ).fetchall()
        return [PerformerRecord(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
