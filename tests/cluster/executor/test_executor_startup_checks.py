"""The executor's start against the real API server: `validate` accepts a configuration exactly when
`run` gets past its start-up checks, and both refuse the same things with the same one line.

- Every shipped example configuration (executor/examples/, each file with an `operator` key) is
  validated and run as shipped, with only what belongs to the machine replaced (ports, the store's
  file, the namespace: the test's); the Kubernetes credentials come from $KUBECONFIG, as kubectl
  finds them. `validate` accepts it and `run` passes its checks (log line `listening`), serves
  /metrics, and stops cleanly on SIGTERM.
- A Performer version the API server does not serve (the CRD not installed at that version) and a
  ServiceAccount allowed only `get` and `list` on Performers: `validate` prints, and `run` logs as
  its one `cannot start` line, the same message (no traceback, every stderr line of `run` is JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.support.cluster import Cluster
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.process import LoggedProcess
from tests.support.rbac import InstalledRbac, service_account_kubeconfig

pytestmark = pytest.mark.cluster

EXAMPLES = sorted(
    path
    for path in (REPO / "executor" / "examples").glob("*.yaml")
    if "operator" in (yaml.safe_load(path.read_text()) or {})
)


def machine_specific(example: Path, tmp_path: Path, namespace: str) -> dict[str, Any]:
    """The example with its ports, store file and namespace replaced by this test's."""
    data = yaml.safe_load(example.read_text())
    for key in ("grpcPort", "managementServerGrpcPort", "metricsPort"):
        if data.get(key):
            data[key] = free_port()
    if (data.get("storage") or {}).get("type") == "sqlite":
        data["storage"]["sqlite"]["path"] = str(tmp_path / "data" / "executor.sqlite3")
    if data.get("kubernetes"):
        data["kubernetes"]["namespace"] = namespace
    return data


def environment(tmp_path: Path, kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    return {
        **env,
        "HOME": str(tmp_path / "home"),  # no ~/.kube/config: the credentials come from $KUBECONFIG
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def command(verb: str, config: Path) -> list[str]:
    return [sys.executable, "-m", "hourglass_executor", verb, "--config", str(config)]


def write(tmp_path: Path, data: dict[str, Any], name: str = "executor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_a_shipped_example_that_validate_accepts_runs(
    example, cluster: Cluster, namespace: str, performer_crd: dict, tmp_path: Path
):
    data = machine_specific(example, tmp_path, namespace)
    config = write(tmp_path, data)
    env = environment(tmp_path, cluster.kubeconfig)

    checked = subprocess.run(
        command("validate", config), env=env, capture_output=True, text=True, timeout=120
    )
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    assert checked.stdout.startswith(f"{config}: valid; ")
    assert not (tmp_path / "data").exists()  # validate writes nothing

    process = LoggedProcess(command("run", config), tmp_path / "run.log", cwd=REPO, env=env)
    try:
        process.wait_until(
            lambda: any('"msg": "listening"' in line for line in process.log_lines()),
            "the executor to pass its start-up checks and listen",
            timeout=120,
        )
        if data.get("metricsPort"):
            url = f"http://127.0.0.1:{data['metricsPort']}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert b'hourglass_build_info{component="executor"' in response.read()
    finally:
        code = process.stop()
    entries = [json.loads(line) for line in process.log_lines()]  # every line is JSON: no traceback
    assert code == 0, process.logs()
    assert not [e for e in entries if e["msg"] == "cannot start"]
    assert entries[0]["msg"] == "starting" and entries[0]["version"]


def refused_alike(config: Path, env: dict[str, str]) -> str:
    """The one problem `validate` prints, after checking that `run` stops with the same line."""
    checked = subprocess.run(
        command("validate", config), env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 2, checked.stdout + checked.stderr
    header, *problems = checked.stderr.splitlines()
    assert header == f"{config}: invalid executor configuration:" and len(problems) == 1, checked.stderr
    ran = subprocess.run(command("run", config), env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1, ran.stderr
    entries = [json.loads(line) for line in ran.stderr.splitlines()]  # every line is JSON: no traceback
    assert [e["reason"] for e in entries if e["msg"] == "cannot start"] == problems
    return problems[0]


def test_a_performer_version_the_api_server_does_not_serve_is_refused_alike(
    cluster: Cluster, namespace: str, performer_crd: dict, tmp_path: Path
):
    data = machine_specific(REPO / "executor" / "examples" / "executor-kubernetes.yaml", tmp_path, namespace)
    data["kubernetes"]["crdVersion"] = "v9"
    problem = refused_alike(write(tmp_path, data), environment(tmp_path, cluster.kubeconfig))
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert problem == (
        f"kubernetes: the API server at {server} does not serve performers.hourglass.eigenlayer.io/v9: the "
        "Performer CRD is not installed; install it with kubectl apply --server-side -f "
        "crds/hourglass.eigenlayer.io_performers.yaml (the operator's Helm chart and kustomize install "
        "include it)"
    )


def test_a_service_account_without_every_verb_is_refused_alike_naming_the_missing_verbs(
    cluster: Cluster, namespace: str, performer_crd: dict, tmp_path: Path
):
    name = "executor-reader"
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    kubernetes.client.CoreV1Api(cluster.api).create_namespaced_service_account(
        namespace, {"metadata": {"name": name}}
    )
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["hourglass.eigenlayer.io"],
                    "resources": ["performers"],
                    "verbs": ["get", "list"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    account = InstalledRbac(namespace, name, [])
    kubeconfig = service_account_kubeconfig(cluster, account, tmp_path / "executor-kubeconfig")
    data = machine_specific(REPO / "executor" / "examples" / "executor-kubernetes.yaml", tmp_path, namespace)
    problem = refused_alike(write(tmp_path, data), environment(tmp_path, kubeconfig))
    assert problem == (
        "kubernetes: no permission to create, delete, watch performers.hourglass.eigenlayer.io in "
        f"namespace {namespace} (as {account.user}): the executor needs create, delete, get, list, watch on "
        "them; grant them with a Role and a RoleBinding in that namespace (playbooks/deploy-executor.yml "
        "creates them)"
    )
