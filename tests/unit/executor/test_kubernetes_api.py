"""The executor's Kubernetes API-client factory: credentials checked before the start (a missing
kubeconfig, a missing or unknown context, no in-cluster credentials, each named), and a client
opened from a kubeconfig's context reaches that context's server."""

from __future__ import annotations

import asyncio
import sys

import hourglass_executor
import pytest
import yaml
from hourglass_executor.config import KubernetesConfig
from hourglass_executor.kubernetes_api import ApiSource, ApiSourceError, api_message
from kubernetes_asyncio.client import ApiException, CustomObjectsApi

from tests.support.fake_kubernetes import GROUP, PLURAL, VERSION, FakePerformerApi, performer

pytestmark = pytest.mark.unit


def kubeconfig(path, servers: dict[str, str], current: str | None) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server}} for name, server in servers.items()],
        "users": [{"name": "tester", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "tester"}} for name in servers],
    }
    if current is not None:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_check_names_what_is_wrong_with_the_credentials(tmp_path, monkeypatch):
    missing = tmp_path / "missing"
    with pytest.raises(ApiSourceError, match=f"kubeconfig {missing} does not exist"):
        ApiSource(kube_config_path=str(missing)).check()
    two = kubeconfig(tmp_path / "two", {"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}, "a")
    ApiSource(kube_config_path=two).check()
    ApiSource(kube_config_path=two, context="b").check()
    with pytest.raises(ApiSourceError, match=r"has no context 'c' \(it has \['a', 'b'\]\)"):
        ApiSource(kube_config_path=two, context="c").check()
    no_current = kubeconfig(tmp_path / "none", {"a": "http://127.0.0.1:1"}, None)
    with pytest.raises(ApiSourceError, match="has no current-context"):
        ApiSource(kube_config_path=no_current).check()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ApiSourceError, match="no in-cluster credentials"):
        ApiSource(in_cluster=True).check()


def test_a_kubeconfig_that_cannot_be_read_is_named_without_quoting_its_credentials(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text('users:\n- name: tester\n  user:\n    token: "sekrit-token-123\n')
    with pytest.raises(ApiSourceError) as error:
        ApiSource(kube_config_path=str(broken)).check()
    assert str(error.value).startswith(f"kubeconfig {broken} cannot be read: line ")
    assert "sekrit" not in str(error.value)
    binary = tmp_path / "binary"
    binary.write_bytes(b"apiVersion: v1\n# \xff\n")
    with pytest.raises(ApiSourceError, match=f"kubeconfig {binary} cannot be read: not UTF-8 text$"):
        ApiSource(kube_config_path=str(binary)).check()


def test_the_source_follows_the_executor_configuration():
    config = KubernetesConfig.model_validate({"namespace": "avs", "kubeConfigPath": "/etc/kube/config"})
    assert ApiSource.from_config(config) == ApiSource(in_cluster=False, kube_config_path="/etc/kube/config")
    in_cluster = KubernetesConfig.model_validate({"namespace": "avs", "inCluster": True})
    assert ApiSource.from_config(in_cluster).in_cluster


def test_without_kubeconfig_path_or_in_cluster_the_credentials_are_found_as_kubectl_finds_them(
    tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    from_env = kubeconfig(tmp_path / "from-env", {"a": "http://127.0.0.1:1"}, "a")
    source = ApiSource.from_config(KubernetesConfig.model_validate({"namespace": "avs"}))

    # Not a pod, no $KUBECONFIG, no ~/.kube/config: one line saying what was looked at.
    with pytest.raises(ApiSourceError) as nothing:
        source.resolved({})
    assert str(nothing.value) == (
        "no Kubernetes credentials: kubernetes.kubeConfigPath is not set, $KUBECONFIG is not set, "
        "~/.kube/config does not exist and this is not a pod (KUBERNETES_SERVICE_HOST is not set); set "
        "kubernetes.kubeConfigPath, or kubernetes.inCluster: true in a pod"
    )
    with pytest.raises(ApiSourceError, match=r"kubeconfig /no/such \(from \$KUBECONFIG\) does not exist"):
        source.resolved({"KUBECONFIG": "/no/such"})
    # In a pod without a kubeconfig: the pod's service account.
    assert source.resolved({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == ApiSource(in_cluster=True)
    # ~/.kube/config wins over the pod's account, and the first existing file of $KUBECONFIG over both.
    (home / ".kube").mkdir(parents=True)
    kubeconfig(home / ".kube" / "config", {"b": "http://127.0.0.1:2"}, "b")
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert source.resolved(pod) == ApiSource(kube_config_path="~/.kube/config")
    listed = {**pod, "KUBECONFIG": f"/no/such:{from_env}"}
    assert source.resolved(listed) == ApiSource(kube_config_path=from_env)
    monkeypatch.setenv("KUBECONFIG", from_env)
    source.check()  # reads the file $KUBECONFIG names
    # Given ones are kept as they are.
    assert ApiSource(kube_config_path="/x").resolved({}) == ApiSource(kube_config_path="/x")


def test_a_client_opened_for_a_context_talks_to_that_contexts_server(tmp_path):
    async def scenario():
        api = FakePerformerApi()
        await api.start()
        api.objects["p"] = performer("p")
        path = kubeconfig(
            tmp_path / "config",
            {"dead": "http://127.0.0.1:1", "fake": f"http://127.0.0.1:{api.port}"},
            "dead",
        )
        client = await ApiSource(kube_config_path=path, context="fake").open()
        try:
            return await CustomObjectsApi(client).list_namespaced_custom_object(GROUP, VERSION, "avs", PLURAL)
        finally:
            await client.close()
            await api.stop()

    listing = asyncio.run(scenario())
    assert [item["metadata"]["name"] for item in listing["items"]] == ["p"]


def test_a_client_names_the_executor_as_its_user_agent(tmp_path):
    """The API server names the field manager of the executor's Performers after it (and logs it)."""
    path = kubeconfig(tmp_path / "config", {"k": "http://127.0.0.1:1"}, "k")

    async def user_agent() -> str:
        client = await ApiSource(kube_config_path=path).open()
        try:
            return client.user_agent
        finally:
            await client.close()

    assert asyncio.run(user_agent()) == f"hourglass-executor/{hourglass_executor.__version__}"


EXEC_PLUGIN = """
import datetime, json, pathlib, sys
count = pathlib.Path(sys.argv[1])
runs = int(count.read_text() or 0) + 1 if count.exists() else 1
count.write_text(str(runs))
expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=int(sys.argv[2]))
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
    "status": {"token": f"token-{runs}", "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")},
}))
"""


@pytest.mark.parametrize(
    ("lifetime", "tokens"), [(3600, ["token-1", "token-1"]), (0, ["token-2", "token-3"])]
)
def test_an_exec_plugins_token_is_fetched_again_once_it_expired(tmp_path, lifetime, tokens):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)

    async def scenario():
        api = FakePerformerApi()
        await api.start()
        path = tmp_path / "config"
        kubeconfig(path, {"fake": f"http://127.0.0.1:{api.port}"}, "fake")
        document = yaml.safe_load(path.read_text())
        document["users"][0]["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": sys.executable,
                "args": [str(plugin), str(tmp_path / "runs"), str(lifetime)],
            }
        }
        path.write_text(yaml.safe_dump(document))
        client = await ApiSource(kube_config_path=str(path)).open()  # runs the plugin once
        try:
            custom = CustomObjectsApi(client)
            for _ in range(2):
                await custom.list_namespaced_custom_object(GROUP, VERSION, "avs", PLURAL)
            return api.authorizations
        finally:
            await client.close()
            await api.stop()

    assert asyncio.run(scenario()) == [f"Bearer {token}" for token in tokens]


def test_api_errors_keep_the_servers_message():
    error = ApiException(status=422, reason="Unprocessable Entity")
    error.body = '{"kind": "Status", "message": "spec.image: Required value"}'
    assert api_message(error) == "422 Unprocessable Entity: spec.image: Required value"
    error.body = "<html>bad gateway</html>"
    assert api_message(error) == "422 Unprocessable Entity"
