"""Logging set-up: JSON lines (default) or plain text, with the context a log record carries
(`key`, `keys`, `reconcile_id`, `informer`, ...) as fields: in text mode appended as `name=value`
(a list as comma-separated values), so that a text line names its Performer as a JSON line does.

A JSON line (python-json-logger) carries `time` (UTC, milliseconds), `level`, `logger`, `msg`, the
`extra=` fields and `error` with the traceback of a logged exception; the executor's logs
(`executor/hourglass_executor/logs.py`) configure the same library the same way."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter


class JsonFormatter(_LibraryJsonFormatter):
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


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`; a traceback follows on the next lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        fields = merge_record_extra(record, {}, RESERVED_ATTRS)
        return " ".join([text, *(f"{name}={_text(value)}" for name, value in fields.items())])


def _text(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ",".join(str(v) for v in value)
    return str(value)


def setup(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # ansible-runner logs every event at INFO (its http event plugin, used by ansible-operator, says
    # "HTTP Plugin Skipped" for each), which would drown the reconcile log.
    for noisy in ("urllib3", "kubernetes", "ansible-runner"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
