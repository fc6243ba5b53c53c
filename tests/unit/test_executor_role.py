"""The executor role (playbooks/deploy-executor.yml) rendered by Ansible itself in render-only mode
(executor_render_to, no cluster): the least-privilege Role, the configuration (valid by the
executor's own rules, keys only in the Secret), the restricted StatefulSet, the headless Service,
the performer and executor NetworkPolicies, and bad input refused early with the variable's name."""

from __future__ import annotations

import base64
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hourglass_executor.chain import StaticChainReader
from hourglass_executor.config import ExecutorConfig, parse_config

from tests.support.executor_deploy import NAME, deploy, executor_vars, new_key, rendered_objects
from tests.support.paths import REPO
from tests.support.playbooks import ANSIBLE_PLAYBOOK

NAMESPACE = "avs-one"
BACKEND = REPO / "executor" / "hourglass_executor" / "performers" / "kubernetes"  # a package
KIND_ORDER = ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Service", "StatefulSet"]
# CustomObjectsApi methods of the kubernetes backend -> the RBAC verb each one needs.
CLIENT_VERBS = {"create": "create", "get": "get", "list": "list", "delete": "delete"}
AGGREGATOR = {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def render(tmp_path: Path, variables: dict[str, Any], keys: dict[str, str], *args: str):
    out = tmp_path / "objects.yaml"
    result = deploy(tmp_path, variables, keys, "-e", f"executor_render_to={out}", "-v", *args)
    return result, out


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objects}


