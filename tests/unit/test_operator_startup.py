"""`hourglass-operator run` fails a set-up mistake with one clear log line and no traceback: a
kubeconfig that is missing or invalid (or none at all outside a pod), a port in use (naming the
flag and the address); `--version` prints the version and the version is logged at start. (The
CRD and permission checks need an API server: tests/cluster/test_operator_startup_checks.py.)"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes
import pytest
import yaml

import hourglass_operator
from hourglass_operator import cli, startup
from hourglass_operator.role_vars import with_role_vars
from hourglass_operator.startup import Permission, StartupError
from hourglass_operator.watches import load_watches
from tests.support.paths import REPO

pytestmark = pytest.mark.unit


def run_operator(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    python_path = [str(REPO), str(REPO / "executor"), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment.update({"HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(python_path)})
    environment.update(env or {})
    command = [sys.executable, "-m", "hourglass_operator", *args]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=60)


def error_lines(done: subprocess.CompletedProcess) -> list[dict]:
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["msg"] for line in lines if line["level"] == "info"] == [
        f"hourglass-operator {hourglass_operator.__version__} starting"
    ]
    return [line["msg"] for line in lines if line["level"] != "info"]


def fake_kubeconfig(path: Path, server: str = "https://127.0.0.1:1") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_version_flag_prints_the_package_version(tmp_path):
    done = run_operator(tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"hourglass-operator {hourglass_operator.__version__}"


def test_a_missing_kubeconfig_file_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    done = run_operator(tmp_path, "run", "--kubeconfig", str(missing))
    assert done.returncode == 1
    assert error_lines(done) == [f"cannot start: --kubeconfig {missing}: no such file"]
    assert "Traceback" not in done.stderr


def test_an_invalid_kubeconfig_is_one_line_naming_it(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: [\n")
    done = run_operator(tmp_path, "run", env={"KUBECONFIG": str(broken)})
    assert done.returncode == 1
    [line] = error_lines(done)
    assert line.startswith(f"cannot start: --kubeconfig {broken}: not a usable kubeconfig: ")
    assert "Traceback" not in done.stderr


def test_without_a_kubeconfig_outside_a_pod_it_says_where_it_looked(tmp_path):
    done = run_operator(tmp_path, "run")
    assert done.returncode == 1
    [line] = error_lines(done)
    assert (
        "--kubeconfig (env KUBECONFIG) is empty, this is not a pod, and ~/.kube/config does not exist" in line
    )


def test_without_a_kubeconfig_outside_a_pod_it_reads_the_home_kubeconfig(tmp_path, monkeypatch):
    (tmp_path / ".kube").mkdir()
    fake_kubeconfig(tmp_path / ".kube" / "config", server="https://127.0.0.1:7")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    client = startup.kube_client("", pool_size=1)
    assert client.configuration.host == "https://127.0.0.1:7"


@pytest.mark.parametrize("flag", ["--metrics-bind-address", "--health-probe-bind-address"])
def test_a_port_in_use_is_one_line_naming_the_flag_and_the_address(tmp_path, flag):
    kubeconfig = fake_kubeconfig(tmp_path / "kubeconfig")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        other = (
            "--health-probe-bind-address" if flag == "--metrics-bind-address" else "--metrics-bind-address"
        )
        done = run_operator(tmp_path, "run", "--kubeconfig", str(kubeconfig), flag, address, other, "0")
    assert done.returncode == 1
    assert error_lines(done) == [f"cannot start: {flag} {address}: cannot listen: Address already in use"]


@pytest.mark.parametrize(("address", "reached_at"), [
    (":{port}", ["127.0.0.1", "::1"]),  # every address of both families: IPv6-only clusters probe ::
    ("[::1]:{port}", ["::1"]),
    ("127.0.0.1:{port}", ["127.0.0.1"]),
])  # fmt: skip
def test_the_probe_and_metrics_server_listens_where_its_address_says(address: str, reached_at: list[str]):
    with socket.socket(socket.AF_INET6) as probe:  # a port free on both families
        probe.bind(("::", 0))
        port = probe.getsockname()[1]
    server = startup.serve("--health-probe-bind-address", address.format(port=port), {
        "/healthz": lambda: (200, "text/plain", b"ok\n"),
    })  # fmt: skip
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        for host in ("127.0.0.1", "::1"):
            url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
            try:
                answered = direct.open(url, timeout=5).read() == b"ok\n"
            except urllib.error.URLError:
                answered = False
            assert answered is (host in reached_at), url
    finally:
        server.shutdown()
        server.server_close()


def test_an_address_without_a_port_is_refused_naming_the_flag():
    with pytest.raises(StartupError, match=r"^--metrics-bind-address localhost: not an address"):
        startup.serve("--metrics-bind-address", "localhost", {})


def test_the_permissions_name_verb_resource_and_namespace():
    permissions = startup.required_permissions(
        "hourglass.eigenlayer.io", "performers", ["avs"], ("ops", "hg")
    )
    texts = [str(p) for p in permissions]
    assert "list performers.hourglass.eigenlayer.io in namespace avs" in texts
    assert "patch performers/status.hourglass.eigenlayer.io in namespace avs" in texts
    assert "delete pods in namespace avs" in texts
    assert "create events in namespace avs" in texts
    assert "create leases.coordination.k8s.io in namespace ops" in texts
    assert "update leases.coordination.k8s.io hg in namespace ops" in texts
    everywhere = startup.required_permissions("hourglass.eigenlayer.io", "performers", [], None)
    assert str(everywhere[0]) == "list performers.hourglass.eigenlayer.io in all namespaces"
    assert not any(p.resource == "leases" for p in everywhere)


def test_missing_permissions_are_named_in_one_error(monkeypatch):
    denied = {
        Permission("watch", "hourglass.eigenlayer.io", "performers", "avs"),
        Permission("delete", "", "pods", "avs"),
    }
    monkeypatch.setattr(startup, "_allowed", lambda api, permission: permission not in denied)
    permissions = startup.required_permissions("hourglass.eigenlayer.io", "performers", ["avs"], None)
    with pytest.raises(StartupError) as raised:
        startup.check_permissions(None, permissions)
    assert str(raised.value).startswith(
        "no permission to watch performers.hourglass.eigenlayer.io in namespace avs; "
        "delete pods in namespace avs ("
    )
    startup.check_permissions(None, [p for p in permissions if p not in denied])


def test_watching_quotas_is_optional_and_asked_in_every_watched_namespace(monkeypatch):
    quotas = startup.quota_permissions(["avs-a", "avs-b"])
    assert [str(p) for p in quotas] == [
        f"{verb} resourcequotas in namespace {ns}" for ns in ("avs-a", "avs-b") for verb in ("list", "watch")
    ]
    denied = {Permission("watch", "", "resourcequotas", "avs-b")}
    monkeypatch.setattr(startup, "_allowed", lambda api, permission: permission not in denied)
    assert startup.has_permissions(None, quotas) is False
    assert startup.has_permissions(None, startup.quota_permissions(["avs-a"])) is True

    def unanswered(api, permission):
        raise kubernetes.client.ApiException(status=500, reason="Internal Server Error")

    monkeypatch.setattr(startup, "_allowed", unanswered)
    assert startup.has_permissions(None, quotas) is False


@pytest.mark.parametrize(
    ("role_vars", "said"),
    [
        ("performer_cluster_domian: corp.example",
         "unknown variable(s) performer_cluster_domian of role hourglass.operator.performer"),
        ('{"performer_lost_pod_after_seconds": "soon"}',
         "argument 'performer_lost_pod_after_seconds' is of type str and we were unable to convert to int"),
        ("performer_state: present", "performer_state: set by the operator for each run, it cannot be given"),
        ("[performer_cluster_domain]", "must be a mapping of variable names to values"),
    ],
)  # fmt: skip
def test_role_variables_the_role_would_refuse_stop_the_start_naming_them(tmp_path, role_vars: str, said: str):
    # Given as the chart gives them (env ROLE_VARS); checked before any API server is asked.
    done = run_operator(tmp_path, "run", env={"ROLE_VARS": role_vars})
    assert done.returncode == 2
    [line] = error_lines(done)
    assert line.startswith("invalid role variables: --role-vars (ROLE_VARS)") and said in line, line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["0", "half", "150%"])
def test_a_rollout_limit_that_is_not_a_count_or_percentage_stops_the_start_naming_the_flag(tmp_path, value):
    done = run_operator(tmp_path, "run", env={"ROLLOUT_MAX_UNAVAILABLE": value})
    assert done.returncode == 2
    [line] = error_lines(done)
    assert line.startswith(f"--rollout-max-unavailable: '{value}' is not a whole number of at least 1"), line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("vars", "said"),
    [
        ({"performer_state": "absent"},
         "watches.yaml[0].vars.performer_state: set by the operator for each run, it cannot be given"),
        ({"performer_unschedulable_timeout": "five minutes"},
         "watches.yaml[0].vars: argument 'performer_unschedulable_timeout' is of type str"),
    ],
)  # fmt: skip
def test_watches_file_vars_the_role_would_refuse_stop_the_start_naming_the_key(tmp_path, vars, said):
    watches = yaml.safe_load((REPO / "watches.yaml").read_text())
    watches[0]["vars"] = vars
    (tmp_path / "watches.yaml").write_text(yaml.safe_dump(watches))
    done = run_operator(tmp_path, "run", env={"WATCHES_FILE": str(tmp_path / "watches.yaml")})
    assert done.returncode == 2
    [line] = error_lines(done)
    assert line.startswith(f"invalid watches file: {said}"), line
    assert "Traceback" not in done.stderr


def test_an_environment_variable_the_flag_does_not_take_stops_the_start_in_one_line(tmp_path):
    # An empty MAX_BATCH_SIZE is its default; LEADER_ELECT=maybe is neither true nor false.
    done = run_operator(tmp_path, "run", env={"LEADER_ELECT": "maybe", "MAX_BATCH_SIZE": ""})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "hourglass-operator run: error: argument --leader-elect/--no-leader-elect: 'maybe' (the flag or env"
        " LEADER_ELECT) must be true or false (or 1/0, yes/no, on/off) (see hourglass-operator run --help)"
    ]


def shipped_watch(**vars):
    [watch] = load_watches(REPO / "watches.yaml")
    return dataclasses.replace(watch, vars=vars)


def test_the_lost_pod_recovery_is_as_the_runs_get_it():
    assert cli.lost_pod_after_seconds(shipped_watch()) == 30  # the role's default
    [watch] = with_role_vars([shipped_watch()], {"performer_lost_pod_after_seconds": "0"})
    assert cli.lost_pod_after_seconds(watch) == 0


def test_the_lost_pod_recovery_needs_to_read_nodes(monkeypatch):
    asked = []

    def denied(api, permission):
        asked.append(str(permission))
        return permission.resource != "nodes"

    monkeypatch.setattr(startup, "_allowed", denied)
    with pytest.raises(StartupError) as raised:
        startup.check_node_permission(None, 30)
    assert asked == ["get nodes in all namespaces"]
    assert str(raised.value).startswith(
        "no permission to get nodes, which the recovery of pods lost with their node needs "
        "(performer_lost_pod_after_seconds: 30): grant it (the chart's rbac.readNodes: true"
    )
    assert "or set performer_lost_pod_after_seconds: 0" in str(raised.value)
    asked.clear()
    startup.check_node_permission(None, 0)  # no recovery: nodes are never read
    assert asked == []
    monkeypatch.setattr(startup, "_allowed", lambda api, permission: True)
    startup.check_node_permission(None, 30)
