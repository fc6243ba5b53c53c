"""Group commits for the SQLite store: one thread owns the write connection and runs the writes
queued since its last commit in one transaction, so that one commit (one fsync of the WAL with
`synchronous=FULL`) makes a whole batch durable.

A caller waits until the commit that holds its write has finished: `run` blocks its thread,
`run_async` suspends its coroutine (the event loop goes on serving other tasks meanwhile). A write's
answer is delivered only after its transaction committed, so "returned" still means "on disk".
Writes that arrive while a commit is under way form the next batch, so a lone write commits at once
and many concurrent ones share fsyncs. When the last commit held more than one write (others are
writing too), the writer also waits `commit_delay` (2 ms) before it takes the next batch, so that the
writes arriving meanwhile share its commit: as PostgreSQL's commit_delay does, it trades a little
latency under load for fewer fsyncs, whose CPU (in the kernel, and the wake-ups of the waiters) is most
of what the durable store costs. A lone writer never waits.

Writes are applied in the order they were queued; each is a function of the connection that
returns its answer. A write that fails is answered with its error and the others of its batch still
commit, unless the failure ended the transaction (SQLite rolls back on a full disk or an I/O
error): then every write of the batch fails. A write that was queued is always applied, even if
its waiter went away (a cancelled coroutine): callers must not assume a cancelled write was not made.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], T]

# Measured on the two-core development machine (bench/README.md): 2 ms made batches of 4.8 writes
# instead of 3.3 and the SQLite store's throughput 13-24 % higher.
COMMIT_DELAY = 0.002


class WriterClosedError(Exception):
    """A write was queued after `close`."""


class _Pending:
    """A queued write and the one waiting for its answer (a thread's event or a loop's future)."""

    __slots__ = ("error", "event", "future", "loop", "value", "write")

    def __init__(
        self,
        write: Write[Any],
        *,
        event: threading.Event | None = None,
        future: asyncio.Future[Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.write = write
        self.value: Any = None
        self.error: BaseException | None = None
        self.event = event
        self.future = future
        self.loop = loop

    def answer(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class GroupCommitWriter:
    """Runs writes on `connection` (in autocommit mode, used by nobody else) from its own thread."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        name: str = "store-writer",
        commit_delay: float = COMMIT_DELAY,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._db = connection
        self._commit_delay = commit_delay
        self._sleep = sleep
        self._queue: list[_Pending] = []
        self._wake = threading.Condition()
        self._closed = False
        self.commits = 0  # transactions committed (what a benchmark or a test may read)
        self.writes = 0  # writes in them
        self.enqueued = 0  # writes handed to the writer so far (what a test synchronises on)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, write: Write[T]) -> T:
        """Applies `write` and returns its answer once it is committed (blocks this thread)."""
        pending = _Pending(write, event=threading.Event())
        self._enqueue(pending)
        assert pending.event is not None
        pending.event.wait()
        return pending.answer()

    async def run_async(self, write: Write[T]) -> T:
        """Applies `write` and returns its answer once it is committed (suspends this coroutine)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue(_Pending(write, future=future, loop=loop))
        return await future

    def close(self) -> None:
        """Commits what is queued, then stops the thread (idempotent); later writes raise
        WriterClosedError. The connection stays open: its owner closes it."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _enqueue(self, pending: _Pending) -> None:
        with self._wake:
            if self._closed:
                raise WriterClosedError("the store is closed")
            self._queue.append(pending)
            self.enqueued += 1
            self._wake.notify()

    def _serve(self) -> None:
        concurrent = False  # the last commit held more than one write
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                closing = self._closed
            if concurrent and not closing and self._commit_delay > 0:
                self._sleep(self._commit_delay)  # let the other writers' next writes join this batch
            with self._wake:
                batch, self._queue = self._queue, []
            concurrent = len(batch) > 1
            if not batch:
                return  # closed, and nothing left
            try:
                self._commit(batch)
            except BaseException as error:  # never leave a waiter hanging
                for pending in batch:
                    if pending.error is None:
                        pending.error = error
            self._settle(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        for pending in batch:
            try:
                pending.value = pending.write(db)
            except Exception as error:
                pending.error = error
                if not db.in_transaction:  # SQLite rolled the whole transaction back
                    self._fail_all(batch, error)
                    return
        try:
            db.execute("COMMIT")
        except sqlite3.Error as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._fail_all(batch, error)
            return
        self.commits += 1
        self.writes += len(batch)

    @staticmethod
    def _fail_all(batch: list[_Pending], error: BaseException) -> None:
        for pending in batch:
            pending.value = None
            pending.error = pending.error or error

    @staticmethod
    def _settle(batch: list[_Pending]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for pending in batch:
            if pending.event is not None:
                pending.event.set()
            elif pending.loop is not None:
                by_loop.setdefault(pending.loop, []).append(pending)
        for loop, waiting in by_loop.items():  # one wake-up of each loop per batch
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle_futures, waiting)


def _settle_futures(batch: list[_Pending]) -> None:
    """Runs on the waiters' event loop: hands each future its answer (unless it was cancelled)."""
    for pending in batch:
        future = pending.future
        if future is None or future.done():
            continue
        if pending.error is not None:
            future.set_exception(pending.error)
        else:
            future.set_result(pending.value)
