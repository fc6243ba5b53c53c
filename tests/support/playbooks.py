"""Running the repository's playbooks with this venv's `ansible-playbook`, from the checkout, as a
user would, optionally against a cluster (K8S_AUTH_KUBECONFIG)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def run_playbook(
    playbook: str | Path, *args: str, kubeconfig: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook <playbook> <args>` (path relative to the checkout), the modules run by this
    venv's Python; `kubeconfig` becomes K8S_AUTH_KUBECONFIG."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    if kubeconfig:
        env["K8S_AUTH_KUBECONFIG"] = str(kubeconfig)
    command = [ANSIBLE_PLAYBOOK, str(playbook), *args, "-e", f"ansible_python_interpreter={sys.executable}"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def recap(output: str) -> dict[str, int]:
    """The counters of localhost's PLAY RECAP line (ok, changed, failed, ...)."""
    line = next(line for line in output.splitlines() if line.startswith("localhost") and "ok=" in line)
    return {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", line)}
