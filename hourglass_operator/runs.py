"""What one batch run reports, and the interface through which the controller runs batches.

The controller depends on `BatchRunner` only, so that unit tests drive it with a fake; the real
one is `runner.AnsibleBatchRunner`. A run's outcome is read from two places: its events (did it
fail, in which task, and how many module calls it made) and the per-CR lines the status module
appended to the results file (`read_results`), which are also handed to the controller one by one
while the run goes on (`ResultsTail`), so that it can settle each CR as soon as its status is written.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

PRESENT, ABSENT = "present", "absent"  # the states a batch is run in


@dataclass
class RunResult:
    ok: bool
    per_cr: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ns/name" -> status module entry
    failure: str | None = None  # "task: message" when the run failed
    module_calls: int = 0
    duration: float = 0.0
    reconcile_id: str = ""


# Called with a CR's key and its entry as soon as the run has reported it.
OnResult = Callable[[str, dict[str, Any]], None]


class BatchRunner(Protocol):
    def run(
        self,
        extravars: dict[str, Any],
        *,
        role: Path | None,
        playbook: Path | None,
        cancel: threading.Event,
        reconcile_id: str | None = None,
        on_result: OnResult | None = None,
    ) -> RunResult:
        """Runs the role or playbook once with `extravars` (the whole batch); returns early when
        `cancel` is set. Each per-CR entry is also handed to `on_result` (from another thread) once
        the run has written it, before the run ends."""
        ...

    def work_waiting(self, waiting: bool) -> None:
        """Tells the runs going on (and those to come) whether other work waits for a run: while it
        does, a run stops waiting for the objects it deletes and leaves the rest to the runs their
        deletions trigger."""
        ...


def summarize_events(status: str, rc: int | None, events: Iterable[dict[str, Any]]) -> RunResult:
    """The outcome of a run from ansible-runner's final status and events: ok, the failing task and
    its message (the last failure not ignored), and the number of task results (module calls)."""
    result = RunResult(ok=status == "successful")
    for event in events:
        data = event.get("event_data") or {}
        kind = event.get("event")
        if kind in ("runner_on_ok", "runner_on_failed"):
            result.module_calls += 1
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            message = (data.get("res") or {}).get("msg") or "failed"
            result.failure = f"{data.get('task', '?')}: {message}"
    if not result.ok and not result.failure:
        result.failure = f"ansible-runner ended {status} (rc {rc})"
    return result


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The per-CR entries the status module appended to `path` ("ns/name" -> entry; a later line
    wins). A line cut short by a module that died while writing is skipped."""
    try:
        return dict(_entries(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def _entries(text: str) -> Iterable[tuple[str, dict[str, Any]]]:
    # Lines end at "\n" only: an entry may hold U+2028, U+0085 and the like unescaped (an admission
    # webhook's message quoting an image name), which str.splitlines() would also split at.
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            yield f"{entry['namespace']}/{entry['name']}", entry
        except (ValueError, KeyError, TypeError):
            log.warning("skipping an unreadable line of a run's results")


class ResultsTail:
    """Follows a run's results file while the run goes on and hands each complete line's entry to
    `on_result` (once per CR: the status module writes one line per CR and run); leaving the `with`
    block reads what is left."""

    def __init__(self, path: Path, on_result: OnResult, interval: float = 0.05) -> None:
        self.path, self.on_result, self.interval = path, on_result, interval
        self._offset = 0
        self._reported: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="results-tail", daemon=True)

    def __enter__(self) -> ResultsTail:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next read
        self._offset += len(complete)
        for key, entry in _entries(complete.decode("utf-8", errors="replace")):
            if key not in self._reported:
                self._reported.add(key)
                try:
                    self.on_result(key, entry)
                except Exception:
                    log.exception("handling the result of %s failed", key)
