"""Group commits in the SQLite store: concurrent writes share commits, yet each returns only once
it is committed, after a shared commit the writer waits its commit delay for more writes (a lone
writer never waits), a failing write does not take its batch down, close commits what was queued, a
process killed (SIGKILL) with writes in flight keeps every write it had reported done, and the task
service on top still runs each task once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.store import StoreError, TaskRecord
from hourglass_executor.store.group_commit import GroupCommitWriter
from hourglass_executor.store.sqlite import SqliteStore

from tests.support.aggregator import TestAggregator, executor_signers
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub
from tests.support.local_backend import LocalBackend
from tests.support.waiting import wait_for, wait_for_async

AVS = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
FINGERPRINT = b"\x07" * 32


def committed_status(path: Path, task_id: str) -> str | None:
    """The task's status as another process would read it: a connection of its own."""
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    db.close()
    return row[0] if row else None


def test_concurrent_writes_share_commits_and_each_returns_only_once_committed(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    tasks = 200

    async def claim_then_look(index: int) -> tuple[bool, str | None]:
        claimed = await store.claim_task_async(f"task-{index}", AVS, FINGERPRINT)
        return claimed, committed_status(path, f"task-{index}")  # before any other coroutine runs

    async def scenario() -> list[tuple[bool, str | None]]:
        return await asyncio.gather(*(claim_then_look(index) for index in range(tasks)))

    try:
        before = store.commits
        answers = asyncio.run(scenario())
        commits = store.commits - before
    finally:
        store.close()
    assert answers == [(True, "claimed")] * tasks
    assert 1 <= commits < tasks / 4, commits  # one fsync for many writes


def test_the_writes_of_one_task_each_wait_for_their_own_commit(tmp_path):
    """A lone task (no concurrency): claim, then outcome, each committed before it returns."""
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)

    async def scenario() -> list[str | None]:
        seen = []
        await store.claim_task_async("task", AVS, FINGERPRINT)
        seen.append(committed_status(path, "task"))
        await store.complete_task_async("task", "done", result=b"signed")
        seen.append(committed_status(path, "task"))
        await store.release_task_async("task")  # completed: stays
        seen.append(committed_status(path, "task"))
        return seen

    try:
        before = store.commits
        assert asyncio.run(scenario()) == ["claimed", "done", "done"]
        assert store.commits - before == 3
    finally:
        store.close()


class HeldCommits:
    """A connection whose COMMIT waits until the test lets it go (what a slow fsync looks like)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.committing = threading.Event()
        self.release = threading.Event()

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def execute(self, sql: str, *parameters: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.committing.set()
            self.release.wait(30)
        return self.db.execute(sql, *parameters)


def test_no_answer_before_its_commit_has_finished(tmp_path):
    db = sqlite3.connect(tmp_path / "held.sqlite3", isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE items (name TEXT PRIMARY KEY)")
    held = HeldCommits(db)
    writer = GroupCommitWriter(held)  # type: ignore[arg-type]

    async def scenario() -> tuple[bool, int]:
        write = asyncio.ensure_future(
            writer.run_async(lambda c: c.execute("INSERT INTO items VALUES ('a')").rowcount)
        )
        await asyncio.to_thread(held.committing.wait, 30)  # the writer is inside COMMIT
        # Not a timed wait: an early answer was posted to this loop before the writer entered COMMIT,
        # so before the wake-up above; these yields only let the callbacks already queued run.
        for _ in range(10):
            await asyncio.sleep(0)
        answered_early = write.done()
        held.release.set()
        return answered_early, await write

    try:
        assert asyncio.run(scenario()) == (False, 1)
    finally:
        held.release.set()
        writer.close()
        db.close()


def test_answers_of_a_batch_resume_their_waiters_in_the_order_the_writes_were_queued(tmp_path):
    """What the task service relies on: of concurrent claims of one id committed together, the
    winner resumes first (and registers the task as running before a duplicate looks for it)."""
    db = sqlite3.connect(tmp_path / "held.sqlite3", isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE claims (task_id TEXT PRIMARY KEY)")
    held = HeldCommits(db)
    writer = GroupCommitWriter(held)  # type: ignore[arg-type]
    resumed: list[tuple[int, int]] = []

    def claim(connection: sqlite3.Connection) -> int:
        return connection.execute("INSERT OR IGNORE INTO claims VALUES ('contested')").rowcount

    async def claimant(index: int) -> None:
        resumed.append((index, await writer.run_async(claim)))

    async def scenario() -> None:
        blocker = asyncio.ensure_future(writer.run_async(lambda c: c.execute("SELECT 1").fetchall()))
        await asyncio.to_thread(held.committing.wait, 30)  # the writer is busy: the next batch forms
        claimants = [asyncio.ensure_future(claimant(index)) for index in range(8)]
        await wait_for_async(lambda: writer.enqueued == 9, what="the eight claims queued behind the blocker")
        held.release.set()
        await asyncio.gather(blocker, *claimants)

    try:
        asyncio.run(scenario())
        assert writer.commits == 2  # the blocker's, then one for all eight claims
    finally:
        held.release.set()
        writer.close()
        db.close()
    assert resumed == [(0, 1)] + [(index, 0) for index in range(1, 8)]


class HeldSleep:
    """The writer's sleep: records each delay and returns only when the test lets it go."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.sleeping = threading.Event()
        self.wake = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.sleeping.set()
        self.wake.wait(30)


