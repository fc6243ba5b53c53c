"""The threads a performer runs its plain-function worker methods on: a pool of its own (not the event
loop's default executor), so that its size is the performer's to choose, stopping can abandon handlers
stuck past the grace period, and the server can tell when every thread is stuck.

A call counts as busy from its submission until its function returns (or until it is cancelled while
still waiting for a thread): a handler that runs on after its caller's deadline still holds its
thread, and is still counted. The pool is stuck when every thread is held by a call whose caller's
deadline has passed: nothing can run there any more, although nothing failed. Busy with calls whose
callers still wait is only busy (a task sent meanwhile waits for a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# The size of asyncio's default executor, which ran plain-function handlers before.
DEFAULT_THREADS = min(32, (os.cpu_count() or 1) + 4)


class HandlerThreads:
    """Runs plain functions on `size` threads; calls `on_change` on the event loop whenever a call
    started or ended, or a caller's deadline passed (read `stuck` there)."""

    def __init__(self, size: int, on_change: Callable[[], None]) -> None:
        self.size = size
        self._on_change = on_change
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="performer-handler")
        self._lock = threading.Lock()
        self._waiting: set[int] = set()  # calls submitted, not yet on a thread
        self._running: dict[int, float | None] = {}  # calls on a thread: their callers' deadlines
        self._calls = itertools.count()

    @property
    def busy(self) -> int:
        """Calls running on a thread or waiting for one."""
        with self._lock:
            return len(self._waiting) + len(self._running)

    def stuck(self, now: float) -> bool:
        """Every thread is held by a call whose caller's deadline is before `now` (loop time); a call
        still waiting for a thread holds none."""
        with self._lock:
            overdue = [d for d in self._running.values() if d is not None and d <= now]
            return len(overdue) >= self.size

    async def run(self, function: Callable[..., T], *args: Any, deadline: float | None = None) -> T:
        """`function(*args)` on a pool thread, in a copy of the caller's context (as asyncio.to_thread);
        `deadline` is its caller's (loop time; None: none)."""
        loop = asyncio.get_running_loop()
        call = next(self._calls)
        with self._lock:
            self._waiting.add(call)
        context = contextvars.copy_context()
        future = self._executor.submit(self._on_thread, call, deadline, context.run, function, *args)
        timer = loop.call_at(deadline, self._on_change) if deadline is not None else None
        self._on_change()
        future.add_done_callback(lambda _: self._finished(loop, call, timer))
        return await asyncio.wrap_future(future)

    def _finished(
        self, loop: asyncio.AbstractEventLoop, call: int, timer: asyncio.TimerHandle | None
    ) -> None:
        """In the thread that ran the call (a done callback): the loop's own objects are left to it."""
        with self._lock:
            self._waiting.discard(call)
            self._running.pop(call, None)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to tell
            loop.call_soon_threadsafe(self._ended, timer)

    def _on_thread(self, call: int, deadline: float | None, function: Callable[..., T], *args: Any) -> T:
        with self._lock:
            self._waiting.discard(call)
            self._running[call] = deadline
        return function(*args)

    def _ended(self, timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
        self._on_change()

    def shutdown(self) -> None:
        """Cancels the calls still waiting for a thread and returns without waiting for the running
        ones (their results are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
