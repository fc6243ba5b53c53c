"""Connects the tests to a real Kubernetes API server.

By default that is the local control plane of hack/testenv/testenv.sh (started when it is not
running, and stopped again at the end of the session if this session started it). Set
HOURGLASS_TEST_KUBECONFIG to run the same tests against any existing cluster instead.

    HOURGLASS_TEST_KUBECONFIG   kubeconfig of an existing cluster; the local control plane is not used
    HOURGLASS_TEST_KUBECTL      kubectl binary to use (default: the one built with the control plane,
                                else kubectl on PATH)
    HOURGLASS_TEST_KEEP_CLUSTER keep a local control plane this session started running afterwards
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes

from tests.support.paths import TESTENV


def _testenv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TESTENV), *args], capture_output=True, text=True)


@dataclass
class Cluster:
    """A reachable cluster: its kubeconfig, a kubectl and a Python API client."""

    kubeconfig: Path
    kubectl_bin: str
    local: bool
    started_here: bool = False
    api: kubernetes.client.ApiClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.api = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        result = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result.stdout + (result.stderr if not check else "")

    def component_logs(self, tail: int = 40) -> str:
        """The last lines of each control-plane component's log (local control plane only)."""
        if not self.local:
            return ""
        logs_dir = Path(_testenv("logs").stdout.strip())
        parts = []
        for log in sorted(logs_dir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"==> {log.name} (last {len(lines)} lines) <==\n" + "\n".join(lines))
        return "\n".join(parts)

    def close(self) -> None:
        self.api.close()
        if self.started_here and not os.environ.get("HOURGLASS_TEST_KEEP_CLUSTER"):
            _testenv("down")


def _kubectl_for(local_bin_dir: str | None) -> str:
    if os.environ.get("HOURGLASS_TEST_KUBECTL"):
        return os.environ["HOURGLASS_TEST_KUBECTL"]
    if local_bin_dir and (Path(local_bin_dir) / "kubectl").exists():
        return str(Path(local_bin_dir) / "kubectl")
    found = shutil.which("kubectl")
    if not found:
        raise RuntimeError("no kubectl: set HOURGLASS_TEST_KUBECTL or put kubectl on PATH")
    return found


def kubectl() -> str:
    """The kubectl tests use: HOURGLASS_TEST_KUBECTL, else the one built with the local control
    plane, else the one on PATH."""
    return _kubectl_for(_testenv("bin").stdout.strip() or None)


def connect() -> Cluster:
    """The cluster named by HOURGLASS_TEST_KUBECONFIG, else the local control plane (started if needed)."""
    existing = os.environ.get("HOURGLASS_TEST_KUBECONFIG")
    bin_dir = _testenv("bin").stdout.strip() or None
    if existing:
        return Cluster(Path(existing), _kubectl_for(bin_dir), local=False)
    already_running = _testenv("status").returncode == 0
    if not already_running:
        up = _testenv("up")
        if up.returncode != 0:
            raise RuntimeError(f"the local control plane did not start:\n{up.stderr}")
    kubeconfig = Path(_testenv("kubeconfig").stdout.strip())
    return Cluster(kubeconfig, _kubectl_for(bin_dir), local=True, started_here=not already_running)
