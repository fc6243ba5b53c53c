"""The Helm chart charts/hourglass-executor, rendered by a real `helm` (hack/helm/build.sh; skipped
when it cannot be built here): the configuration it writes into its Secret passes the executor's own
validation, an existing Secret replaces it, persistence, the ServiceMonitor, the PrometheusRule and
the NetworkPolicy are optional, the pod meets the restricted Pod Security Standard, RBAC is the
executor role's, and bad values fail with an error naming them. `make lint` runs `helm lint
--strict` on it; tests/cluster/test_helm_install.py installs it.
"""

from __future__ import annotations

import base64

import pytest
import yaml
from hourglass_executor.config.loader import parse_config
from hourglass_executor.config.model import KubernetesConfig
from hourglass_executor.performers.pool import PoolSettings

from tests.support.helm import EXECUTOR_CHART, Helm, helm_binary
from tests.support.paths import REPO
from tests.unit.test_helm_chart import assert_strings, by_kind_name, rule_set, the, values_leaves

RELEASE, NAMESPACE = "hourglass-executor", "avs-executor"
MONITORING_APIS = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule")
# Anvil's first development key: public, for tests only.
TEST_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CONFIG = {
    "operator": {
        "address": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "operatorPrivateKey": {"privateKey": TEST_KEY},
        "signingKeys": {"ecdsa": {"privateKey": TEST_KEY}},
    },
    "l1Chain": {"rpcUrl": "http://anvil.chain.svc:8545", "chainId": 31337},
    "avsPerformers": [
        {
            "avsAddress": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "processType": "server",
            "deploymentMode": "kubernetes",
            "image": {"repository": "ghcr.io/example/hello-performer", "tag": "v1.0.0"},
        }
    ],
}


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_binary(), tmp_path_factory.mktemp("helm"), chart=EXECUTOR_CHART)


def render(helm: Helm, values: dict | None = None, **kwargs: object) -> list[dict]:
    return helm.objects({"config": CONFIG, **(values or {})}, release=RELEASE, namespace=NAMESPACE, **kwargs)


def config_of(objects: list[dict]) -> dict:
    return yaml.safe_load(base64.b64decode(the(objects, "Secret")["data"]["config.yaml"]))


def pod_of(objects: list[dict]) -> dict:
    return the(objects, "StatefulSet")["spec"]["template"]["spec"]


def test_the_defaults_render_a_configuration_the_executor_accepts(helm: Helm) -> None:
    objects = render(helm)
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} == {
        ("ServiceAccount", "hourglass-executor"),
        ("Secret", "hourglass-executor-config"),
        ("Role", "hourglass-executor"),
        ("RoleBinding", "hourglass-executor"),
        ("Service", "hourglass-executor"),
        ("StatefulSet", "hourglass-executor"),
    }
    text = base64.b64decode(the(objects, "Secret")["data"]["config.yaml"]).decode()
    config = parse_config(text, "the chart's config.yaml")
    assert config.kubernetes is not None and config.kubernetes.namespace == NAMESPACE
    assert config.kubernetes.in_cluster is True
    assert str(config.storage.sqlite_path()) == "/var/lib/hourglass-executor/executor.sqlite3"
    assert (config.grpc_port, config.management_port, config.metrics_port) == (9090, 9091, 9095)
    assert config.authentication.enabled is True  # the management API's callers sign a challenge
    statefulset = the(objects, "StatefulSet")
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    mounts = {m["name"]: m["mountPath"] for m in pod_of(objects)["containers"][0]["volumeMounts"]}
    assert mounts["data"] == "/var/lib/hourglass-executor"
    service = the(objects, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "grpc": 9090,
        "management": 9091,
        "metrics": 9095,
    }
    assert (
        service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    )


def test_the_configurations_own_authentication_setting_is_kept(helm: Helm) -> None:
    objects = helm.objects({"config": {**CONFIG, "authentication": {"enabled": False}}})
    assert config_of(objects)["authentication"] == {"enabled": False}
    # An empty key (its `enabled` line commented out) is no setting: the default stays on.
    objects = helm.objects({"config": {**CONFIG, "authentication": None}})
    assert config_of(objects)["authentication"] == {"enabled": True}


def test_the_executor_pod_meets_the_restricted_pod_security_standard(helm: Helm) -> None:
    pod = pod_of(render(helm))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert not any("hostPort" in p for p in c["ports"])


