"""Logging set-up for `hourglass-executor run`: JSON lines on stderr (default) or plain text.

A JSON line carries `time` (UTC, milliseconds), `level`, `logger`, `msg`, the fields a call passes in
`extra=` (e.g. `avs`, `performer_id`, `task_id`, `code`) and `error` with the traceback of a logged
exception. The same shape as the operator's logs, so one log pipeline reads both.

What must never be logged, whatever the level: private keys and other secrets of the configuration,
task payloads and results, performer environment values, challenge tokens and signatures.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Libraries that log every request or event at INFO.
_NOISY = ("urllib3", "kubernetes", "docker", "grpc")


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` (the `extra=` fields appended)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES]
        return f"{text} {' '.join(fields)}" if fields else text


def setup(*, debug: bool = False, fmt: Literal["json", "text"] = "json") -> None:
    """Routes every logger to stderr in `fmt`, at DEBUG when `debug`, else INFO."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