def test_after_a_shared_commit_the_writer_waits_its_commit_delay_and_a_lone_writer_never_does(tmp_path):
    db = sqlite3.connect(tmp_path / "held.sqlite3", isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE items (name TEXT PRIMARY KEY)")
    held, sleep = HeldCommits(db), HeldSleep()
    held.release.set()
    writer = GroupCommitWriter(held, commit_delay=0.002, sleep=sleep)  # type: ignore[arg-type]

    def insert(name: str):
        return lambda connection: connection.execute("INSERT INTO items VALUES (?)", (name,)).rowcount

    def queued(count: int) -> None:
        wait_for(lambda: writer.enqueued == count, timeout=30, what=f"{count} writes queued")

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert (writer.run(insert("lone")), writer.run(insert("alone"))) == (1, 1)
            assert (writer.commits, sleep.delays) == (2, [])  # one at a time: no waiting

            held.release.clear()
            held.committing.clear()  # set by the commits above: wait for a's own
            first = pool.submit(writer.run, insert("a"))
            assert held.committing.wait(30)  # the writer is busy: b and c queue up together
            shared = [pool.submit(writer.run, insert(name)) for name in ("b", "c")]
            queued(5)
            held.release.set()
            assert [f.result(30) for f in (first, *shared)] == [1, 1, 1]
            assert (writer.commits, writer.writes, sleep.delays) == (4, 5, [])

            late = pool.submit(writer.run, insert("d"))
            assert sleep.sleeping.wait(30)  # b and c shared a commit: the writer waits for more
            later = pool.submit(writer.run, insert("e"))
            queued(7)
            sleep.wake.set()
            assert (late.result(30), later.result(30)) == (1, 1)
            assert (writer.commits, writer.writes, sleep.delays) == (5, 7, [0.002])  # d and e together
    finally:
        held.release.set()
        sleep.wake.set()
        writer.close()
        db.close()


def test_a_failing_write_gets_its_error_and_the_rest_of_its_batch_commits(tmp_path):
    path = tmp_path / "plain.sqlite3"
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE items (name TEXT PRIMARY KEY)")
    writer = GroupCommitWriter(db)

    def insert(name: str):
        return lambda connection: connection.execute("INSERT INTO items VALUES (?)", (name,)).rowcount

    async def scenario() -> list[object]:
        return await asyncio.gather(
            writer.run_async(insert("a")),
            writer.run_async(insert("a")),  # primary key taken
            writer.run_async(insert("b")),
            return_exceptions=True,
        )

    try:
        first, duplicate, other = asyncio.run(scenario())
        assert (first, other) == (1, 1)
        assert isinstance(duplicate, sqlite3.IntegrityError)
        with pytest.raises(sqlite3.IntegrityError):
            writer.run(insert("b"))
        assert writer.run(insert("c")) == 1  # the writer goes on
    finally:
        writer.close()
        db.close()
    with sqlite3.connect(path) as check:
        assert sorted(row[0] for row in check.execute("SELECT name FROM items")) == ["a", "b", "c"]
    check.close()


def test_close_commits_the_queued_writes_and_later_writes_name_the_file(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)

    async def scenario() -> list[bool]:
        claims = [asyncio.ensure_future(store.claim_task_async(f"task-{i}", AVS)) for i in range(50)]
        await wait_for_async(lambda: store._writer.enqueued == 50, what="every claim queued")
        store.close()
        return await asyncio.gather(*claims)

    assert asyncio.run(scenario()) == [True] * 50
    with pytest.raises(StoreError, match=r"state\.sqlite3: cannot write to the store: the store is closed"):
        store.claim_task("late", AVS)
    reopened = SqliteStore(path)
    try:
        assert [reopened.task_status(f"task-{i}") for i in range(50)] == ["claimed"] * 50
    finally:
        reopened.close()


def test_a_write_whose_waiter_was_cancelled_is_still_made(tmp_path):
    """Documented: a cancelled claim may have been made (the task service treats it as
    interrupted), so a queued write is never silently dropped."""
    store = SqliteStore(tmp_path / "state.sqlite3")

    async def scenario() -> None:
        gate = threading.Event()  # holds the writer inside an earlier write while the claim waits
        blocker = asyncio.ensure_future(store._writer.run_async(lambda _: gate.wait(30)))
        claim = asyncio.ensure_future(store.claim_task_async("cancelled", AVS))
        await wait_for_async(lambda: store._writer.enqueued == 2, what="the claim queued behind the blocker")
        claim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await claim
        gate.set()
        await blocker

    try:
        asyncio.run(scenario())
        assert store.claim_task("after", AVS) is True  # queued behind it: it was committed first
        assert store.task_status("cancelled") == "claimed"
    finally:
        store.close()


CHILD = """
import asyncio, sys
from hourglass_executor.store.sqlite import SqliteStore

store = SqliteStore(sys.argv[1])
WORKERS = 32

async def worker(first: int) -> None:
    index = first
    while True:
        task_id = f"task-{index}"
        assert await store.claim_task_async(task_id, "avs", bytes(32))
        print("claimed", task_id, flush=True)
        assert await store.complete_task_async(task_id, "done", result=task_id.encode())
        print("done", task_id, flush=True)
        index += WORKERS

async def main() -> None:
    await asyncio.gather(*(worker(n) for n in range(WORKERS)))

asyncio.run(main())
"""


def test_a_killed_process_keeps_every_write_it_reported_and_claims_stay_claimed(tmp_path):
    """The real file, a real SIGKILL with 32 tasks' writes in flight: every claim and result the
    process had seen return is in the file afterwards, and no claimed id can be claimed again."""
    path = tmp_path / "state.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    reported: dict[str, set[str]] = {"claimed": set(), "done": set()}
    try:
        assert child.stdout is not None
        for line in child.stdout:
            what, task_id = line.split()
            reported[what].add(task_id)
            if len(reported["done"]) >= 2000:
                child.send_signal(signal.SIGKILL)
                break
        for line in child.stdout:  # written before it died: reported too, if whole
            if line.endswith("\n"):
                what, task_id = line.split()
                reported[what].add(task_id)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    assert len(reported["done"]) >= 2000, "the child stopped before it was killed"

    store = SqliteStore(path)
    try:
        for task_id in reported["done"]:
            assert store.task(task_id) == TaskRecord(
                task_id, "avs", "done", store.task(task_id).claimed_at, bytes(32), task_id.encode()
            )
        for task_id in reported["claimed"] - reported["done"]:
            assert store.task_status(task_id) in ("claimed", "done"), task_id
        assert not any(store.claim_task(task_id, "avs") for task_id in reported["claimed"])
    finally:
        store.close()


def test_through_the_task_service_concurrent_duplicates_run_once_and_share_one_answer(tmp_path):
    """Claims now return after a shared commit; a duplicate claimed in the same batch as the
    original must still find it running (row 11b), not take it for an interrupted task."""
    aggregator = TestAggregator(static_chain())
    distinct = [
        aggregator.submission(json.dumps({"op": "echo", "data": f"t{i}"}).encode()) for i in range(30)
    ]
    duplicated = distinct[0]
    backend = LocalBackend()

    async def submit(stub, submission) -> object:
        try:
            return await stub.SubmitTask(submission, timeout=30)
        except grpc.aio.AioRpcError as error:
            return error

    async def scenario() -> list[object]:
        store = SqliteStore(tmp_path / "executor.sqlite3")
        async with running_executor(
            executor_config(), backend, chain=static_chain(), signers=executor_signers(), store=store
        ) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                return await asyncio.gather(*(submit(stub, s) for s in [*distinct, *[duplicated] * 10]))

    answers = asyncio.run(scenario())
    assert all(isinstance(a, executor_pb2.TaskResult) for a in answers), answers
    for submission, answer in zip(distinct, answers, strict=False):
        aggregator.verify(submission, answer)
    assert {a.SerializeToString() for a in answers[30:]} == {answers[0].SerializeToString()}
    started = backend.tasks_started()
    assert sorted(started) == sorted(s.task_id.encode() for s in distinct)  # each once
