"""Runs the executor (`hourglass-executor run --config FILE`) as a process for cluster tests and the
benchmark: writes its configuration and static chain file, waits until its health service says
SERVING, stops it (SIGTERM) or kills it (SIGKILL), and keeps its log for failure reports."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.aggregator import AVS, chain_document, executor_identity
from tests.support.local_performers import ENV_DIR
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.process import LoggedProcess

PERFORMER_REPOSITORY = "ghcr.io/example/echo-performer"


def kubernetes_config(
    work_dir: Path, kubeconfig: Path, namespace: str, *, tag: str = "v1", **top: Any
) -> dict[str, Any]:
    """A kubernetes-mode configuration (YAML keys) serving AVS with `PERFORMER_REPOSITORY:tag`,
    performers reached through tests.support.local_performers, a static chain file, a SQLite store
    and authentication enabled. `top` adds or replaces top-level keys."""
    chain_file = work_dir / "chain.yaml"
    chain_file.write_text(yaml.safe_dump(chain_document()))
    return {
        "grpcPort": free_port(),
        "managementServerGrpcPort": free_port(),
        **executor_identity(),
        "avsPerformers": [
            {
                "avsAddress": AVS,
                "deploymentMode": "kubernetes",
                "image": {"repository": PERFORMER_REPOSITORY, "tag": tag},
                "envs": [{"name": "LOG_LEVEL", "value": "debug"}],
            }
        ],
        "kubernetes": {
            "namespace": namespace,
            "kubeConfigPath": str(kubeconfig),
            "connectionTimeout": "10s",
            "readyTimeout": "2m",
            "endpointResolver": "tests.support.local_performers:resolve",
        },
        "chain": {"type": "static", "file": str(chain_file)},
        "storage": {"type": "sqlite", "sqlite": {"path": str(work_dir / "executor.sqlite3")}},
        "authentication": {"enabled": True},
        **top,
    }


class ExecutorProcess(LoggedProcess):
    """One run of the executor with the configuration `config` (YAML keys)."""

    def __init__(
        self,
        config: dict[str, Any],
        work_dir: Path,
        performers_dir: Path,
        name: str = "executor",
        env: dict[str, str] | None = None,
    ) -> None:
        """`env` adds environment variables (e.g. a keystore password for passwordEnv)."""
        self.config = config
        self.task_port = config["grpcPort"]
        self.management_port = config.get("managementServerGrpcPort") or self.task_port
        self.config_path = work_dir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            ENV_DIR: str(performers_dir),
            **(env or {}),
        }
        super().__init__(
            [sys.executable, "-m", "hourglass_executor", "run", "--config", str(self.config_path)],
            work_dir / f"{name}-{time.strftime('%H%M%S')}-{os.getpid()}.log",
            cwd=REPO,
            env=env,
        )

    def health(self, port: int | None = None) -> int | None:
        """The health status of the task server (None when it does not answer)."""
        with grpc.insecure_channel(f"127.0.0.1:{port or self.task_port}") as channel:
            try:
                return (
                    health_pb2_grpc.HealthStub(channel)
                    .Check(health_pb2.HealthCheckRequest(), timeout=1)
                    .status
                )
            except grpc.RpcError:
                return None

    def wait_serving(self, timeout: float = 120) -> None:
        serving = health_pb2.HealthCheckResponse.SERVING
        self.wait_until(lambda: self.health() == serving, "the executor to be SERVING", timeout, interval=0.2)

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON log lines (other lines, e.g. a crash's traceback, are skipped)."""
        entries = []
        for line in self.log_lines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries
