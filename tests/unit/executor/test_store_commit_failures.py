"""What the durable store answers when a commit cannot be made: a write is reported done only once
the transaction holding it committed (a failed COMMIT, a transaction SQLite rolled back midway),
close still commits the writes queued behind a busy writer, and a file the store cannot use
durably (no WAL journal, a newer schema) is refused when opened, not used."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from hourglass_executor.store import StoreError
from hourglass_executor.store.group_commit import GroupCommitWriter
from hourglass_executor.store.sqlite import SqliteStore

from tests.support.waiting import wait_for, wait_for_async

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def stored_names(path: Path) -> list[str]:
    """The rows another connection sees: what is on disk."""
    with sqlite3.connect(path) as check:
        names = sorted(row[0] for row in check.execute("SELECT name FROM items"))
    check.close()
    return names


def insert(name: str, parent: int | None = None):
    return lambda c: c.execute("INSERT INTO items VALUES (?, ?)", (name, parent)).rowcount


async def hold_writer(writer: GroupCommitWriter, gate: threading.Event) -> asyncio.Future[object]:
    """Queues a write that holds the writer until `gate` is set, and returns once the writer is in
    it: the writes queued from then on form the next batch."""
    entered = threading.Event()

    def held(_: sqlite3.Connection) -> bool:
        entered.set()
        return gate.wait(30)

    blocker = asyncio.ensure_future(writer.run_async(held))
    assert await asyncio.to_thread(entered.wait, 30), "the writer never took the blocker"
    return blocker


def test_writes_whose_commit_fails_get_its_error_and_are_not_stored(tmp_path):
    """COMMIT itself fails (here: a deferred constraint, as an I/O error at the fsync would): the
    write is answered with the error, never as done, and the writer goes on."""
    path = tmp_path / "deferred.sqlite3"
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(
        "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
        "CREATE TABLE items (name TEXT PRIMARY KEY,"
        " parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);"
    )
    writer = GroupCommitWriter(db)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            writer.run(insert("orphan", 42))  # accepted by its statement, refused at COMMIT
        assert writer.run(insert("fine")) == 1
    finally:
        writer.close()
        db.close()
    assert stored_names(path) == ["fine"]


def test_when_sqlite_rolls_back_a_batch_midway_every_write_of_it_fails_and_none_is_stored(tmp_path):
    """A full disk ends the transaction at one write: the writes before it were rolled back and the
    ones after it must not be made outside any transaction; all are answered with an error."""
    path = tmp_path / "full.sqlite3"
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE items (name TEXT PRIMARY KEY, parent BLOB)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for small rows, not for a large one
    writer = GroupCommitWriter(db)

    def too_large(connection: sqlite3.Connection) -> int:
        return connection.execute("INSERT INTO items VALUES ('large', ?)", (b"x" * 100_000,)).rowcount

    async def scenario() -> list[object]:
        gate = threading.Event()
        blocker = await hold_writer(writer, gate)
        batch = [
            asyncio.ensure_future(writer.run_async(write))
            for write in (insert("before"), too_large, insert("after"))
        ]
        await wait_for_async(lambda: writer.enqueued == 4, what="three writes queued behind the blocker")
        gate.set()
        await blocker
        return await asyncio.gather(*batch, return_exceptions=True)

    try:
        answers = asyncio.run(scenario())
        assert all(isinstance(answer, sqlite3.OperationalError) for answer in answers), answers
        assert writer.run(insert("later")) == 1  # the writer goes on
    finally:
        writer.close()
        db.close()
    assert stored_names(path) == ["later"]


def test_close_commits_and_answers_the_writes_queued_behind_a_busy_writer(tmp_path):
    path = tmp_path / "closing.sqlite3"
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE items (name TEXT PRIMARY KEY, parent INTEGER)")
    writer = GroupCommitWriter(db)

    async def scenario() -> list[int]:
        gate = threading.Event()
        blocker = await hold_writer(writer, gate)
        queued = [asyncio.ensure_future(writer.run_async(insert(name))) for name in ("a", "b")]
        await wait_for_async(lambda: writer.enqueued == 3, what="two writes queued behind the blocker")
        closing = asyncio.ensure_future(asyncio.to_thread(writer.close))
        # Closed while the writer is still busy: the queued writes are the batch after close.
        await asyncio.to_thread(wait_for, lambda: writer._closed, timeout=10, what="close to begin")
        gate.set()
        await blocker
        async with asyncio.timeout(10):  # not forever: the writes must be answered
            answers = await asyncio.gather(*queued)
        await closing
        return answers

    try:
        assert asyncio.run(scenario()) == [1, 1]
    finally:
        writer.close()
        db.close()
    assert stored_names(path) == ["a", "b"]


def test_a_store_whose_journal_cannot_be_wal_is_refused():
    """Without the WAL journal the reads would not see the claims (or not durably): refused."""
    with pytest.raises(StoreError, match="WAL"):
        SqliteStore(":memory:")


def test_a_file_of_a_newer_schema_is_refused_and_left_as_it_is(tmp_path):
    """Opening must not rewrite a newer executor's file as an older schema (a rollback would
    otherwise corrupt the task ids the newer one claimed)."""
    path = tmp_path / "newer.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 3")
    db.close()
    with pytest.raises(StoreError, match="newer executor"):
        SqliteStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'tasks'").fetchall() == []
    db.close()
