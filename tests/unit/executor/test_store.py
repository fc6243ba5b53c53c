"""The executor's state store: both implementations behave alike; SQLite persists."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hourglass_executor.config import BADGER_SQLITE_FILENAME, StorageConfig
from hourglass_executor.store import PerformerRecord, Store, StoreError, TaskRecord, open_store
from hourglass_executor.store.memory import MemoryStore
from hourglass_executor.store.sqlite import SqliteStore

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HOUR = 3600.0


def record(performer_id: str, created_at: float, status: str = "in_service") -> PerformerRecord:
    return PerformerRecord(
        performer_id=performer_id,
        avs_address=AVS,
        backend="docker",
        status=status,  # type: ignore[arg-type]
        image="ghcr.io/example/performer:v1",
        endpoint="localhost:32768",
        resource_id="c0ffee",
        created_at=created_at,
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path, clock) -> Iterator[Store]:
    if request.param == "memory":
        opened: Store = MemoryStore(retention=24 * HOUR, clock=clock)
    else:
        opened = SqliteStore(tmp_path / "state.sqlite3", retention=24 * HOUR, clock=clock)
    yield opened
    opened.close()


def test_a_task_is_claimed_once(store):
    assert store.task_status("task-1") is None
    assert store.claim_task("task-1", AVS) is True
    assert store.claim_task("task-1", AVS) is False
    assert store.claim_task("task-2", AVS) is True
    assert store.task_status("task-1") == "claimed"


def test_concurrent_claims_of_one_id_have_one_winner(store):
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        won = store.claim_task("contested", AVS)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == [False] * 7 + [True]


def test_completed_tasks_keep_their_status_and_stay_claimed(store):
    store.claim_task("ok", AVS)
    store.claim_task("bad", AVS)
    assert store.complete_task("ok", "done") is True
    assert store.complete_task("bad", "failed") is True
    assert store.complete_task("unknown", "done") is False
    assert store.task_status("ok") == "done"
    assert store.task_status("bad") == "failed"
    assert store.task_status("unknown") is None
    assert store.claim_task("ok", AVS) is False


def test_outcomes_keep_the_fingerprint_the_result_and_the_error(store, clock):
    fingerprint = bytes(range(32))
    store.claim_task("ok", AVS, fingerprint)
    store.claim_task("bad", AVS, fingerprint)
    store.claim_task("cut", AVS, fingerprint)
    store.claim_task("running", AVS, fingerprint)
    store.claim_task("legacy", AVS)
    store.complete_task("ok", "done", result=b"\x0a\x00signed result")
    store.complete_task("bad", "failed", error=("INTERNAL", "the performer failed: boom"))
    store.complete_task("cut", "interrupted")
    assert store.task("ok") == TaskRecord("ok", AVS, "done", clock.now, fingerprint, b"\x0a\x00signed result")
    assert store.task("bad") == TaskRecord(
        "bad", AVS, "failed", clock.now, fingerprint, None, "INTERNAL", "the performer failed: boom"
    )
    assert store.task("cut") == TaskRecord("cut", AVS, "interrupted", clock.now, fingerprint)
    assert store.task("running") == TaskRecord("running", AVS, "claimed", clock.now, fingerprint)
    assert store.task("legacy") == TaskRecord("legacy", AVS, "claimed", clock.now, None)
    assert store.task("unknown") is None


def test_the_async_writes_mean_what_the_plain_ones_mean(store, clock):
    async def scenario() -> list[object]:
        contested = await asyncio.gather(*(store.claim_task_async("contested", AVS) for _ in range(20)))
        return [
            sorted(contested),
            await store.claim_task_async("ok", AVS, b"\x01" * 32),
            await store.claim_task_async("ok", AVS, b"\x01" * 32),
            await store.complete_task_async("ok", "done", result=b"signed"),
            await store.complete_task_async("unknown", "done"),
            await store.claim_task_async("bad", AVS),
            await store.complete_task_async("bad", "failed", error=("INTERNAL", "boom")),
            await store.release_task_async("bad"),
            await store.claim_task_async("never-ran", AVS),
            await store.release_task_async("never-ran"),
            await store.release_task_async("never-ran"),
        ]

    answers = asyncio.run(scenario())
    assert answers == [[False] * 19 + [True], True, False, True, False, True, True, False, True, True, False]
    assert store.task("ok") == TaskRecord("ok", AVS, "done", clock.now, b"\x01" * 32, b"signed")
    assert store.task("bad") == TaskRecord("bad", AVS, "failed", clock.now, None, None, "INTERNAL", "boom")
    assert store.task_status("never-ran") is None
    assert store.claim_task("never-ran", AVS) is True


def test_prune_takes_the_oldest_first_and_at_most_limit(store, clock):
    for index in range(5):
        store.claim_task(f"task-{index}", AVS, bytes(32))
        store.complete_task(f"task-{index}", "done", result=b"result")
        clock.now += 1
    clock.now += 24 * HOUR
    assert store.prune(limit=2) == 2
    assert [store.task_status(f"task-{index}") for index in range(5)] == [None, None, "done", "done", "done"]
    assert store.prune(limit=2) == 2
    assert store.prune(limit=2) == 1
    assert store.prune(limit=2) == 0


def test_a_released_claim_can_be_claimed_again_but_a_completed_one_cannot_be_released(store):
    store.claim_task("never-ran", AVS)
    store.claim_task("ran", AVS)
    store.complete_task("ran", "failed")
    assert store.release_task("never-ran") is True
    assert store.task_status("never-ran") is None
    assert store.claim_task("never-ran", AVS) is True
    assert store.release_task("ran") is False
    assert store.task_status("ran") == "failed"
    assert store.release_task("unknown") is False


def test_a_task_id_is_one_id_whatever_the_case_of_its_hex_digits(store, clock):
    """`0xAB…` and `0xab…` are the same 32 bytes (and signed alike): one claim, one record."""
    upper, lower, mixed = "0x" + "AB" * 32, "0x" + "ab" * 32, "0x" + "aB" * 32
    assert store.claim_task(upper, AVS, b"\x01" * 32) is True
    assert store.claim_task(lower, AVS, b"\x01" * 32) is False
    assert asyncio.run(store.claim_task_async(mixed, AVS, b"\x01" * 32)) is False
    assert store.complete_task(mixed, "done", result=b"signed") is True
    assert store.task(lower) == TaskRecord(lower, AVS, "done", clock.now, b"\x01" * 32, b"signed")
    assert store.task_status(upper) == "done"
    store.claim_task("0x" + "CD" * 32, AVS)
    assert store.release_task("0x" + "cd" * 32) is True
    assert store.task_status("0x" + "CD" * 32) is None


OUTCOMES: dict[str, dict[str, object]] = {
    "done": {"result": b"signed"},
    "failed": {"error": ("INTERNAL", "boom")},
    "interrupted": {},
}


@pytest.mark.parametrize("first", list(OUTCOMES))
def test_a_recorded_outcome_is_never_replaced(store, first):
    """An outcome queued behind another (an "interrupted" after a "done" whose waiter was cancelled)
    changes nothing: the first outcome recorded stays."""
    store.claim_task("task", AVS, b"\x01" * 32)
    assert store.complete_task("task", first, **OUTCOMES[first]) is True  # type: ignore[arg-type]
    kept = store.task("task")

    async def later() -> list[bool]:
        return [
            await store.complete_task_async("task", "interrupted"),
            await store.complete_task_async("task", "failed", error=("INTERNAL", "late")),
            await store.complete_task_async("task", "done", result=b"late"),
        ]

    assert asyncio.run(later()) == [False, False, False]
    assert store.complete_task("task", "interrupted") is False
    assert store.task("task") == kept
    assert kept is not None and kept.status == first


def test_prune_forgets_task_ids_older_than_the_retention(store, clock):
    store.claim_task("old", AVS)
    clock.now += 23 * HOUR
    store.claim_task("recent", AVS)
    assert store.prune(clock.now) == 0
    clock.now += 2 * HOUR
    assert store.prune() == 1  # default: the store's clock
    assert store.task_status("old") is None
    assert store.task_status("recent") == "claimed"
    assert store.claim_task("old", AVS) is True  # forgotten ids can be claimed again
    assert store.prune(clock.now + 48 * HOUR) == 2


def test_performer_records_round_trip(store):
    staged = record("performer-b", 20.0, status="staged")
    serving = record("performer-a", 10.0)
    store.save_performer(staged)
    store.save_performer(serving)
    assert store.performers() == [serving, staged]
    promoted = PerformerRecord(**{**staged.__dict__, "status": "in_service", "endpoint": "avs-x:8080"})
    store.save_performer(promoted)
    assert store.performers() == [serving, promoted]
    store.delete_performer("performer-a")
    store.delete_performer("performer-a")  # already gone: not an error
    assert store.performers() == [promoted]


def test_sqlite_state_survives_reopening(tmp_path, clock):
    path = tmp_path / "nested" / "dir" / "state.sqlite3"
    first = SqliteStore(path, clock=clock)
    first.claim_task("task-1", AVS)
    first.complete_task("task-1", "done")
    first.claim_task("task-2", AVS)
    first.save_performer(record("performer-a", 10.0))
    first.close()

    second = SqliteStore(path, clock=clock)
    try:
        assert second.claim_task("task-1", AVS) is False
        assert second.task_status("task-1") == "done"
        assert second.task_status("task-2") == "claimed"
        assert second.performers() == [record("performer-a", 10.0)]
        assert second._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert second._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: every commit an fsync
    finally:
        second.close()


def test_sqlite_results_survive_reopening(tmp_path, clock):
    path = tmp_path / "state.sqlite3"
    first = SqliteStore(path, clock=clock)
    first.claim_task("task-1", AVS, b"\x01" * 32)
    first.complete_task("task-1", "done", result=b"signed result")
    first.claim_task("task-2", AVS, b"\x02" * 32)  # the process dies while it runs
    first.close()
    second = SqliteStore(path, clock=clock)
    try:
        assert second.task("task-1") == TaskRecord(
            "task-1", AVS, "done", clock.now, b"\x01" * 32, b"signed result"
        )
        assert second.task("task-2") == TaskRecord("task-2", AVS, "claimed", clock.now, b"\x02" * 32)
    finally:
        second.close()


def test_sqlite_upgrades_a_version_1_file_in_place(tmp_path, clock):
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as db:  # the schema the first release wrote
        db.executescript(
            """
            CREATE TABLE tasks (task_id TEXT PRIMARY KEY, avs TEXT NOT NULL, status TEXT NOT NULL,
                                claimed_at REAL NOT NULL);
            CREATE INDEX tasks_by_claimed_at ON tasks (claimed_at);
            CREATE TABLE performers (performer_id TEXT PRIMARY KEY, avs_address TEXT NOT NULL,
                backend TEXT NOT NULL, status TEXT NOT NULL, image TEXT NOT NULL, endpoint TEXT NOT NULL,
                resource_id TEXT NOT NULL, created_at REAL NOT NULL);
            INSERT INTO tasks VALUES ('old', 'avs', 'done', 5.0);
            PRAGMA user_version = 1;
            """
        )
    db.close()
    store = SqliteStore(path, clock=clock)
    try:
        assert store.task("old") == TaskRecord("old", "avs", "done", 5.0, None)
        assert store.claim_task("new", AVS, b"\x03" * 32) is True
        store.complete_task("new", "done", result=b"r")
        assert store.task("new") == TaskRecord("new", AVS, "done", clock.now, b"\x03" * 32, b"r")
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        store.close()
    SqliteStore(path).close()  # opening an upgraded file again changes nothing


def test_sqlite_finds_the_tasks_0_1_0_stored_with_upper_case_hex_digits(tmp_path, clock):
    """0.1.0 stored ids as sent: after the upgrade a resubmission in any case must find its claim."""
    path = tmp_path / "0.1.0.sqlite3"
    upper, mixed, both = "0x" + "AB" * 32, "0x" + "cD" * 32, "0x" + "EF" * 32
    SqliteStore(path, clock=clock).close()
    with sqlite3.connect(path) as db:  # rows as 0.1.0 wrote them, into its schema (version 2)
        db.executemany(
            "INSERT INTO tasks (task_id, avs, status, claimed_at, fingerprint, result) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (upper, AVS, "done", 5.0, b"\x01" * 32, b"signed"),
                (mixed, AVS, "claimed", 6.0, b"\x02" * 32, None),
                (both, AVS, "done", 7.0, b"\x03" * 32, b"first"),
                (both.lower(), AVS, "done", 8.0, b"\x03" * 32, b"second"),
            ],
        )
    db.close()
    store = SqliteStore(path, clock=clock)
    try:
        assert store.claim_task(upper, AVS, b"\x01" * 32) is False
        assert store.claim_task(upper.lower(), AVS, b"\x01" * 32) is False
        assert store.task(upper) == TaskRecord(upper.lower(), AVS, "done", 5.0, b"\x01" * 32, b"signed")
        assert store.task_status(mixed.upper().replace("0X", "0x")) == "claimed"
        assert store.task(both) == TaskRecord(both.lower(), AVS, "done", 8.0, b"\x03" * 32, b"second")
        rows = store._db.execute("SELECT task_id FROM tasks ORDER BY task_id").fetchall()
        assert rows == [(upper.lower(),), (mixed.lower(),), (both.lower(),)]
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == 2  # 0.1.0 still opens it
    finally:
        store.close()


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite3"):
        SqliteStore(path)


def test_open_store_maps_badger_to_a_sqlite_file_in_its_dir(tmp_path):
    config = StorageConfig.model_validate({"type": "badger", "badger": {"dir": str(tmp_path / "badger")}})
    store = open_store(config)
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "badger" / BADGER_SQLITE_FILENAME
        assert store.claim_task("t", AVS) is True
    finally:
        store.close()
    assert (tmp_path / "badger" / "hourglass-executor.sqlite3").is_file()


def test_open_store_picks_sqlite_path_and_memory(tmp_path):
    sqlite_config = StorageConfig.model_validate(
        {"type": "sqlite", "sqlite": {"path": str(tmp_path / "x.db")}}
    )
    store = open_store(sqlite_config, retention=60.0)
    try:
        assert isinstance(store, SqliteStore)
        assert Path(store.path) == tmp_path / "x.db"
        assert store.retention == 60.0
    finally:
        store.close()
    assert isinstance(open_store(StorageConfig()), MemoryStore)
    in_memory_badger = StorageConfig.model_validate(
        {"type": "badger", "badger": {"dir": str(tmp_path), "inMemory": True}}
    )
    assert isinstance(open_store(in_memory_badger), MemoryStore)
