"""An example AVS performer built with the SDK: echoes or hashes its input.

Payload: a JSON object

    {"op": "echo",      "data": "<text>"}              result: the UTF-8 bytes of data
    {"op": "keccak256", "data": "<text>"}              result: keccak256 of those bytes (32 bytes)
    {"op": "sleep",     "data": "<text>", "ms": 250}   waits ms (0..60000) milliseconds, then echoes
    {"op": "version"}                                  result: $VERSION (UTF-8), "" when unset

"data" defaults to "". An empty payload, a payload that is not such an object, an unknown op or a
bad "ms" is rejected (INVALID_ARGUMENT). "sleep" lets tests simulate slow tasks; "version" tells which
deployment of the performer answered (tests run two versions side by side).

Run: `python -m hourglass_executor.examples.echo_performer [--port N]`; the port defaults to
$GRPC_PORT, else 8080 (upstream executors set GRPC_PORT=8080). The image is built by
executor/examples/echo_performer/Dockerfile.

With $TASK_LOG set to a file path, every task the performer runs (handle_task, after validation)
appends its task id and a newline to that file: tests count how often a task ran (at most once is
the executor's promise). Off by default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from hourglass_executor.sdk import TaskRejected, Worker, run
from hourglass_executor.signing.keccak import keccak256

OPS = ("echo", "keccak256", "sleep", "version")
MAX_SLEEP_MS = 60_000


def parse_payload(payload: bytes) -> dict[str, Any]:
    """The payload as a validated request; raises TaskRejected."""
    if not payload:
        raise TaskRejected("empty payload")
    try:
        request = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TaskRejected(f"payload is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise TaskRejected("payload must be a JSON object")
    op = request.get("op")
    if op not in OPS:
        raise TaskRejected(f"op must be one of {', '.join(OPS)}")
    if not isinstance(request.get("data", ""), str):
        raise TaskRejected("data must be a string")
    if op == "sleep":
        ms = request.get("ms")
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= MAX_SLEEP_MS:
            raise TaskRejected(f"ms must be an integer from 0 to {MAX_SLEEP_MS}")
    return request


TASK_LOG_ENV = "TASK_LOG"


class EchoWorker(Worker):
    _task_log: str | None = None  # (subclasses may skip __init__)

    def __init__(self, task_log: str | None = None) -> None:
        """`task_log`: a file each run task's id is appended to (see the module docstring)."""
        self._task_log = task_log

    # Both are coroutines: validation is cheap, and a plain method would be run in a worker thread
    # (the SDK's rule for blocking code), which costs more than the validation itself.
    async def validate_task(self, task_id: bytes, payload: bytes) -> None:
        parse_payload(payload)

    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        request = parse_payload(payload)
        if self._task_log:
            # One short O_APPEND write per line: lines from concurrent tasks do not interleave.
            with open(self._task_log, "ab") as log:
                log.write(task_id + b"\n")
        data = request.get("data", "").encode()
        if request["op"] == "keccak256":
            return keccak256(data)
        if request["op"] == "version":
            return os.environ.get("VERSION", "").encode()
        if request["op"] == "sleep":
            await asyncio.sleep(request["ms"] / 1000)
        return data


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Echo/keccak256 example Hourglass performer")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRPC_PORT", "8080")))
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(EchoWorker(os.environ.get(TASK_LOG_ENV) or None), args.port, args.host)


if __name__ == "__main__":
    main()
