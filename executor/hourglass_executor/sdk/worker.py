"""What a performer implements: a `Worker` validates and handles tasks.

Methods may be plain functions or coroutines. The server runs plain ones on one of its handler
threads (`PerformerServer(threads=...)`), so a CPU-bound or blocking handler does not stall health
checks and other tasks; coroutines run on the server's event loop and must not block it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable


class TaskRejected(Exception):
    """The task's input is invalid; the executor receives INVALID_ARGUMENT with this message."""


class Worker(ABC):
    def validate_task(self, task_id: bytes, payload: bytes) -> Awaitable[None] | None:
        """Raises TaskRejected when the task cannot be handled. Accepts everything by default."""
        return None

    @abstractmethod
    def handle_task(self, task_id: bytes, payload: bytes) -> bytes | Awaitable[bytes]:
        """Returns the task's result. TaskRejected → INVALID_ARGUMENT; anything else raised
        (SystemExit and KeyboardInterrupt too) → INTERNAL carrying the exception's message. Either
        message is cut to 2 KiB."""

    def start_sync(self, payload: bytes) -> Awaitable[None] | None:
        """Called for StartSync; does nothing by default."""
        return None
