"""A process a test starts (operator, ansible-operator, executor) with its output in a log file
that failure reports include; stopped with SIGTERM (then SIGKILL), killed, or crashed (killed with
every process it started, as when its container is killed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.waiting import wait_for


class LoggedProcess:
    def __init__(
        self, command: list[str], log_path: Path, *, cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd, env=env or dict(os.environ)
        )

    def log_lines(self) -> list[str]:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace").splitlines()

    def log_entries(self) -> list[dict]:
        """The JSON lines of the log (--log-format json), decoded; any other line left out."""
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]

    def logs(self, tail: int = 120) -> str:
        return "\n".join(self.log_lines()[-tail:])

    def wait_until(
        self, check: Callable[[], object], what: str, timeout: float, interval: float = 0.1
    ) -> None:
        """Polls `check` until it is truthy (tests.support.waiting.wait_for); fails at once when the
        process exits meanwhile, and with its log when the time is up."""

        def alive_and_checked() -> object:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.log_path.name}: exited with {self.process.returncode}:\n{self.logs()}"
                )
            return check()

        try:
            wait_for(alive_and_checked, timeout=timeout, interval=interval, what=what)
        except TimeoutError as error:
            raise TimeoutError(f"{error}:\n{self.logs()}") from None

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log.close()

    def crash(self) -> None:
        """SIGKILL for the process and all its descendants (for the operator: its ansible runs and
        their module processes, which run in sessions of their own and would otherwise carry on).
        They are frozen first, so that none of them starts another process or call meanwhile."""
        tree = descendants(self.process.pid)
        for pid in [self.process.pid, *tree]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        for pid in [*descendants(self.process.pid), *tree]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.kill()


def descendants(pid: int) -> list[int]:
    """The ids of every process below `pid` (from /proc), parents before children."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found
