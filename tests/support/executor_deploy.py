"""Runs playbooks/deploy-executor.yml for tests: variables in one file and the private keys in
another (mode 0600, as a user keeps them), a configuration that serves the test aggregator's AVS
(tests.support.aggregator), the rendered objects read back from executor_render_to, and the
PLAY RECAP counters."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.aggregator import AVS, CHAIN_ID, EXECUTOR, chain_document
from tests.support.playbooks import run_playbook

PLAYBOOK = "playbooks/deploy-executor.yml"
NAME = "hourglass-executor"


def new_key() -> str:
    """A fresh private key that appears nowhere else, so that a leak is unambiguous."""
    return "0x" + secrets.token_hex(32)


def executor_vars(namespace: str, *, image: bool = False, **overrides: Any) -> dict[str, Any]:
    """Variables for an executor in `namespace` serving AVS (with the test image when `image`,
    else no performer is deployed at start-up) with the static chain of the test aggregator."""
    performer: dict[str, Any] = {"avsAddress": AVS}
    if image:
        performer["image"] = {"repository": "ghcr.io/example/echo-performer", "tag": "v1"}
    return {
        "executor_namespace": namespace,
        "executor_operator_address": EXECUTOR.address,
        "executor_l1_rpc_url": "http://127.0.0.1:8545",
        "executor_l1_chain_id": CHAIN_ID,
        "executor_avs_performers": [performer],
        "executor_chain": chain_document(),
        **overrides,
    }


def deploy(
    work_dir: Path,
    variables: dict[str, Any],
    keys: dict[str, str],
    *args: str,
    kubeconfig: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs the playbook with `variables` and `keys` (each from a file, `-e @file`) and `args`."""
    work_dir.mkdir(parents=True, exist_ok=True)
    vars_file, keys_file = work_dir / "executor-vars.json", work_dir / "executor-keys.json"
    vars_file.write_text(json.dumps(variables))
    keys_file.touch(mode=0o600)
    keys_file.write_text(json.dumps(keys))
    return run_playbook(PLAYBOOK, "-e", f"@{vars_file}", "-e", f"@{keys_file}", *args, kubeconfig=kubeconfig)


def rendered_objects(path: Path) -> list[dict[str, Any]]:
    """The objects of an executor_render_to file, in apply order."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