def secret_config(objects: dict[str, dict]) -> str:
    return base64.b64decode(objects["Secret"]["data"]["config.yaml"]).decode()


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """sqlite storage, the NetworkPolicies, a static chain and extra configuration keys."""
    tmp_path = tmp_path_factory.mktemp("executor-full")
    key, signing_key = new_key(), new_key()
    variables = executor_vars(
        NAMESPACE,
        image=True,
        executor_network_policy=True,
        executor_ingress_policy=True,
        executor_grpc_from=[AGGREGATOR],
        executor_metrics_from=[PROMETHEUS],
        executor_config_extra={"taskTimeout": "10s", "kubernetes": {"readyTimeout": "2m"}},
    )
    result, out = render(
        tmp_path,
        variables,
        {"executor_operator_private_key": key, "executor_signing_private_key": signing_key},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    objects = rendered_objects(out)
    return {"result": result, "path": out, "objects": objects, "kinds": by_kind(objects),
            "key": key, "signing_key": signing_key}  # fmt: skip


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """memory storage, one gRPC port, another name, no chain file, no NetworkPolicy, and the key
    from a vars file encrypted with ansible-vault."""
    tmp_path = tmp_path_factory.mktemp("executor-minimal")
    key = new_key()
    password = tmp_path / "vault-password"
    password.write_text("test-vault-password\n")
    encrypted = subprocess.run(
        [str(Path(ANSIBLE_PLAYBOOK).with_name("ansible-vault")), "encrypt_string",
         "--vault-password-file", str(password), "--name", "executor_operator_private_key", key],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (tmp_path / "vault-keys.yml").write_text(encrypted)
    variables = executor_vars(
        NAMESPACE,
        executor_name="exec-b",
        executor_storage="memory",
        executor_management_port=0,
        executor_metrics_port=0,
    )
    del variables["executor_chain"]
    variables["executor_chain_contracts"] = {"taskMailbox": "0x" + "7a" * 20}
    result, out = render(
        tmp_path, variables, {}, "-e", f"@{tmp_path / 'vault-keys.yml'}",
        "--vault-password-file", str(password),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    objects = rendered_objects(out)
    return {"result": result, "objects": objects, "kinds": by_kind(objects), "key": key}


def test_objects_come_in_apply_order_with_the_executor_labels(full):
    assert [o["kind"] for o in full["objects"]] == [*KIND_ORDER, "NetworkPolicy", "NetworkPolicy"]
    for obj in full["objects"]:
        assert obj["metadata"]["namespace"] == NAMESPACE
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "hourglass-executor"
        assert labels["app.kubernetes.io/component"] == "executor"
    names = [(o["kind"], o["metadata"]["name"]) for o in full["objects"]]
    assert names == [*((kind, f"{NAME}-keys" if kind == "Secret" else NAME) for kind in KIND_ORDER),
                     ("NetworkPolicy", f"{NAME}-performers"), ("NetworkPolicy", NAME)]  # fmt: skip


def test_role_grants_exactly_the_calls_of_the_kubernetes_backend(full):
    """The verbs are derived from the backend's source, so a new call there fails this test until
    the Role follows."""
    source = "\n".join(path.read_text() for path in sorted(BACKEND.glob("*.py")))
    used = {CLIENT_VERBS[m] for m in re.findall(r"custom\.(\w+?)_namespaced_custom_object", source)}
    if "watch=True" in source:
        used.add("watch")
    assert "CoreV1Api" not in source and "AppsV1Api" not in source

    role = full["kinds"]["Role"]
    assert role["rules"] == [
        {"apiGroups": ["hourglass.eigenlayer.io"], "resources": ["performers"], "verbs": sorted(used)}
    ]
    assert sorted(used) == ["create", "delete", "get", "list", "watch"]
    binding = full["kinds"]["RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    assert full["kinds"]["ServiceAccount"]["automountServiceAccountToken"] is False


def test_configuration_is_valid_in_cluster_and_only_in_the_secret(full):
    text = secret_config(full["kinds"])
    config: ExecutorConfig = parse_config(text)  # the executor's own validation
    raw = yaml.safe_load(text)
    assert raw["operator"]["operatorPrivateKey"] == {"privateKey": full["key"]}
    assert raw["operator"]["signingKeys"] == {"ecdsa": {"privateKey": full["signing_key"]}}
    assert config.deployment_mode == "kubernetes"
    assert config.kubernetes is not None
    assert (config.kubernetes.namespace, config.kubernetes.in_cluster) == (NAMESPACE, True)
    assert config.kubernetes.kube_config_path is None
    assert config.kubernetes.ready_timeout.total_seconds() == 120  # from executor_config_extra
    assert config.task_timeout.total_seconds() == 10
    assert str(config.storage.sqlite_path()) == "/var/lib/hourglass-executor/executor.sqlite3"
    assert (config.chain.type, config.chain.file) == ("static", "/etc/hourglass-executor/chain.yaml")
    assert (config.grpc_port, config.management_port) == (9090, 9091)

    configmap = full["kinds"]["ConfigMap"]
    assert set(configmap["data"]) == {"chain.yaml"}
    StaticChainReader.from_mapping(yaml.safe_load(configmap["data"]["chain.yaml"]))
    for obj in full["objects"]:
        if obj["kind"] != "Secret":
            dumped = yaml.safe_dump(obj)
            assert full["key"][2:] not in dumped and full["signing_key"][2:] not in dumped


def test_keys_are_never_printed_and_the_render_file_is_private(full, minimal):
    for case in (full, minimal):
        output = case["result"].stdout + case["result"].stderr
        for key in (case["key"], case.get("signing_key")):
            if key:
                assert key[2:].lower() not in output.lower()
        assert case["kinds"]["Secret"]["data"]["config.yaml"] not in output
    assert stat.S_IMODE(full["path"].stat().st_mode) == 0o600


def test_statefulset_runs_one_restricted_pod_with_a_read_only_root(full):
    sts = full["kinds"]["StatefulSet"]
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    assert spec["replicas"] == 1 and spec["serviceName"] == NAME
    selector = spec["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "hourglass-executor", "app.kubernetes.io/instance": NAME}
    assert selector.items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert re.fullmatch(
        r"[0-9a-f]{64}",
        sts["spec"]["template"]["metadata"]["annotations"]["hourglass.eigenlayer.io/config-sha256"],
    )
    assert pod["serviceAccountName"] == NAME and pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/hourglass-operator/executor:0.1.0"
    assert "command" not in container  # the image's tini entry point stays PID 1
    assert container["args"] == ["run", "--config", "/etc/hourglass-executor/config.yaml"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]

    # Written to: only the data volume (a claim) and /tmp (an emptyDir).
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {t["metadata"]["name"]: t for t in spec["volumeClaimTemplates"]}
    writable = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/lib/hourglass-executor": "data", "/tmp": "tmp"}
    assert "data" in claims and "data" not in volumes
    assert claims["data"]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "emptyDir" in volumes["tmp"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    sources = volumes["config"]["projected"]["sources"]
    assert sources == [
        {"secret": {"name": f"{NAME}-keys", "items": [{"key": "config.yaml", "path": "config.yaml"}]}},
        {"configMap": {"name": NAME, "items": [{"key": "chain.yaml", "path": "chain.yaml"}]}},
    ]
    assert volumes["config"]["projected"]["defaultMode"] == 0o440


def test_ports_and_grpc_probes_follow_the_configuration(full):
    [container] = full["kinds"]["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [
        {"name": "grpc", "containerPort": 9090, "protocol": "TCP"},
        {"name": "management", "containerPort": 9091, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9092, "protocol": "TCP"},
    ]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": 9090}
    service = full["kinds"]["Service"]["spec"]
    assert service["clusterIP"] == "None"
    assert service["selector"] == full["kinds"]["StatefulSet"]["spec"]["selector"]["matchLabels"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        ("grpc", 9090, "grpc"),
        ("management", 9091, "management"),
        ("metrics", 9092, "metrics"),
    ]


def test_network_policy_admits_only_executor_pods_to_performer_pods(full):
    [policy] = [o["spec"] for o in full["objects"] if o["metadata"]["name"] == f"{NAME}-performers"]
    assert policy == {
        "podSelector": {"matchLabels": {"app": "hourglass-performer"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "hourglass-executor"}}}]}
        ],
    }  # no `ports`: any port, since each Performer chooses its own


def test_the_executor_network_policy_opens_each_port_to_its_own_peers_only(full):
    [policy] = [o for o in full["objects"] if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == NAME]
    pod = full["kinds"]["StatefulSet"]["spec"]["template"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    # No peers for the management port: it is closed.
    assert [(rule["ports"], rule["from"]) for rule in policy["spec"]["ingress"]] == [
        ([{"port": ports["grpc"], "protocol": "TCP"}], [AGGREGATOR]),
        ([{"port": ports["metrics"], "protocol": "TCP"}], [PROMETHEUS]),
    ]


def test_memory_storage_one_port_no_chain_and_a_vault_key(minimal):
    kinds = minimal["kinds"]
    assert [o["kind"] for o in minimal["objects"]] == KIND_ORDER  # no NetworkPolicy
    assert kinds["Secret"]["metadata"]["name"] == "exec-b-keys"
    config = parse_config(secret_config(kinds))
    assert config.operator.operator_private_key.private_key is not None
    assert config.operator.operator_private_key.private_key.get_secret_value() == minimal["key"]
    assert config.storage.type == "memory" and config.chain.type == "rpc"
    assert config.chain.contracts.task_mailbox == "0x" + "7a" * 20  # executor_chain_contracts
    assert config.management_port == config.grpc_port == 9090 and config.metrics_port == 0
    assert kinds["ConfigMap"]["data"] == {}
    spec = kinds["StatefulSet"]["spec"]
    pod = spec["template"]["spec"]
    assert "volumeClaimTemplates" not in spec
    assert {v["name"]: v for v in pod["volumes"]}["data"] == {
        "name": "data",
        "emptyDir": {"sizeLimit": "64Mi"},
    }
    assert [s for s in pod["volumes"][0]["projected"]["sources"] if "configMap" in s] == []
    assert [p["name"] for p in pod["containers"][0]["ports"]] == ["grpc"]
    assert [p["name"] for p in kinds["Service"]["spec"]["ports"]] == ["grpc"]


BAD_KEY = "0x" + "z" * 64
BAD_INPUTS = {
    "missing-key": ({}, {}, "executor_operator_private_key is required"),
    "malformed-key": (
        {},
        {"executor_operator_private_key": BAD_KEY},
        "executor_operator_private_key is required",
    ),
    "namespace": (
        {"executor_namespace": "Bad_Namespace"},
        None,
        "executor_namespace must be a namespace name",
    ),
    "name": ({"executor_name": "x" * 53}, None, "executor_name must be a DNS-1035 label"),
    "address": ({"executor_operator_address": "0x12"}, None, "executor_operator_address is required"),
    "replicas": ({"executor_replicas": 2}, None, "executor_replicas must be 0 or 1"),
    "docker-mode": (
        {"executor_avs_performers": [{"avsAddress": "0x" + "1" * 40, "deploymentMode": "docker"}]},
        None,
        "executor_avs_performers[].deploymentMode must be kubernetes",
    ),
    "extra-owns-keys": (
        {"executor_config_extra": {"operator": {}, "kubernetes": {"namespace": "x"}}},
        None,
        "executor_config_extra must not set operator (set executor_operator_address, "
        "executor_operator_private_key, executor_signing_private_key), kubernetes.namespace "
        "(set executor_namespace)",
    ),
    "image": ({"executor_image": "my image:1"}, None, "executor_image must be a non-empty image reference"),
    "pull-policy": (
        {"executor_image_pull_policy": "Sometimes"},
        None,
        "executor_image_pull_policy must be",
    ),
    "storage-class": (
        {"executor_storage_class_name": "Fast_SSD"},
        None,
        "executor_storage_class_name must be empty (the cluster's default StorageClass) or a StorageClass",
    ),
    "grace-period": (
        {"executor_termination_grace_period_seconds": -5},
        None,
        "executor_termination_grace_period_seconds must be a number of seconds",
    ),
    "ingress-without-aggregators": (
        {"executor_ingress_policy": True, "executor_metrics_from": [PROMETHEUS]},
        None,
        "executor_grpc_from is empty: list the aggregators that may reach executor_grpc_port",
    ),
    "ingress-management-on-grpc-port": (
        {
            "executor_ingress_policy": True,
            "executor_management_port": 0,
            "executor_grpc_from": [AGGREGATOR],
            "executor_management_from": [PROMETHEUS],
        },
        None,
        "executor_management_from is set but the management service shares executor_grpc_port",
    ),
    "ingress-metrics-off": (
        {
            "executor_ingress_policy": True,
            "executor_metrics_port": 0,
            "executor_grpc_from": [AGGREGATOR],
            "executor_metrics_from": [PROMETHEUS],
        },
        None,
        "executor_metrics_from is set but executor_metrics_port is 0",
    ),
    "ingress-bad-peers": (
        {
            "executor_ingress_policy": True,
            "executor_grpc_from": [AGGREGATOR, {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}],
            "executor_metrics_from": [{}, {"podSelectr": {}}, {"ipBlock": {}}, {"namespaceSelector": None}],
        },
        None,
        "executor_grpc_from[1]; executor_metrics_from[0]; executor_metrics_from[1]; "
        "executor_metrics_from[2]; executor_metrics_from[3]: each peer is one ipBlock",
    ),
    # Only the executor's own validation knows these rules: its messages name the keys.
    "executor-validation": (
        {
            "executor_avs_performers": [{"avsAddress": "0x12", "envs": [{"name": "A"}]}],
            "executor_config_extra": {"taskTimeout": 5},
        },
        None,
        (
            "avsPerformers[0].avsAddress: must be an Ethereum address",
            "avsPerformers[0].envs[0]: set exactly one of value, valueFromEnv, kubernetesEnv (found: none)",
            "taskTimeout: must be a duration such as",
        ),
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_fails_before_anything_is_written_naming_the_variable(case, tmp_path):
    overrides, keys, expected = BAD_INPUTS[case]
    key = new_key()
    result, out = render(
        tmp_path,
        {**executor_vars(NAMESPACE), **overrides},
        {"executor_operator_private_key": key} if keys is None else keys,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for message in (expected,) if isinstance(expected, str) else expected:
        assert message in output, output
    assert not out.exists()
    assert key[2:] not in output and BAD_KEY[2:] not in output
