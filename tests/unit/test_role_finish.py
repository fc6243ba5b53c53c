"""What the performer role tells ansible-operator at the end of a run (roles/performer/tasks/
finish.yml, one Performer per run): fail the run (ansible-operator retries it with its own back-off,
and keeps the finalizer of a deletion), ask to come back after a period (`requeue_after`), or
neither. The tasks file runs in ansible-playbook with the status module's result given."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.playbooks import recap, run_playbook

pytestmark = pytest.mark.unit

FINISH = REPO / "roles" / "performer" / "tasks" / "finish.yml"


def finish(tmp_path: Path, state: str, result: dict) -> tuple[bool, str | None]:
    """(whether the run failed, the requeue period asked for, if any)."""
    playbook = tmp_path / "finish.yml"
    playbook.write_text(
        "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  collections: [hourglass.operator]\n  tasks:\n"
        f"    - ansible.builtin.include_tasks: {FINISH}\n"
    )
    facts = {"performer_state": state, "performer_requeue_period": "5s",
             "performer_status_results": {"results": [result]}}  # fmt: skip
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps(facts))
    run = run_playbook(playbook, "-v", "-e", f"@{variables}", timeout=120)
    assert "ERROR!" not in run.stdout + run.stderr, run.stdout + run.stderr
    period = re.search(r'"period": "([^"]+)"', run.stdout)
    return recap(run.stdout)["failed"] > 0, period.group(1) if period else None


BASE = {"ready": False, "error": None, "stalled": False, "children_gone": True, "orphaning": False}


@pytest.mark.parametrize(
    ("state", "result", "outcome"),
    [
        ("present", {**BASE, "ready": True}, (False, None)),
        ("present", BASE, (False, "5s")),  # not ready yet: ansible-operator sees no pod changes
        ("present", {**BASE, "error": "500 boom", "retry_after": 8.0}, (False, "8.0s")),
        ("present", {**BASE, "ready": True, "error": "500 boom", "retry_after": 2.0}, (False, "2.0s")),
        ("present", {**BASE, "error": "status update failed: 500"}, (True, None)),
        ("present", {**BASE, "error": 'unknown GPU type "x"', "stalled": True}, (False, None)),
        ("absent", {**BASE, "children_gone": False}, (True, None)),  # keeps the finalizer
        ("absent", {**BASE, "error": "500 boom"}, (True, None)),
        ("absent", BASE, (False, None)),  # ansible-operator releases the finalizer
    ],
    ids=["ready", "not-ready", "failed-retry-after", "failed-while-ready", "status-not-written", "stalled",
         "children-not-gone", "deletion-failed", "deleted"],
)  # fmt: skip
def test_the_run_fails_requeues_or_ends_as_the_result_says(tmp_path, state, result, outcome):
    assert finish(tmp_path, state, result) == outcome
