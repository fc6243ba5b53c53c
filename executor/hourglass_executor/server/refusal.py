"""`Refusal`: a handler's decision to answer with a gRPC status instead of a response.

Handlers raise it anywhere in their checks; the servicer method turns it into `context.abort` in one
place, so that the order of checks reads top to bottom and a refusal never passes through code that
would catch the abort itself.
"""

from __future__ import annotations

import grpc


class Refusal(Exception):
    """`message` goes to the caller; `log_reason` (default: the message) to the executor's log, for
    messages that carry text the executor must not log (a performer's error may quote the payload);
    `trailing_metadata` goes to the caller with the status (e.g. a `retry-after` hint)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        log_reason: str | None = None,
        trailing_metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.log_reason = message if log_reason is None else log_reason
        self.trailing_metadata = trailing_metadata
