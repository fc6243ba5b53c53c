"""Cancelling one run kills that run's processes only: the operator's other runs going on (other
batches, with --max-concurrent-reconciles above 1) and its warm Ansible server are children of the
same process, and must go on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hourglass_operator.runner import cancelled

pytestmark = pytest.mark.unit


def _run_process(data_dir: Path) -> subprocess.Popen:
    """A child of this process started as ansible-runner starts a run's command (`-e @<extra vars>`)."""
    extravars = "@" + os.path.join(os.path.abspath(data_dir), "env/extravars")
    echo = "import sys\nfor line in sys.stdin:\n    print(line.strip() + '!', flush=True)\n"
    return subprocess.Popen([sys.executable, "-c", echo, "-e", extravars],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip


def _answers(process: subprocess.Popen) -> bool:
    """Whether the process still answers (one killed reads as end of file)."""
    try:
        process.stdin.write("ping\n")
        process.stdin.flush()
    except (BrokenPipeError, ValueError):
        return False
    return process.stdout.readline() == "ping!\n"


def test_cancelling_a_run_kills_its_process_and_no_other_run(tmp_path: Path):
    cancel = threading.Event()
    mine, other = _run_process(tmp_path / "runs" / "r1"), _run_process(tmp_path / "runs" / "r2")
    try:
        callback = cancelled(cancel, tmp_path / "runs" / "r1")
        assert callback() is False and _answers(mine)  # not cancelled yet
        cancel.set()
        assert callback() is True
        assert mine.wait(10) == -9
        assert _answers(other), "the other run was killed too"
    finally:
        for process in (mine, other):
            process.kill()
            process.wait(10)
            process.stdin.close()
            process.stdout.close()
