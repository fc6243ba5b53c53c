"""`hourglass-operator run` against the real API server: an identity without the operator's
permissions stops it with one line naming each missing verb and resource; without --kubeconfig
outside a pod it uses ~/.kube/config, as kubectl does. (A kind that is not served: see
test_discovery_served_kinds.py; the checks that need no API server: tests/unit.)"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from tests.support.cluster import Cluster
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.process import LoggedProcess
from tests.support.rbac import InstalledRbac, service_account_kubeconfig


def operator(tmp_path: Path, namespace: str, *args: str, home: Path) -> LoggedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(home)
    command = [
        sys.executable, "-m", "hourglass_operator", "run", "--namespaces", namespace,
        "--health-probe-bind-address", f"127.0.0.1:{free_port()}", "--metrics-bind-address", "0",
        "--runner-dir", str(tmp_path / "runner"), *args,
    ]  # fmt: skip
    return LoggedProcess(command, tmp_path / "operator.log", cwd=REPO, env=env)


def test_an_identity_without_permissions_is_one_line_naming_what_is_missing(
    cluster: Cluster, core, namespace, performer_crd, tmp_path
):
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    kubeconfig = service_account_kubeconfig(
        cluster, InstalledRbac(namespace, "nobody", []), tmp_path / "nobody.kubeconfig"
    )
    process = operator(tmp_path, namespace, "--kubeconfig", str(kubeconfig), home=tmp_path)
    assert process.process.wait(120) == 1
    lines = [json.loads(line) for line in process.log_lines()]
    assert "Traceback" not in "\n".join(process.log_lines())
    [error] = [line["msg"] for line in lines if line["level"] == "error"]
    assert error.startswith(
        f"cannot start: no permission to list performers.hourglass.eigenlayer.io in namespace {namespace}; "
        f"watch performers.hourglass.eigenlayer.io in namespace {namespace}; "
    )
    for missing in ("patch performers/status.hourglass.eigenlayer.io", "create pods", "create events"):
        assert f"{missing} in namespace {namespace}" in error


def test_without_a_kubeconfig_outside_a_pod_it_uses_the_home_kubeconfig(
    cluster: Cluster, namespace, performer_crd, tmp_path
):
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in admin["clusters"]:  # make relative file paths absolute: the copy lives elsewhere
        server = entry["cluster"]
        if "certificate-authority" in server:
            server["certificate-authority"] = str(cluster.kubeconfig.parent / server["certificate-authority"])
    for entry in admin["users"]:
        user = entry["user"]
        for key in ("client-certificate", "client-key"):
            if key in user:
                user[key] = str(cluster.kubeconfig.parent / user[key])
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(yaml.safe_dump(admin))
    process = operator(tmp_path, namespace, home=tmp_path)
    try:
        process.wait_until(
            lambda: any('"started"' in line for line in process.log_lines()), "the operator to start", 120
        )
    finally:
        assert process.stop() == 0
