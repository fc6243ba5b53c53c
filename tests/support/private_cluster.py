"""A local control plane of a test's own (hack/testenv/testenv.sh under another cluster name), for
tests that stop its components: the shared one keeps serving the other tests meanwhile.

It is started with its supervisor (which restarts components that exit), and deleted at the end.
Components are killed by the pid kwokctl records; `hold` keeps one down until `release`, and the
supervisor's log says what exited and what it started again, which is what tests wait for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import kubernetes
import urllib3

from tests.support.paths import TESTENV
from tests.support.waiting import wait_for

START_TIMEOUT = 300


class PrivateControlPlane:
    def __init__(self, prefix: str = "hourglass-private") -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.env = {**os.environ, "HOURGLASS_TESTENV_NAME": self.name}
        up = self.testenv("up", timeout=START_TIMEOUT)
        if up.returncode != 0:
            self.down()
            raise RuntimeError(f"control plane {self.name} did not start:\n{up.stderr}")
        self.kubeconfig = Path(up.stdout.strip().splitlines()[-1])
        self.dir = self.kubeconfig.parent
        self.api = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))

    def testenv(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(TESTENV), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def down(self) -> None:
        self.testenv("down", timeout=120)

    # --- components ----------------------------------------------------------------------------

    def pid(self, component: str) -> int:
        return int((self.dir / "pids" / f"{component}.pid").read_text().strip())

    def kill(self, component: str) -> int:
        """SIGKILL the component (a crash: no graceful shutdown); returns its pid."""
        pid = self.pid(component)
        os.kill(pid, signal.SIGKILL)
        return pid

    def hold(self, component: str) -> None:
        self.testenv("hold", component, timeout=10).check_returncode()

    def release(self, component: str) -> None:
        self.testenv("release", component, timeout=10).check_returncode()

    def supervisor_log(self) -> list[str]:
        return (self.dir / "logs" / "supervisor.log").read_text(errors="replace").splitlines()

    def wait_supervisor(self, text: str, *, after: int = 0, timeout: float = 90) -> str:
        """Waits for a supervisor log line (after the first `after` lines) containing `text`."""

        def found() -> str | None:
            return next((line for line in self.supervisor_log()[after:] if text in line), None)

        return wait_for(found, timeout=timeout, interval=0.1, what=f"supervisor log line '{text}'")

    def ready(self) -> bool:
        """Whether the API server answers /readyz with 200."""
        try:
            response = self.api.call_api(*self.api.param_serialize(
                "GET", "/readyz", auth_settings=["BearerToken"]), _request_timeout=2)  # fmt: skip
            response.read()
            return response.status == 200
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError):
            return False

    def wait_ready(self, timeout: float = 120) -> float:
        """Waits until /readyz answers 200; returns the monotonic time it did."""
        wait_for(self.ready, timeout=timeout, interval=0.05, what=f"{self.name}: /readyz to answer 200")
        return time.monotonic()

    def component_logs(self, tail: int = 30) -> str:
        parts = []
        for log in sorted((self.dir / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"==> {log.name} <==\n" + "\n".join(lines))
        return "\n".join(parts)