def test_rbac_is_the_executor_roles_least_privilege_in_the_performer_namespace(helm: Helm) -> None:
    objects = render(helm, {"performerNamespace": "avs-performers"})
    role, binding = the(objects, "Role"), the(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "avs-performers"
    assert rule_set(role["rules"]) == {
        ("hourglass.eigenlayer.io", "performers", verb, None)
        for verb in ("create", "delete", "get", "list", "watch")
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    assert config_of(objects)["kubernetes"]["namespace"] == "avs-performers"
    assert not [o for o in render(helm, {"rbac": {"create": False}}) if o["kind"] in ("Role", "RoleBinding")]


def test_an_existing_secret_replaces_the_rendered_one(helm: Helm) -> None:
    objects = helm.objects({"existingSecret": "my-executor"}, release=RELEASE, namespace=NAMESPACE)
    assert not [o for o in objects if o["kind"] == "Secret"]
    sources = pod_of(objects)["volumes"][0]["projected"]["sources"]
    assert sources[0]["secret"]["name"] == "my-executor"
    annotations = the(objects, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert "hourglass.eigenlayer.io/config-sha256" not in annotations
    failed = helm.template({"existingSecret": "my-executor", "config": CONFIG}, check=False)
    assert failed.returncode != 0 and "existingSecret is set: leave config and chain empty" in failed.stderr


def test_a_changed_configuration_rolls_the_pod(helm: Helm) -> None:
    def config_hash(values: dict) -> str:
        annotations = the(render(helm, values), "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
        return annotations["hourglass.eigenlayer.io/config-sha256"]

    changed = {**CONFIG, "taskTimeout": "45s"}
    assert config_hash({}) == config_hash({})
    assert config_hash({}) != config_hash({"config": changed})


def test_without_persistence_the_memory_store_on_an_empty_dir(helm: Helm) -> None:
    objects = render(helm, {"persistence": {"enabled": False}})
    assert "volumeClaimTemplates" not in the(objects, "StatefulSet")["spec"]
    assert config_of(objects)["storage"] == {"type": "memory"}
    volumes = {v["name"]: v for v in pod_of(objects)["volumes"]}
    assert "emptyDir" in volumes["data"]
    parse_config(yaml.safe_dump(config_of(objects)))


def test_a_static_chain_document_goes_into_a_config_map(helm: Helm) -> None:
    chain = {"chainId": 31337, "operatorSets": []}
    objects = render(helm, {"chain": chain})
    config_map = by_kind_name(objects)[("ConfigMap", "hourglass-executor-chain")]
    assert yaml.safe_load(config_map["data"]["chain.yaml"]) == chain
    assert config_of(objects)["chain"] == {"type": "static", "file": "/etc/hourglass-executor/chain.yaml"}
    sources = pod_of(objects)["volumes"][0]["projected"]["sources"]
    assert sources[1]["configMap"]["name"] == "hourglass-executor-chain"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**CONFIG, "grpcPort": 1}, "config.grpcPort is set by the chart: use the value ports.grpc instead"),
        ({**CONFIG, "storage": {"type": "memory"}}, "config.storage is set by the chart"),
        ({**CONFIG, "metricsPort": 1}, "config.metricsPort is set by the chart: use the value metrics.port"),
        ({**CONFIG, "kubernetes": {"namespace": "x"}}, "use the value performerNamespace instead"),
        ({"avsPerformers": []}, "config must hold the executor configuration's operator and l1Chain"),
    ],
)
def test_a_key_the_chart_sets_or_a_missing_section_is_refused(helm: Helm, config: dict, message: str) -> None:
    failed = helm.template({"config": config}, check=False)
    assert failed.returncode != 0 and message in failed.stderr, failed.stderr


