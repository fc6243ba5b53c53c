"""The processes of a run (hourglass_operator/runner.py and warm_ansible.py), with real ansible-playbook
runs: a cancelled run (the operator lost its lease) and a warm run that loses its warm process are
killed with every process they started, Ansible's workers (in sessions of their own) and the task's
module included, so that nothing of them writes once the run returned."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from hourglass_operator import runner
from hourglass_operator.runs import RunResult
from tests.support.paths import REPO
from tests.support.waiting import wait_for

pytestmark = pytest.mark.unit


def _stat(pid: int) -> tuple[str, int] | None:
    """The state and parent of a process, if it is there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _commands(tag: str) -> list[int]:
    """The processes whose command line ends with `tag`."""
    return [pid for pid in _pids() if _command_line(pid).endswith(tag)]


def _children(parent: int) -> list[int]:
    return [pid for pid in _pids() if (_stat(pid) or ("", 0))[1] == parent]


def _ancestry(pid: int, above: set[int]) -> list[int]:
    """`pid` and its ancestors up to (not including) one of `above`: the processes of the run that
    lead to the task's command."""
    chain = []
    while pid not in above and pid > 1:
        chain.append(pid)
        stat = _stat(pid)
        if stat is None:
            break
        pid = stat[1]
    return chain


class SleepingRun:
    """A run whose task writes a file and then sleeps (a module making the writes of a batch), in a
    thread; `processes` are the run's processes from that command up to the runner or warm server."""

    def __init__(self, tmp_path: Path, batch_runner: runner.AnsibleBatchRunner) -> None:
        self.started = tmp_path / "started"
        self.tag = f"sleep 600.{uuid.uuid4().int % 10**6}"
        playbook = tmp_path / "sleep.yml"
        playbook.write_text(
            "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
            f"    - ansible.builtin.shell: 'touch {self.started} && {self.tag}; touch {tmp_path}/written'\n"
        )
        self.cancel = threading.Event()
        self.result: RunResult | None = None
        self.returned = 0.0
        self.processes: list[int] = []

        def run() -> None:
            self.result = batch_runner.run({}, role=None, playbook=playbook, cancel=self.cancel)
            self.returned = time.monotonic()

        self.thread = threading.Thread(target=run, name="sleeping-run")

    def start(self, above: set[int]) -> None:
        """Starts the run and waits until its task's command sleeps."""
        self.thread.start()
        # A run that ended first never starts its task: say why at once instead of after the wait.
        wait_for(
            lambda: self.started.exists() or not self.thread.is_alive(), what="the task to start", timeout=120
        )
        if not self.started.exists():
            self.thread.join(5)
            raise AssertionError(f"the run ended before its task started: {self.result}")
        [command] = wait_for(lambda: _commands(self.tag), what="the task's command")
        self.processes = _ancestry(command, above | {os.getpid()})

    def finish(self) -> RunResult:
        self.thread.join(60)
        assert not self.thread.is_alive() and self.result is not None
        return self.result

    def kill_leftovers(self) -> None:
        """Whatever the run left (only when the test failed)."""
        for pid in [*self.processes, *_commands(self.tag)]:
            if _running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_a_cancelled_run_returns_at_once_and_every_process_it_started_is_killed(tmp_path: Path, warm: bool):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=warm)
    run = SleepingRun(tmp_path, batch_runner)
    try:
        batch_runner.warm_up()
        server = batch_runner._warm_server
        run.start({server.pid} if server else set())
        # The task's shell and module, the worker that runs it (detached), ansible-playbook (and the warm
        # run's child).
        assert len(run.processes) >= 4, run.processes
        cancelled = time.monotonic()
        run.cancel.set()
        result = run.finish()
        assert result.failure == "ansible-runner ended canceled (rc 254)"
        # Stopped before any of them was killed, they end at once (no sleep to let them write).
        wait_for(lambda: not any(map(_running, run.processes)), what="the run's processes to end", timeout=10)
        assert not (tmp_path / "written").exists()
        assert run.returned - cancelled < 2  # ansible-runner looks at the event every 0.1 s, not 5 s
    finally:
        run.kill_leftovers()
        batch_runner.close()


def _kill_server(batch_runner: runner.AnsibleBatchRunner) -> None:
    assert batch_runner._warm_server is not None
    batch_runner._warm_server.kill()


def _kill_the_runs_child(batch_runner: runner.AnsibleBatchRunner) -> None:
    """As the OOM killer may: the warm server's child for the run."""
    assert batch_runner._warm_server is not None
    [child] = _children(batch_runner._warm_server.pid)
    os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize(
    "end", [_kill_server, runner.AnsibleBatchRunner.close, _kill_the_runs_child],
    ids=["server-killed", "server-stopped", "child-killed"],
)  # fmt: skip
def test_a_warm_run_that_loses_its_warm_process_is_killed_with_every_process_it_started(
    tmp_path: Path, end: Callable[[runner.AnsibleBatchRunner], None]
):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=True)
    run = SleepingRun(tmp_path, batch_runner)
    try:
        batch_runner.warm_up()
        server = batch_runner._warm_server
        assert server is not None
        run.start({server.pid})
        end(batch_runner)
        result = run.finish()
        assert not result.ok
        wait_for(lambda: not any(map(_running, run.processes)), what="the run's processes to end", timeout=10)
        assert not (tmp_path / "written").exists()
        if end is not runner.AnsibleBatchRunner.close:  # the next run goes on as before
            next_run = batch_runner.run({}, role=None, playbook=batch_runner.work_dir / "warm-up.yml",
                                        cancel=threading.Event())  # fmt: skip
            assert next_run.ok, next_run.failure
    finally:
        run.kill_leftovers()
        batch_runner.close()
