"""A process a test starts (operator, ansible-operator, executor) with its output in a log file
that failure reports include; stopped with SIGTERM (then SIGKILL) or killed."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


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

    def logs(self, tail: int = 120) -> str:
        return "\n".join(self.log_lines()[-tail:])

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
