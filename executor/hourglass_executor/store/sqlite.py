"""The SQLite store (`storage.type: sqlite`, and `badger`, mapped to a SQLite file): survives
restarts of the executor.

Writes go through group commits (`group_commit.GroupCommitWriter`): one thread owns the write
connection and commits the writes queued while it was busy in one transaction. The journal is in
WAL mode with `synchronous=FULL`, so every commit is an fsync, and a write returns only after the
commit that holds it: a claim that returned True, and an outcome (a task's signed result) that was
recorded, are on disk even if the machine loses power right after. A task needs two writes (its
claim and its outcome) but, under load, far fewer than two fsyncs, and none of them on the event
loop: the task service awaits the `*_async` methods, which suspend only the waiting task. The plain
methods block their caller until the commit (tests, start-up, the performer records, pruning).

Reads use a second connection, which sees only committed writes (WAL readers do not wait for the
writer), so what a read returns is already durable.

Schema version 2 added the task's fingerprint, result and error; a version-1 file is upgraded in
place when opened (its tasks keep no fingerprint, so retries of them stay ALREADY_EXISTS). Task ids
are stored lower-cased (`task_key`); 0.1.0 stored them as sent, so every open lower-cases the ids
still spelled otherwise (the file stays readable by 0.1.0, which knows version 2), keeping the
row already stored lower-case where both spellings of one task were claimed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from hourglass_executor.steady_clock import SteadyClock
from hourglass_executor.store import (
    DEFAULT_RETENTION,
    Outcome,
    PerformerRecord,
    StoreError,
    TaskRecord,
    TaskStatus,
    task_key,
)
from hourglass_executor.store.group_commit import GroupCommitWriter, Write, WriterClosedError

T = TypeVar("T")

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
# Without it a task claimed by 0.1.0 as `0xAB…` would run again when resubmitted as `0xAB…`, since
# claims and lookups now use `0xab…`. SQLite's lower() folds ASCII only, which is all a task id holds.
LOWER_CASE_TASK_IDS = """
UPDATE OR IGNORE tasks SET task_id = lower(task_id) WHERE task_id <> lower(task_id);
DELETE FROM tasks WHERE task_id <> lower(task_id);
"""
ADDED_IN_2 = ("fingerprint BLOB", "result BLOB", "error_code TEXT", "error_message TEXT")
TASK_COLUMNS = "task_id, avs, status, claimed_at, fingerprint, result, error_code, error_message"
PERFORMER_COLUMNS = "performer_id, avs_address, backend, status, image, endpoint, resource_id, created_at"


def check_file(path: str | Path) -> None:
    """Raises StoreError, with the message `SqliteStore(path)` would give, when the store at `path`
    cannot be opened; writes nothing (`hourglass-executor validate` calls it). An existing file must
    be an SQLite database of a schema this executor knows (user_version 0 with tables of another
    schema is not one), which this process can read and write, as its `-wal` and `-shm` files when
    present, in a directory it can write (the WAL journal lives beside it); a new one needs a
    directory that exists or can be created."""
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
    _check_writable(path)
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store: {exc}") from None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        problem = _other_schema(db) if version == 0 else None
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a usable executor store: {exc}") from None
    finally:
        db.close()
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: not a usable executor store: {_newer_schema(version)}")
    if problem:
        raise StoreError(f"{path}: not a usable executor store: {problem}")


def _check_writable(path: Path) -> None:
    """StoreError unless this process may read and write the database file and its WAL files."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if (file == path or file.exists()) and not os.access(file, os.R_OK | os.W_OK):
            raise StoreError(f"{path}: cannot open the store: cannot read and write {file}")


def _other_schema(db: sqlite3.Connection) -> str | None:
    """Why a file of user_version 0 (no executor schema yet) is not one `_prepare` can complete: a
    `tasks` or `performers` table it would keep lacks a column of this executor's schema."""
    for table, expected in (("tasks", TASK_COLUMNS), ("performers", PERFORMER_COLUMNS)):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        missing = [column for column in expected.split(", ") if columns and column not in columns]
        if missing:
            return f"its table {table} is of another schema (no column {', '.join(missing)})"
    return None


def _newer_schema(version: int) -> str:
    return f"schema version {version} was written by a newer executor (this one knows {SCHEMA_VERSION})"


class SqliteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        retention: float = DEFAULT_RETENTION,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path)
        self.retention = retention
        self._read_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        try:
            _prepare(db)
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"{self.path}: not a usable executor store: {exc}") from exc
        self._db = db
        self._writer = GroupCommitWriter(db, name=f"store-writer:{self.path.name}")
        self._clock = clock or self._steady_clock()

    def _steady_clock(self) -> SteadyClock:
        """Claims are stamped and pruned by a clock that does not jump with the wall clock; after a
        restart it goes on from the newest claim when the wall clock says a later time: it cannot
        tell a long stop from a clock gone ahead, and only the second would forget ids too early."""
        (newest,) = self._read("SELECT max(claimed_at) FROM tasks")[0]
        now = time.time()
        return SteadyClock(now if newest is None else min(now, newest))

    # --- tasks ---

    def claim_task(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        return self._write(self._claim(task_id, avs, fingerprint))

    async def claim_task_async(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        return await self._write_async(self._claim(task_id, avs, fingerprint))

    def complete_task(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        return self._write(_complete(task_id, status, result, error))

    async def complete_task_async(
        self,
        task_id: str,
        status: Outcome,
        *,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        return await self._write_async(_complete(task_id, status, result, error))

    def release_task(self, task_id: str) -> bool:
        return self._write(_release(task_id))

    async def release_task_async(self, task_id: str) -> bool:
        return await self._write_async(_release(task_id))

    def task(self, task_id: str) -> TaskRecord | None:
        rows = self._read(f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_key(task_id),))
        return TaskRecord(*rows[0]) if rows else None

    def task_status(self, task_id: str) -> TaskStatus | None:
        rows = self._read("SELECT status FROM tasks WHERE task_id = ?", (task_key(task_id),))
        return cast(TaskStatus, rows[0][0]) if rows else None

    def prune(self, now: float | None = None, limit: int | None = None) -> int:
        cutoff = (self._clock() if now is None else now) - self.retention

        def prune(db: sqlite3.Connection) -> int:
            return db.execute(
                "DELETE FROM tasks WHERE rowid IN "
                "(SELECT rowid FROM tasks WHERE claimed_at < ? ORDER BY claimed_at LIMIT ?)",
                (cutoff, -1 if limit is None else limit),
            ).rowcount

        return self._write(prune)

    # --- performers ---

    def save_performer(self, record: PerformerRecord) -> None:
        row = (
            record.performer_id,
            record.avs_address,
            record.backend,
            record.status,
            record.image,
            record.endpoint,
            record.resource_id,
            record.created_at,
        )
        sql = f"INSERT OR REPLACE INTO performers ({PERFORMER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        self._write(lambda db: db.execute(sql, row))

    def delete_performer(self, performer_id: str) -> None:
        self._write(lambda db: db.execute("DELETE FROM performers WHERE performer_id = ?", (performer_id,)))

    def performers(self) -> list[PerformerRecord]:
        rows = self._read(f"SELECT {PERFORMER_COLUMNS} FROM performers ORDER BY created_at, performer_id")
        return [PerformerRecord(*row) for row in rows]

    # --- plumbing ---

    @property
    def commits(self) -> int:
        """Transactions committed since the store was opened (each one fsync)."""
        return self._writer.commits

    @property
    def writes(self) -> int:
        """Writes committed since the store was opened (`writes / commits`: the writes per fsync)."""
        return self._writer.writes

    def close(self) -> None:
        """Commits the writes still queued, then closes both connections (idempotent)."""
        self._writer.close()
        with self._read_lock:
            self._reader.close()
        self._db.close()

    def _claim(self, task_id: str, avs: str, fingerprint: bytes | None) -> Write[bool]:
        claimed_at = self._clock()
        task_id = task_key(task_id)

        def claim(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO tasks (task_id, avs, status, claimed_at, fingerprint) "
                "VALUES (?, ?, 'claimed', ?, ?)",
                (task_id, avs, claimed_at, fingerprint),
            )
            return cursor.rowcount == 1

        return claim

    def _write(self, write: Write[T]) -> T:
        try:
            return self._writer.run(write)
        except (sqlite3.Error, WriterClosedError) as exc:
            raise StoreError(f"{self.path}: cannot write to the store: {exc}") from exc

    async def _write_async(self, write: Write[T]) -> T:
        try:
            return await self._writer.run_async(write)
        except (sqlite3.Error, WriterClosedError) as exc:
            raise StoreError(f"{self.path}: cannot write to the store: {exc}") from exc

    def _read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        # fetchall: no statement stays open to pin an old snapshot of the file
        try:
            with self._read_lock:
                return self._reader.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read the store: {exc}") from exc


def _prepare(db: sqlite3.Connection) -> None:
    """WAL journal, fsync on every commit, the schema (creating or upgrading it)."""
    db.execute("PRAGMA busy_timeout = 5000")
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch the journal to WAL mode (it is {mode})")
    db.execute("PRAGMA synchronous = FULL")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(_newer_schema(version))
    upgrade = ""
    if version == 1:
        upgrade = " ".join(f"ALTER TABLE tasks ADD COLUMN {column};" for column in ADDED_IN_2)
    db.executescript(
        f"BEGIN; {SCHEMA} {upgrade} {LOWER_CASE_TASK_IDS} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    )


def _complete(
    task_id: str, status: Outcome, result: bytes | None, error: tuple[str, str] | None
) -> Write[bool]:
    code, message = error if error else (None, None)
    task_id = task_key(task_id)

    def complete(db: sqlite3.Connection) -> bool:
        # Only a claim: a recorded outcome stays (an "interrupted" queued behind a "done" whose
        # waiter was cancelled must not replace it).
        cursor = db.execute(
            "UPDATE tasks SET status = ?, result = ?, error_code = ?, error_message = ? "
            "WHERE task_id = ? AND status = 'claimed'",
            (status, result, code, message, task_id),
        )
        return cursor.rowcount == 1

    return complete


def _release(task_id: str) -> Write[bool]:
    task_id = task_key(task_id)

    def release(db: sqlite3.Connection) -> bool:
        cursor = db.execute("DELETE FROM tasks WHERE task_id = ? AND status = 'claimed'", (task_id,))
        return cursor.rowcount == 1

    return release
