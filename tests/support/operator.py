"""Runs the operator (`hourglass-operator run`) as a process for a test, watching one namespace."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import yaml

from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.process import LoggedProcess


class OperatorProcess(LoggedProcess):
    def __init__(self, kubeconfig: Path, namespace: str, work_dir: Path, *extra_args: str) -> None:
        self.health_port, self.metrics_port = free_port(), free_port()
        command = [
            sys.executable, "-m", "hourglass_operator", "run",
            "--kubeconfig", str(kubeconfig),
            "--namespaces", namespace,
            "--watches-file", str(REPO / "watches.yaml"),
            "--health-probe-bind-address", f"127.0.0.1:{self.health_port}",
            "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
            "--runner-dir", str(work_dir / f"runner-{self.health_port}"),
            *extra_args,
        ]  # fmt: skip
        super().__init__(command, work_dir / f"operator-{self.health_port}.log", cwd=REPO)

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.health_port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def metric(self, sample: str) -> float:
        """The value of one sample of /metrics (`name` or `name{labels}` as exposed), 0 when absent."""
        for line in self.get("/metrics", port=self.metrics_port)[1].splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[1])
        return 0.0

    def queue_idle(self) -> bool:
        """Nothing queued, nothing being reconciled or synced, and no ansible run going on (a run hands
        its keys back as soon as their status is written, before it ends and is counted)."""
        in_progress = self.metric('workqueue_longest_running_processor_seconds{name="performers"}')
        return (
            self.metric('workqueue_depth{name="performers"}') == 0
            and in_progress == 0
            and self.metric("hourglass_ansible_runs_in_progress") == 0
        )

    def wait_ready(self, timeout: float = 30) -> None:
        self.wait_until(lambda: self.get("/readyz")[0] == 200, "the operator to be ready", timeout)


def operator_with_role_vars(operators, tmp_path: Path, **role_vars: object) -> OperatorProcess:
    """A ready operator whose runs use this checkout's performer role with `role_vars` (watches.yaml
    `vars`)."""
    watches = yaml.safe_load((REPO / "watches.yaml").read_text())
    watches[0]["role"] = watches[0]["finalizer"]["role"] = str(REPO / "roles" / "performer")
    watches[0]["vars"] = role_vars
    (tmp_path / "watches.yaml").write_text(yaml.safe_dump(watches))
    operator = operators("--watches-file", str(tmp_path / "watches.yaml"))
    operator.wait_ready()
    return operator
