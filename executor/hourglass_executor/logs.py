"""Logging set-up for `hourglass-executor run`: JSON lines on stderr (default) or plain text.

A JSON line (python-json-logger) carries `time` (UTC, milliseconds), `level`, `logger`, `msg`, the
fields a call passes in `extra=` (e.g. `avs`, `performer_id`, `task_id`, `code`) and `error` with the
traceback of a logged exception. The operator's logs (`hourglass_operator/logs.py`) configure the same
library the same way, so one log pipeline reads both. A text line is `time level logger: message`
followed by the `extra=` fields as `key=value`.

What must never be logged, whatever the level: private keys and other secrets of the configuration,
task payloads and results, performer environment values, challenge tokens and signatures.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter

# Libraries that log every request or event at INFO.
_NOISY = ("urllib3", "kubernetes", "docker", "grpc")


class JsonLinesFormatter(JsonFormatter):
    """python-json-logger with the field names `time`, `level` (lower case), `logger`, `msg`, `error`."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03d+00:00"

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "message": "msg",
                "exc_info": "error",
            },
            json_default=str,
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["level"] = log_data["level"].lower()
        return log_data


class _TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` (the `extra=` fields appended)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [f"{k}={v}" for k, v in merge_record_extra(record, {}, RESERVED_ATTRS).items()]
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
