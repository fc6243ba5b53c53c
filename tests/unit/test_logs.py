"""The operator's and the executor's log lines: both configure python-json-logger the same way, so a
record gives the same JSON line in both (`time`, `level`, `logger`, `msg`, the `extra=` fields,
`error`); the executor's text lines append the `extra=` fields."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
from hourglass_executor import logs as executor_logs

from hourglass_operator import logs as operator_logs

pytestmark = pytest.mark.unit


def record(with_error: bool = False) -> logging.LogRecord:
    made = logging.LogRecord("hourglass.x", logging.WARNING, __file__, 1, "task %s refused", ("t1",), None)
    made.task_id = "0x" + "ab" * 32
    made.keys = ["avs/p1", "avs/p2"]
    if with_error:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            made.exc_info = sys.exc_info()
    return made


def test_both_packages_write_the_same_json_line():
    entry = record()
    operator_line = json.loads(operator_logs.JsonFormatter().format(entry))
    executor_line = json.loads(executor_logs.JsonLinesFormatter().format(entry))
    assert operator_line == executor_line
    assert list(executor_line) == ["time", "level", "logger", "msg", "task_id", "keys"]
    assert executor_line["level"] == "warning" and executor_line["logger"] == "hourglass.x"
    assert executor_line["msg"] == "task t1 refused" and executor_line["keys"] == ["avs/p1", "avs/p2"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", executor_line["time"])


def test_a_logged_exception_is_the_error_field_with_its_traceback():
    for formatter in (operator_logs.JsonFormatter(), executor_logs.JsonLinesFormatter()):
        line = json.loads(formatter.format(record(with_error=True)))
        assert line["error"].startswith("Traceback (most recent call last):")
        assert line["error"].endswith("RuntimeError: boom")
        assert "exc_info" not in line


def test_values_json_cannot_encode_are_written_as_text():
    entry = record()
    entry.signers = {"ECDSA": object}
    line = json.loads(executor_logs.JsonLinesFormatter().format(entry))
    assert line["signers"] == {"ECDSA": "<class 'object'>"}


def test_executor_text_lines_append_the_extra_fields():
    line = executor_logs._TextFormatter().format(record())
    assert re.fullmatch(
        r"\S+ \S+ WARNING hourglass\.x: task t1 refused task_id=0x(ab){32} keys=\['avs/p1', 'avs/p2'\]", line
    )


def test_operator_text_lines_name_the_performer_like_json_lines():
    entry = record()
    entry.key = "avs/p1"
    line = operator_logs.TextFormatter().format(entry)
    assert re.fullmatch(
        r"\S+ \S+ WARNING hourglass\.x: task t1 refused task_id=0x(ab){32} keys=avs/p1,avs/p2 key=avs/p1",
        line,
    )
    with_error = operator_logs.TextFormatter().format(record(with_error=True))
    assert with_error.splitlines()[0].endswith("keys=avs/p1,avs/p2")
    assert with_error.endswith("RuntimeError: boom")
