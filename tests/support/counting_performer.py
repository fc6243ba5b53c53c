"""An echo performer process that records every task it executes, so that a test can count
executions across executor crashes and restarts (the performer outlives the executor, as a pod does).

    python -m tests.support.counting_performer --port N --record FILE

It serves `hourglass_executor.examples.echo_performer`'s worker and appends one line per event to
FILE, written through at once: `start <task id>` when a task starts, `end <task id>` when it
finished. `executions(FILE)` reads them back.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from hourglass_executor.examples.echo_performer import EchoWorker
from hourglass_executor.sdk import run


class CountingWorker(EchoWorker):
    def __init__(self, record: Path) -> None:
        self._record = record.open("a", buffering=1)  # line-buffered: each line reaches the file

    async def handle_task(self, task_id: bytes, payload: bytes) -> bytes:
        self._record.write(f"start {task_id.decode()}\n")
        result = await super().handle_task(task_id, payload)
        self._record.write(f"end {task_id.decode()}\n")
        return result


def executions(record: Path) -> tuple[list[str], list[str]]:
    """(task ids started, task ids finished), in order, as recorded in `record`."""
    started: list[str] = []
    finished: list[str] = []
    if record.exists():
        for line in record.read_text().splitlines():
            event, _, task_id = line.partition(" ")
            (started if event == "start" else finished).append(task_id)
    return started, finished


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An echo performer that records its executions")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(CountingWorker(args.record), args.port, args.host)


if __name__ == "__main__":
    main()