def test_optional_monitoring_and_network_policy(helm: Helm) -> None:
    enabled = {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "networkPolicy": {"enabled": True},
        "performerNamespace": "avs-performers",
    }
    assert not {o["kind"] for o in render(helm)} & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}
    assert not {o["kind"] for o in render(helm, enabled)} & {"ServiceMonitor", "PrometheusRule"}
    objects = render(helm, enabled, api_versions=MONITORING_APIS)
    monitor, service = the(objects, "ServiceMonitor"), the(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    rule = the(objects, "PrometheusRule")
    assert [g["name"] for g in rule["spec"]["groups"]] == ["hourglass-executor"]
    policy = the(objects, "NetworkPolicy")
    assert policy["metadata"]["namespace"] == "avs-performers"
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "hourglass-performer"}}
    (source,) = policy["spec"]["ingress"][0]["from"]
    assert source["podSelector"]["matchLabels"].items() <= pod_of_labels(objects).items()
    assert source["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}
    no_metrics = render(helm, {"metrics": {"enabled": False}})
    assert "metricsPort" not in config_of(no_metrics)
    assert [p["name"] for p in the(no_metrics, "Service")["spec"]["ports"]] == ["grpc", "management"]
    failed = helm.template(
        {"config": CONFIG, "serviceMonitor": {"enabled": True}, "metrics": {"enabled": False}},
        api_versions=MONITORING_APIS,
        check=False,
    )
    assert failed.returncode != 0 and "serviceMonitor.enabled needs metrics.enabled" in failed.stderr


AGGREGATOR = {"ipBlock": {"cidr": "203.0.113.7/32"}}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
OPERATORS = {"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["ops"]}]}}


def executor_policy(objects: list[dict]) -> dict:
    [policy] = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == RELEASE]
    return policy


def with_executor_policy(**executor: object) -> dict:
    return {"networkPolicy": {"executor": {"enabled": True, **executor}}}


def test_the_executor_network_policy_opens_each_port_to_its_own_peers_only(helm: Helm) -> None:
    values = with_executor_policy(grpcFrom=[AGGREGATOR], managementFrom=[OPERATORS], metricsFrom=[PROMETHEUS])
    values["networkPolicy"]["enabled"] = True
    objects = render(helm, values)
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"} == {
        "hourglass-executor", "hourglass-executor-performers"
    }  # fmt: skip
    policy = executor_policy(objects)
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_of_labels(objects).items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = {p["name"]: p["containerPort"] for p in pod_of(objects)["containers"][0]["ports"]}
    assert [(rule["ports"], rule["from"]) for rule in policy["spec"]["ingress"]] == [
        ([{"port": ports["grpc"], "protocol": "TCP"}], [AGGREGATOR]),
        ([{"port": ports["management"], "protocol": "TCP"}], [OPERATORS]),
        ([{"port": ports["metrics"], "protocol": "TCP"}], [PROMETHEUS]),
    ]
    # A port nobody is listed for is closed: only the task port is open here.
    only_aggregators = executor_policy(render(helm, with_executor_policy(grpcFrom=[AGGREGATOR])))
    assert [rule["ports"][0]["port"] for rule in only_aggregators["spec"]["ingress"]] == [ports["grpc"]]
    assert not [o for o in render(helm) if o["kind"] == "NetworkPolicy"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (with_executor_policy(), "networkPolicy.executor.grpcFrom is empty"),
        (
            {
                "ports": {"management": 0},
                **with_executor_policy(grpcFrom=[AGGREGATOR], managementFrom=[OPERATORS]),
            },
            "networkPolicy.executor.managementFrom is set but the management service shares ports.grpc",
        ),
        (
            {
                "metrics": {"enabled": False},
                **with_executor_policy(grpcFrom=[AGGREGATOR], metricsFrom=[PROMETHEUS]),
            },
            "networkPolicy.executor.metricsFrom is set but metrics.enabled is false",
        ),
    ],
)
def test_an_executor_network_policy_that_would_shut_out_the_aggregators_or_mean_nothing_is_refused(
    helm: Helm, values: dict, message: str
) -> None:
    failed = helm.template({"config": CONFIG, **values}, check=False)
    assert failed.returncode != 0 and message in failed.stderr, failed.stderr


@pytest.mark.parametrize(
    ("peer", "field"),
    [
        ({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}, "/networkPolicy/executor/grpcFrom/0"),
        ({"ipBlock": {}}, "/networkPolicy/executor/grpcFrom/0/ipBlock"),
        ({}, "/networkPolicy/executor/grpcFrom/0"),
        ({"podSelectr": {}}, "/networkPolicy/executor/grpcFrom/0"),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}},
            "/podSelector/matchExpressions/0/operator",
        ),
    ],
)
def test_a_malformed_network_policy_peer_is_refused_naming_it(helm: Helm, peer: dict, field: str) -> None:
    failed = helm.template({"config": CONFIG, **with_executor_policy(grpcFrom=[peer])}, check=False)
    assert failed.returncode != 0 and "schema" in failed.stderr and field in failed.stderr, failed.stderr


def pod_of_labels(objects: list[dict]) -> dict:
    return the(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]


def startup_probe(objects: list[dict]) -> dict:
    (c,) = pod_of(objects)["containers"]
    return c["startupProbe"]


