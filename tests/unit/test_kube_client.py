"""The one Kubernetes client factory (plugins/module_utils/hourglass_kube.py) that the collection's
modules and the runner loop share: an explicit kubeconfig, else K8S_AUTH_KUBECONFIG, else
KUBECONFIG; the context likewise (K8S_AUTH_CONTEXT); the connection pool sized for concurrent
calls; in-cluster only without a kubeconfig inside a pod."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import api_client

import hourglass_operator
from hourglass_operator import startup


def kubeconfig(path, *servers: str) -> str:
    contexts = [{"name": f"c{i}", "context": {"cluster": f"k{i}", "user": "u"}} for i in range(len(servers))]
    clusters = [{"name": f"k{i}", "cluster": {"server": s}} for i, s in enumerate(servers)]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c0", "contexts": contexts,
        "clusters": clusters, "users": [{"name": "u", "user": {"token": "t"}}],
    }))  # fmt: skip
    return str(path)


@pytest.fixture(autouse=True)
def no_kube_env(monkeypatch):
    for name in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG", "K8S_AUTH_CONTEXT", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_an_explicit_kubeconfig_and_context_with_the_pool_size(tmp_path):
    path = kubeconfig(tmp_path / "config", "https://a.example:6443", "https://b.example:6443")
    client = api_client(path, "c1", pool_size=32)
    assert client.configuration.host == "https://b.example:6443"
    assert client.configuration.connection_pool_maxsize == 32


def test_the_environment_names_the_kubeconfig_and_context_as_for_kubernetes_core(tmp_path, monkeypatch):
    first = kubeconfig(tmp_path / "first", "https://first.example")
    second = kubeconfig(tmp_path / "second", "https://second.example", "https://third.example")
    monkeypatch.setenv("KUBECONFIG", first)
    assert api_client().configuration.host == "https://first.example"
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", second)
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "c1")
    assert api_client().configuration.host == "https://third.example"


def test_in_a_pod_without_a_kubeconfig_it_is_the_service_account(monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    from kubernetes.config import ConfigException

    with pytest.raises(ConfigException, match=r"[Ss]ervice"):  # no token file here: the in-cluster loader
        api_client()


def test_the_runner_loop_uses_the_same_factory():
    assert startup.api_client is api_client


def test_the_client_names_the_operator_as_its_user_agent_and_the_loop_adds_its_version(tmp_path):
    path = kubeconfig(tmp_path / "config", "https://a.example:6443")
    assert api_client(path).user_agent == "hourglass-operator"
    loop = startup.kube_client(path, pool_size=4)
    assert loop.user_agent == f"hourglass-operator/{hourglass_operator.__version__}"
    assert startup.connection_settings(loop)["user_agent"] == loop.user_agent  # what the modules send
