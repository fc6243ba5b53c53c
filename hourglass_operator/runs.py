"""What one batch run reports, and the interface through which the controller runs batches.

The controller depends on `BatchRunner` only, so that unit tests drive it with a fake; the real
one is `runner.AnsibleBatchRunner`. A run's outcome is read from two places: its events (did it
fail, in which task, and how many module calls it made) and the per-CR lines the status module
appended to the results file (`read_results`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
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


class BatchRunner(Protocol):
    def run(
        self,
        extravars: dict[str, Any],
        *,
        role: Path | None,
        playbook: Path | None,
        cancel: threading.Event,
        reconcile_id: str | None = None,
    ) -> RunResult:
        """Runs the role or playbook once with `extravars` (the whole batch); returns early when
        `cancel` is set."""
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
    per_cr: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return per_cr
    for line in lines:
        try:
            entry = json.loads(line)
            per_cr[f"{entry['namespace']}/{entry['name']}"] = entry
        except (ValueError, KeyError, TypeError):
            log.warning("skipping an unreadable line of %s", path.name)
    return per_cr