def test_the_startup_probe_is_a_value_whose_default_outlasts_the_executors_start(helm: Helm) -> None:
    """Health is NOT_SERVING until the performers are adopted or deployed: with the default timeouts
    an adopted performer that never gets ready, then its replacement, each up to readyTimeout plus the
    first health check's timeout. The probe must not restart the pod before that, nor before the
    executor role's probe would (the same value: executor_startup_probe)."""
    probe = startup_probe(render(helm))
    assert probe["grpc"] == {"port": 9090}
    ready = KubernetesConfig.model_fields["ready_timeout"].default.total_seconds()
    start = 2 * (ready + PoolSettings().health_timeout)
    assert probe["periodSeconds"] * probe["failureThreshold"] >= start + 60, probe
    role = yaml.safe_load((REPO / "roles" / "executor" / "defaults" / "main.yml").read_text())
    assert {k: v for k, v in probe.items() if k != "grpc"} == role["executor_startup_probe"]
    # A longer readyTimeout needs a longer budget: the value sets it.
    longer = startup_probe(render(helm, {"startupProbe": {"failureThreshold": 276}, "ports": {"grpc": 7000}}))
    assert longer == {
        "grpc": {"port": 7000}, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 276
    }  # fmt: skip
    failed = helm.template({"config": CONFIG, "startupProbe": {"failureThreshold": 0}}, check=False)
    assert failed.returncode != 0 and "/startupProbe/failureThreshold" in failed.stderr, failed.stderr


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"management": 9095}, "metrics.port 9095 is also ports.management"),
        ({"grpc": 9095}, "metrics.port 9095 is also ports.grpc"),
        ({"grpc": 9095, "management": 0}, "metrics.port 9095 is also ports.grpc"),
    ],
)
def test_ports_that_collide_are_refused_at_render_time(helm: Helm, ports: dict, message: str) -> None:
    """The Service and the container would declare one port twice, which the API server refuses (and
    the executor role refuses the same)."""
    failed = helm.template({"config": CONFIG, "ports": ports}, check=False)
    assert failed.returncode != 0 and message in failed.stderr, failed.stderr
    # Without /metrics the port is free; one server for both gRPC services is no collision.
    service = the(render(helm, {"ports": ports, "metrics": {"enabled": False}}), "Service")
    free = [p["port"] for p in service["spec"]["ports"]]
    assert 9095 in free and len(set(free)) == len(free), free
    shared = render(helm, {"ports": {"grpc": 9090, "management": 9090}})
    assert [p["port"] for p in the(shared, "Service")["spec"]["ports"]] == [9090, 9095]


@pytest.mark.parametrize("priority_class", ["true", "123", "null"])
def test_values_that_look_like_booleans_or_numbers_render_as_strings(helm: Helm, priority_class: str) -> None:
    values = {
        "priorityClassName": priority_class,
        "fullnameOverride": "yes",
        "serviceAccount": {"name": "true"},
        "performerNamespace": "off",
        "networkPolicy": {"enabled": True},
        "chain": {"chainId": 31337},
    }
    objects = helm.objects({"config": CONFIG, **values}, release="123", namespace="no")
    assert_strings(objects)
    pod = pod_of(objects)
    assert (pod["priorityClassName"], pod["serviceAccountName"]) == (priority_class, "true")
    assert the(objects, "StatefulSet")["spec"]["serviceName"] == "yes"
    assert {o["metadata"]["namespace"] for o in objects} == {"no", "off"}
    existing = helm.objects({"existingSecret": "123"}, release="123", namespace="null")
    assert_strings(existing)
    assert pod_of(existing)["volumes"][0]["projected"]["sources"][0]["secret"]["name"] == "123"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"replicaCount": 2}, "/replicaCount"),
        ({"ports": {"grpc": 0}}, "/ports/grpc"),
        ({"persistence": {"size": "a lot"}}, "/persistence/size"),
        ({"performerNamespace": "Not_A_Namespace"}, "/performerNamespace"),
        ({"config": "grpcPort: 1"}, "/config"),
        ({"extraArgs": [1]}, "/extraArgs/0"),
        ({"persistance": {}}, "persistance"),
    ],
)
def test_a_bad_value_fails_with_an_error_naming_it(helm: Helm, values: dict, field: str) -> None:
    result = helm.template(values, check=False)
    assert result.returncode != 0, f"{values} rendered:\n{result.stdout[:500]}"
    assert "schema" in result.stderr and field in result.stderr, result.stderr


def test_every_value_is_documented_in_values_yaml_and_the_readme() -> None:
    lines = (EXECUTOR_CHART / "values.yaml").read_text().splitlines()
    readme = (EXECUTOR_CHART / "README.md").read_text()
    for path, number in values_leaves(EXECUTOR_CHART).items():
        assert lines[number - 1].lstrip().startswith("#"), f"values.yaml: {path} has no comment above it"
        assert f"| `{path}`" in readme, f"README.md's values table lacks {path}"
