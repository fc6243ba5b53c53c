"""The executor configuration: the example validates, and every invalid file is reported as exact
`<path>: <message>` lines, all problems at once, without secrets."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hourglass_executor import cli
from hourglass_executor.config import ConfigError, load_config, parse_config
from hourglass_executor.store import check_store, open_store
from hourglass_executor.store.memory import MemoryStore

from tests.support.fake_kube_server import FakeKubeServer

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[3] / "executor" / "examples" / "executor-kubernetes.yaml"

# Secrets used below: each must never show up in an error message, a repr or the CLI's output.
PRIVATE_KEY = "0x" + "5ec7e75ec7e7" * 5 + "5ec7"
BLS_PASSWORD = "correct-horse-battery-staple"
RPC_URL = "https://eth.example.org/v2/api-key-0123456789"

VALID: dict[str, Any] = {
    "grpcPort": 9090,
    "operator": {
        "address": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "operatorPrivateKey": {"privateKey": PRIVATE_KEY},
        "signingKeys": {"ecdsa": {"privateKey": PRIVATE_KEY}},
    },
    "l1Chain": {"rpcUrl": RPC_URL, "chainId": 31337},
    "avsPerformers": [
        {
            "avsAddress": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "processType": "server",
            "deploymentMode": "kubernetes",
            "image": {"repository": "ghcr.io/example/performer", "tag": "v1.0.0"},
            "envs": [
                {"name": "LOG_LEVEL", "value": "debug"},
                {
                    "name": "TOKEN",
                    "kubernetesEnv": {"valueFrom": {"secretKeyRef": {"name": "tokens", "key": "token"}}},
                },
            ],
        }
    ],
    "kubernetes": {"namespace": "avs", "kubeConfigPath": "/etc/kube/config"},
}


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    lines = str(caught.value).splitlines()
    assert lines == [str(p) for p in caught.value.problems]
    return lines


def changed(change: Callable[[dict[str, Any]], object]) -> str:
    """VALID as YAML after `change` edited a copy of it."""
    data = copy.deepcopy(VALID)
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


MIXED = "avsPerformers: mixed deployment modes not supported: all performers must use the same deploymentMode"
TWO_SOURCES = (
    "avsPerformers[0].envs[0]: "
    "set exactly one of value, valueFromEnv, kubernetesEnv (found: value, valueFromEnv)"
)


def performer(data: dict[str, Any]) -> dict[str, Any]:
    return data["avsPerformers"][0]


def test_example_validates():
    config = load_config(EXAMPLE)
    assert config.deployment_mode == "kubernetes"
    # Credentials as kubectl finds them: in a pod its service account, elsewhere the kubeconfig.
    assert config.kubernetes is not None and not config.kubernetes.in_cluster
    assert config.kubernetes.kube_config_path is None
    assert config.avs_performers[0].image is not None
    assert config.avs_performers[0].image.reference == "ghcr.io/example/hello-performer:v1.0.0"
    assert config.storage.sqlite_path() == Path("/var/lib/hourglass-executor/executor.sqlite3")
    assert (config.grpc_port, config.management_port, config.metrics_port) == (9090, 9091, 9092)
    assert config.authentication.enabled


def test_example_labels_its_key_as_a_test_key():
    text = EXAMPLE.read_text()
    key_lines = [line for line in text.splitlines() if "privateKey:" in line]
    assert key_lines and all("TEST KEY" in line for line in key_lines)


def test_valid_config_and_defaults():
    config = parse_config(changed(lambda d: None))
    assert config.operator.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert config.management_port == 9090  # managementServerGrpcPort absent: one server
    assert config.storage.type == "memory" and config.storage.sqlite_path() is None
    assert config.kubernetes is not None
    assert config.kubernetes.crd_group == "hourglass.eigenlayer.io"
    assert config.kubernetes.crd_version == "v1alpha1"
    assert config.kubernetes.operator_namespace == "hourglass-system"
    assert config.kubernetes.connection_timeout == timedelta(seconds=30)
    assert config.kubernetes.ready_timeout == timedelta(minutes=5)
    assert config.kubernetes.delete_performers_on_shutdown is False
    assert config.kubernetes.tls.enabled is False
    assert config.chain.type == "rpc"
    assert config.authentication.enabled is False
    assert config.l1_chain.rpc_url.get_secret_value() == RPC_URL
    assert config.operator.operator_private_key.private_key is not None
    assert config.operator.operator_private_key.private_key.get_secret_value() == PRIVATE_KEY
    env = config.avs_performers[0].envs[1].kubernetes_env
    assert env is not None and env.value_from.secret_key_ref is not None
    assert env.value_from.secret_key_ref.key == "token"


def test_durations_digest_and_docker_mode():
    def edit(d: dict[str, Any]) -> None:
        d["kubernetes"].update(connectionTimeout="1m30s", readyTimeout="250ms")
        performer(d)["image"]["digest"] = "sha256:" + "ab" * 32

    config = parse_config(changed(edit))
    assert config.kubernetes is not None
    assert config.kubernetes.connection_timeout == timedelta(seconds=90)
    assert config.kubernetes.ready_timeout == timedelta(milliseconds=250)
    assert config.avs_performers[0].image is not None
    assert config.avs_performers[0].image.reference == "ghcr.io/example/performer@sha256:" + "ab" * 32

    def docker(d: dict[str, Any]) -> None:
        del d["kubernetes"]
        performer(d)["deploymentMode"] = "docker"
        performer(d)["envs"] = [{"name": "A", "valueFromEnv": "HOST_A"}]

    assert parse_config(changed(docker)).deployment_mode == "docker"


def test_durations_at_the_limits_are_accepted():
    config = parse_config(
        changed(
            lambda d: d.update(
                taskTimeout="1ms", shutdownTimeout="2562047h47m16.854775807s", chain={"timeout": "0.5s"}
            )
        )
    )
    assert config.task_timeout == timedelta(milliseconds=1)
    assert config.shutdown_timeout == timedelta(hours=2562047, minutes=47, seconds=16, microseconds=854775)
    assert config.chain.timeout == timedelta(milliseconds=500)


def test_in_cluster_needs_no_kubeconfig():
    def edit(d: dict[str, Any]) -> None:
        d["kubernetes"] = {"namespace": "avs", "inCluster": True}

    config = parse_config(changed(edit))
    assert config.kubernetes is not None and config.kubernetes.kube_config_path is None


def test_upstream_keys_are_accepted():
    # Keys of the upstream executor's file that this executor accepts unchanged.
    def edit(d: dict[str, Any]) -> None:
        d.update(debug=True, managementServerGrpcPort=9091, performerNetworkName="hourglass")
        d["operator"]["signingKeys"]["bls"] = {"keystoreFile": "/keys/bls.json", "password": BLS_PASSWORD}
        performer(d)["kubernetes"] = {"serviceAccountName": "perf", "endpointOverride": "localhost:8080"}
        d["kubernetes"].update(
            operatorNamespace="ops",
            crdGroup="hourglass.eigenlayer.io",
            crdVersion="v1alpha1",
            connectionTimeout="10s",
        )
        d["storage"] = {"type": "badger", "badger": {"dir": "/data", "valueLogFileSize": 1 << 20}}
        d["authentication"] = {"enabled": True}

    config = parse_config(changed(edit))
    assert config.debug and config.management_port == 9091
    assert config.operator.signing_keys.bls is not None
    assert config.operator.signing_keys.bls.password.get_secret_value() == BLS_PASSWORD


def test_keystores_and_password_sources_are_accepted():
    def edit(d: dict[str, Any]) -> None:
        d["operator"]["signingKeys"] = {
            "ecdsa": {"keystoreFile": "/keys/ecdsa.json", "passwordFile": "/keys/ecdsa.password"},
            "bls": {"keystore": '{"crypto": {}}', "passwordEnv": "BLS_PASSWORD"},
        }

    keys = parse_config(changed(edit)).operator.signing_keys
    assert keys.ecdsa.keystore_file == "/keys/ecdsa.json" and keys.ecdsa.private_key is None
    assert keys.ecdsa.password_file == "/keys/ecdsa.password" and keys.ecdsa.password is None
    assert keys.bls.keystore.get_secret_value() == '{"crypto": {}}'
    assert keys.bls.password_env == "BLS_PASSWORD" and keys.bls.password is None


def test_executor_id_defaults_to_a_hash_of_the_operator_address():
    config = parse_config(changed(lambda d: None))
    # sha256("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"), first 8 hex digits
    assert config.executor_id is None
    assert (
        config.owner_id
        == "executor-" + hashlib.sha256(config.operator.address.lower().encode()).hexdigest()[:8]
    )
    assert re.fullmatch(r"executor-[0-9a-f]{8}", config.owner_id)
    # The case of the configured address does not change the id (it must survive an edit of the file).
    upper = parse_config(changed(lambda d: d["operator"].update(address=d["operator"]["address"].lower())))
    assert upper.owner_id == config.owner_id
    assert parse_config(changed(lambda d: d.update(executorId="avs-a.executor_1"))).owner_id == (
        "avs-a.executor_1"
    )


def test_added_keys_and_their_defaults():
    config = parse_config(changed(lambda d: None))
    assert config.task_timeout == timedelta(seconds=30)
    assert config.shutdown_timeout == timedelta(seconds=30)
    assert config.log_format == "json"
    assert config.kubernetes is not None and config.kubernetes.endpoint_resolver is None

    def edit(d: dict[str, Any]) -> None:
        d.update(taskTimeout="2m", shutdownTimeout="5s", logFormat="text")
        d["kubernetes"]["endpointResolver"] = "tests.support.local_performers:resolve"

    config = parse_config(changed(edit))
    assert config.task_timeout == timedelta(minutes=2)
    assert config.shutdown_timeout == timedelta(seconds=5)
    assert config.log_format == "text"
    assert config.kubernetes is not None
    assert config.kubernetes.endpoint_resolver == "tests.support.local_performers:resolve"


# --- storage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "path"),
    [
        (
            {"type": "badger", "badger": {"dir": "/var/lib/executor"}},
            "/var/lib/executor/hourglass-executor.sqlite3",
        ),
        ({"type": "badger", "badger": {"dir": "/data", "inMemory": True}}, None),
        ({"type": "sqlite", "sqlite": {"path": "/db/x.sqlite3"}}, "/db/x.sqlite3"),
        ({"type": "memory"}, None),
        ({"type": "memory", "badger": {"dir": "/unused"}}, None),  # upstream tolerates the unused block
        (None, None),
    ],
)
def test_storage_maps_badger_to_sqlite(storage, path):
    config = parse_config(changed(lambda d: d.update(storage=storage) if storage else None))
    assert config.storage.sqlite_path() == (Path(path) if path else None)


def test_in_memory_badger_needs_no_dir_and_opens_the_memory_store(tmp_path, capsys):
    """`badger.inMemory: true` is the memory store, as documented and as upstream accepts it: no
    `dir` is asked for, none is checked or created, and the store opened is the memory one."""
    storage = {"type": "badger", "badger": {"inMemory": True}}
    config = parse_config(changed(lambda d: d.update(storage=storage)))
    assert config.storage.sqlite_path() is None
    store = open_store(config.storage)
    try:
        assert isinstance(store, MemoryStore)
        assert store.claim_task("t1", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8") is True
    finally:
        store.close()
    check_store(config.storage)  # nothing to check: no file

    good = tmp_path / "in-memory.yaml"
    good.write_text(changed(lambda d: d.update(storage=storage)))
    assert cli.main(["validate", "--config-only", "--config", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: valid; ") and err == ""
    assert list(tmp_path.iterdir()) == [good]


# --- one problem, one exact line ------------------------------------------------------------------


def _second_performer(d: dict[str, Any], **fields: Any) -> None:
    other = copy.deepcopy(performer(d))
    other.update({"avsAddress": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", **fields})
    d["avsPerformers"].append(other)


INVALID: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("missing tag", lambda d: performer(d)["image"].pop("tag"), "avsPerformers[0].image.tag: required"),
    (
        "null tag counts as not set",
        lambda d: performer(d)["image"].update(tag=None),
        "avsPerformers[0].image.tag: required",
    ),
    (
        "bad operator address",
        lambda d: d["operator"].update(address="0x12"),
        "operator.address: must be an Ethereum address: 0x followed by 40 hexadecimal digits",
    ),
    (
        "bad avs address",
        lambda d: performer(d).update(avsAddress="0x" + "zz" * 20),
        "avsPerformers[0].avsAddress: must be an Ethereum address: 0x followed by 40 hexadecimal digits",
    ),
    (
        "mixed deployment modes",
        lambda d: _second_performer(d, deploymentMode="docker", envs=[]),
        MIXED,
    ),
    (
        "kubernetes block missing",
        lambda d: d.pop("kubernetes"),
        "kubernetes: required when deploymentMode is kubernetes",
    ),
    (
        "kubeConfigPath with inCluster",
        lambda d: d["kubernetes"].update(inCluster=True),
        "kubernetes.kubeConfigPath: must not be set when inCluster is true",
    ),
    (
        "env with two sources",
        lambda d: performer(d)["envs"][0].update(valueFromEnv="HOST_LEVEL"),
        TWO_SOURCES,
    ),
    (
        "env without a source",
        lambda d: performer(d)["envs"][0].pop("value"),
        "avsPerformers[0].envs[0]: set exactly one of value, valueFromEnv, kubernetesEnv (found: none)",
    ),
    (
        "env with secret and config map refs",
        lambda d: performer(d)["envs"][1]["kubernetesEnv"]["valueFrom"].update(
            configMapKeyRef={"name": "cm", "key": "k"}
        ),
        "avsPerformers[0].envs[1].kubernetesEnv.valueFrom: set exactly one of secretKeyRef, configMapKeyRef",
    ),
    (
        "kubernetesEnv in docker mode",
        lambda d: performer(d).update(deploymentMode="docker"),
        "avsPerformers[0].envs[1].kubernetesEnv: only supported with deploymentMode kubernetes",
    ),
    (
        "duplicate env name",
        lambda d: performer(d)["envs"][1].update(name="LOG_LEVEL"),
        "avsPerformers[0].envs[1].name: duplicate of envs[0].name",
    ),
    (
        "env name with =",
        lambda d: performer(d)["envs"][0].update(name="A=B"),
        "avsPerformers[0].envs[0].name: must be a non-empty name of printable ASCII characters without '='",
    ),
    (
        "duplicate avs address in another case",
        lambda d: _second_performer(d, avsAddress="0x70997970c51812dc3a010c7d01b50e0d17dc79c8"),
        "avsPerformers[1].avsAddress: duplicate of avsPerformers[0].avsAddress",
    ),
    ("misspelt key", lambda d: d.update(grpcPrt=1), 'grpcPrt: unknown key; did you mean "grpcPort"?'),
    (
        "key in the wrong case",
        lambda d: performer(d)["image"].update(Tag="v1"),
        'avsPerformers[0].image.Tag: unknown key; did you mean "tag"?',
    ),
    (
        "unknown key without a close match",
        lambda d: performer(d).update(kubernetes={"replicas": 3}),
        "avsPerformers[0].kubernetes.replicas: unknown key; "
        "expected one of: serviceAccountName, endpointOverride",
    ),
    ("port zero", lambda d: d.update(grpcPort=0), "grpcPort: must be a port number (1-65535)"),
    ("port too large", lambda d: d.update(grpcPort=70000), "grpcPort: must be a port number (1-65535)"),
    ("port not a number", lambda d: d.update(grpcPort="http"), "grpcPort: must be a port number (1-65535)"),
    ("port as boolean", lambda d: d.update(grpcPort=True), "grpcPort: must be a port number (1-65535)"),
    (
        "negative management port",
        lambda d: d.update(managementServerGrpcPort=-1),
        "managementServerGrpcPort: must be a port number (1-65535), or 0 to share the grpcPort server",
    ),
    (
        "bad storage type",
        lambda d: d.update(storage={"type": "redis"}),
        "storage.type: must be 'memory', 'badger' or 'sqlite'",
    ),
    (
        "sqlite without path",
        lambda d: d.update(storage={"type": "sqlite"}),
        "storage.sqlite.path: required when type is sqlite",
    ),
    (
        "sqlite block without type sqlite",
        lambda d: d.update(storage={"sqlite": {"path": "/db"}}),
        "storage.sqlite: only used with type sqlite (type is memory)",
    ),
    (
        "badger without dir",
        lambda d: d.update(storage={"type": "badger", "badger": {"inMemory": False}}),
        "storage.badger.dir: required when type is badger (unless inMemory is true)",
    ),
    (
        "badger without its block",
        lambda d: d.update(storage={"type": "badger"}),
        "storage.badger.dir: required when type is badger (unless inMemory is true)",
    ),
    (
        "remote signer without its config",
        lambda d: d["operator"].update(operatorPrivateKey={"remoteSigner": True}),
        "operator.operatorPrivateKey.remoteSignerConfig: required when remoteSigner is true",
    ),
    (
        "no private key",
        lambda d: d["operator"]["signingKeys"]["ecdsa"].pop("privateKey"),
        "operator.signingKeys.ecdsa: set exactly one of privateKey, keystore, keystoreFile unless "
        "remoteSigner is true (found: none)",
    ),
    (
        "private key and keystore file",
        lambda d: d["operator"]["signingKeys"]["ecdsa"].update(keystoreFile="/keys/ecdsa.json"),
        "operator.signingKeys.ecdsa: set exactly one of privateKey, keystore, keystoreFile unless "
        "remoteSigner is true (found: privateKey, keystoreFile)",
    ),
    (
        "a password for an inline private key",
        lambda d: d["operator"]["signingKeys"]["ecdsa"].update(passwordEnv="ECDSA_PASSWORD"),
        "operator.signingKeys.ecdsa.passwordEnv: only used with keystore or keystoreFile",
    ),
    (
        "two password sources",
        lambda d: d["operator"]["signingKeys"].update(
            bls={"keystoreFile": "/k.json", "password": "x", "passwordEnv": "BLS_PASSWORD"}
        ),
        "operator.signingKeys.bls: set at most one of password, passwordFile, passwordEnv "
        "(found: password, passwordEnv)",
    ),
    (
        "a remote signer and a keystore",
        lambda d: d["operator"]["signingKeys"].update(
            ecdsa={
                "remoteSigner": True,
                "keystoreFile": "/k.json",
                "remoteSignerConfig": {
                    "url": "http://signer:9000",
                    "fromAddress": "0x" + "11" * 20,
                    "publicKey": "0x04",
                },
            }
        ),
        "operator.signingKeys.ecdsa.keystoreFile: must not be set when remoteSigner is true",
    ),
    (
        "no signing key",
        lambda d: d["operator"].update(signingKeys={}),
        "operator.signingKeys: at least one of bls, ecdsa is required",
    ),
    (
        "bls keystore and keystoreFile",
        lambda d: d["operator"]["signingKeys"].update(bls={"keystore": "{}", "keystoreFile": "/k.json"}),
        "operator.signingKeys.bls: set exactly one of keystore, keystoreFile",
    ),
    (
        "bare number timeout",
        lambda d: d["kubernetes"].update(connectionTimeout=30),
        'kubernetes.connectionTimeout: must be a duration such as "30s", "5m" or "1m30s" '
        '(a bare number is not accepted: upstream reads it as nanoseconds; write "30s")',
    ),
    (
        "bad duration",
        lambda d: d["kubernetes"].update(readyTimeout="soon"),
        'kubernetes.readyTimeout: must be a duration such as "30s", "5m" or "1m30s"',
    ),
    (
        "repository with a tag",
        lambda d: performer(d)["image"].update(repository="ghcr.io/example/performer:v2"),
        "avsPerformers[0].image.repository: "
        "must not include a tag or digest (use image.tag and image.digest)",
    ),
    (
        "bad digest",
        lambda d: performer(d)["image"].update(digest="latest"),
        "avsPerformers[0].image.digest: must be an image digest such as sha256:<64 hex digits>",
    ),
    (
        "bad deployment mode",
        lambda d: performer(d).update(deploymentMode="helm"),
        "avsPerformers[0].deploymentMode: must be 'docker' or 'kubernetes'",
    ),
    (
        "bad process type",
        lambda d: performer(d).update(processType="process"),
        "avsPerformers[0].processType: must be 'server'",
    ),
    (
        "bad namespace",
        lambda d: d["kubernetes"].update(namespace="AVS_Performers"),
        "kubernetes.namespace: must be a DNS-1123 label (lower-case alphanumerics and '-')",
    ),
    (
        "client certificate without key",
        lambda d: d["kubernetes"].update(tls={"enabled": True, "certFile": "/tls/crt"}),
        "kubernetes.tls.keyFile: required with certFile",
    ),
    (
        "static chain reader without file",
        lambda d: d.update(chain={"type": "static"}),
        "chain.file: required when type is static",
    ),
    (
        "unknown chain id without contracts",
        lambda d: d["l1Chain"].update(chainId=5),
        "chain.contracts: required: l1Chain.chainId 5 is not a network with default contract addresses "
        "(1 (mainnet), 11155111 (sepolia), 8453 (base), 84532 (base-sepolia), 31337 (anvil)); give "
        "allocationManager, keyRegistrar, taskMailbox, bn254CertificateVerifier, ecdsaCertificateVerifier",
    ),
    (
        "an L2 without its L1 contracts",
        lambda d: (
            d["l1Chain"].update(chainId=8453),
            d.update(chain={"contracts": {"keyRegistrar": "0x" + "11" * 20}}),
        ),
        "chain.contracts.allocationManager: required: base (chain id 8453) has no default address",
    ),
    (
        "a contract address malformed",
        lambda d: d.update(chain={"contracts": {"taskMailbox": "0x12"}}),
        "chain.contracts.taskMailbox: must be an Ethereum address: 0x followed by 40 hexadecimal digits",
    ),
    (
        "an unknown contract key",
        lambda d: d.update(chain={"contracts": {"mailbox": "0x" + "11" * 20}}),
        'chain.contracts.mailbox: unknown key; did you mean "taskMailbox"?',
    ),
    (
        "contracts for the static reader",
        lambda d: d.update(chain={"type": "static", "file": "c.yaml", "contracts": {}}),
        "chain.contracts: only used with type rpc",
    ),
    (
        "a websocket URL for the rpc reader",
        lambda d: d["l1Chain"].update(rpcUrl="wss://eth.example/ws"),
        "l1Chain.rpcUrl: chain.type rpc reads over HTTP: give an http(s):// URL",
    ),
    (
        "chain timeout bare number",
        lambda d: d.update(chain={"timeout": 5}),
        'chain.timeout: must be a duration such as "30s", "5m" or "1m30s" '
        '(a bare number is not accepted: upstream reads it as nanoseconds; write "30s")',
    ),
    (
        "chain retries negative",
        lambda d: d.update(chain={"retries": -1}),
        "chain.retries: must be a number of retries from 0 to 1000",
    ),
    ("l1Chain missing", lambda d: d.pop("l1Chain"), "l1Chain: required"),
    (
        "rpcUrl not a URL",
        lambda d: d["l1Chain"].update(rpcUrl="localhost:8545"),
        "l1Chain.rpcUrl: must be an http(s):// or ws(s):// URL",
    ),
    ("chainId zero", lambda d: d["l1Chain"].update(chainId=0), "l1Chain.chainId: must be a positive integer"),
    ("performers not a list", lambda d: d.update(avsPerformers={"a": 1}), "avsPerformers: must be a list"),
    (
        "image not a mapping",
        lambda d: performer(d).update(image="nginx:1"),
        "avsPerformers[0].image: must be a mapping",
    ),
    (
        "endpointOverride without port",
        lambda d: performer(d).update(kubernetes={"endpointOverride": "localhost"}),
        "avsPerformers[0].kubernetes.endpointOverride: must be host:port (for example localhost:9090)",
    ),
    (
        "authentication flag not a boolean",
        lambda d: d.update(authentication={"enabled": "sometimes"}),
        "authentication.enabled: must be true or false",
    ),
    (
        "executorId not a label value",
        lambda d: d.update(executorId="executor/a"),
        "executorId: must be a Kubernetes label value: 1-63 of [A-Za-z0-9-_.], "
        "starting and ending with a letter or digit",
    ),
    (
        "executorId too long",
        lambda d: d.update(executorId="e" * 64),
        "executorId: must be a Kubernetes label value: 1-63 of [A-Za-z0-9-_.], "
        "starting and ending with a letter or digit",
    ),
    (
        "executorId ends with a dash",
        lambda d: d.update(executorId="executor-"),
        "executorId: must be a Kubernetes label value: 1-63 of [A-Za-z0-9-_.], "
        "starting and ending with a letter or digit",
    ),
    (
        "endpointResolver without a callable",
        lambda d: d["kubernetes"].update(endpointResolver="mypackage.endpoints"),
        'kubernetes.endpointResolver: must be "module:callable", e.g. "mypackage.endpoints:resolve"',
    ),
    (
        "endpointResolver with a path",
        lambda d: d["kubernetes"].update(endpointResolver="/tmp/x.py:resolve"),
        'kubernetes.endpointResolver: must be "module:callable", e.g. "mypackage.endpoints:resolve"',
    ),
    (
        "taskTimeout bare number",
        lambda d: d.update(taskTimeout=30),
        'taskTimeout: must be a duration such as "30s", "5m" or "1m30s" '
        '(a bare number is not accepted: upstream reads it as nanoseconds; write "30s")',
    ),
    (
        "shutdownTimeout zero",
        lambda d: d.update(shutdownTimeout="0s"),
        "shutdownTimeout: must be a positive duration",
    ),
    ("logFormat unknown", lambda d: d.update(logFormat="xml"), "logFormat: must be 'json' or 'text'"),
    (
        "chain timeout under a millisecond",  # 1ns was timedelta(0): every read failed unsent
        lambda d: d.update(chain={"timeout": "1ns"}),
        "chain.timeout: must be at least 1ms",
    ),
    ("taskTimeout 999us", lambda d: d.update(taskTimeout="999us"), "taskTimeout: must be at least 1ms"),
    (
        "taskTimeout too large",  # was an OverflowError out of the validator
        lambda d: d.update(taskTimeout="9999999999999h"),
        "taskTimeout: too large: at most 2562047h47m16.854775807s (the longest Go duration)",
    ),
    (
        "readyTimeout beyond a float",
        lambda d: d["kubernetes"].update(readyTimeout="1" + "0" * 400 + "s"),
        "kubernetes.readyTimeout: too large: at most 2562047h47m16.854775807s (the longest Go duration)",
    ),
    (
        "unknown chain id quoted",  # the model reads "5" as 5: the contracts rule must too
        lambda d: d["l1Chain"].update(chainId="5"),
        "chain.contracts: required: l1Chain.chainId 5 is not a network with default contract addresses "
        "(1 (mainnet), 11155111 (sepolia), 8453 (base), 84532 (base-sepolia), 31337 (anvil)); give "
        "allocationManager, keyRegistrar, taskMailbox, bn254CertificateVerifier, ecdsaCertificateVerifier",
    ),
    (
        "chain.retries beyond 1000",  # 1025 overflowed the back-off's float
        lambda d: d.update(chain={"retries": 1025}),
        "chain.retries: must be a number of retries from 0 to 1000",
    ),
    (
        "metricsPort equal to grpcPort",
        lambda d: d.update(metricsPort=9090),
        "metricsPort: must differ from grpcPort (both are 9090): the metrics HTTP server needs a port "
        "of its own",
    ),
    (
        "metricsPort equal to the default grpcPort",
        lambda d: (d.pop("grpcPort"), d.update(metricsPort="9090")),
        "metricsPort: must differ from grpcPort (both are 9090): the metrics HTTP server needs a port "
        "of its own",
    ),
    (
        "metricsPort equal to managementServerGrpcPort",
        lambda d: d.update(managementServerGrpcPort=9091, metricsPort=9091),
        "metricsPort: must differ from managementServerGrpcPort (both are 9091): the metrics HTTP server "
        "needs a port of its own",
    ),
    (
        "GRPC_PORT set by the user in kubernetes mode",
        lambda d: performer(d)["envs"].append({"name": "GRPC_PORT", "value": "9999"}),
        "avsPerformers[0].envs[2].name: GRPC_PORT is set by the executor for every performer in "
        "kubernetes mode (to the AVS address and the performer's gRPC port); remove this entry",
    ),
    (
        "AVS_ADDRESS from a Secret in kubernetes mode",
        lambda d: performer(d)["envs"].__setitem__(1, {**performer(d)["envs"][1], "name": "AVS_ADDRESS"}),
        "avsPerformers[0].envs[1].name: AVS_ADDRESS is set by the executor for every performer in "
        "kubernetes mode (to the AVS address and the performer's gRPC port); remove this entry",
    ),
    (
        "more literal envs than the Performer CRD holds",
        lambda d: performer(d).update(envs=[{"name": f"V{i}", "value": "x"} for i in range(255)]),
        "avsPerformers[0].envs: at most 254 entries with value or valueFromEnv (found 255): the "
        "Performer CRD allows 256 variables and the executor sets AVS_ADDRESS, GRPC_PORT",
    ),
    (
        "more kubernetesEnv entries than the Performer CRD holds",
        lambda d: performer(d).update(
            envs=[
                {"name": f"V{i}", "kubernetesEnv": performer(d)["envs"][1]["kubernetesEnv"]}
                for i in range(65)
            ]
        ),
        "avsPerformers[0].envs: at most 64 entries with kubernetesEnv (found 65): the Performer CRD's limit",
    ),
    (
        "env name beyond the Performer CRD's 253 characters",
        lambda d: performer(d)["envs"][1].update(name="N" * 254),
        "avsPerformers[0].envs[1].name: must be at most 253 characters (the Performer CRD's limit)",
    ),
    (
        "serviceAccountName beyond 253 characters",
        lambda d: performer(d).update(kubernetes={"serviceAccountName": "a" * 254}),
        "avsPerformers[0].kubernetes.serviceAccountName: must be a DNS-1123 subdomain (lower-case "
        "alphanumerics, '-' and '.'; at most 253 characters)",
    ),
    (
        "secretKeyRef.name beyond 253 characters",
        lambda d: performer(d)["envs"][1]["kubernetesEnv"]["valueFrom"]["secretKeyRef"].update(
            name="s" * 254
        ),
        "avsPerformers[0].envs[1].kubernetesEnv.valueFrom.secretKeyRef.name: must be a DNS-1123 subdomain "
        "(lower-case alphanumerics, '-' and '.'; at most 253 characters)",
    ),
    (
        "image repository beyond the Performer CRD's 4096 characters",
        lambda d: performer(d)["image"].update(repository="registry.example/" + "a" * 4080),
        "avsPerformers[0].image.repository: must be at most 4096 characters (the Performer CRD's limit)",
    ),
    (
        "image reference beyond the Performer CRD's 4096 characters",
        lambda d: performer(d)["image"].update(repository="registry.example/" + "a" * 4075),
        "avsPerformers[0].image: the image reference (repository:tag, or repository@digest) must be at "
        "most 4096 characters (the Performer CRD's limit)",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_each_invalid_config_reports_its_line(change, expected):
    assert problems_of(changed(change)) == [expected]


def test_an_image_reference_of_exactly_the_crds_length_is_taken_and_one_more_is_not():
    """repository + ':' + tag counted as the Performer's spec.image holds them (4096 at most)."""
    prefix, tag = "registry.example/", "v1.0.0"
    at_limit = "a" * (4096 - len(prefix) - 1 - len(tag))

    def with_repository(repository: str):
        return lambda d: performer(d)["image"].update(repository=repository, tag=tag)

    parse_config(changed(with_repository(prefix + at_limit)))  # no ConfigError
    [problem] = problems_of(changed(with_repository(prefix + at_limit + "a")))
    assert problem.startswith("avsPerformers[0].image: the image reference (repository:tag")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "grpcPort: 9090\noperator: {address: x\n",
            "line 3, column 1: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        (
            "grpcPort: 9090\n  debug: true\n",
            "line 2, column 8: invalid YAML: mapping values are not allowed here",
        ),
        ("- grpcPort\n- 9090\n", "<document>: must be a mapping of settings, not a list"),
        ("just text\n", "<document>: must be a mapping of settings, not a str"),
        ("", "<document>: empty; expected a mapping of settings"),
        ("# only a comment\n", "<document>: empty; expected a mapping of settings"),
        (
            "a: 1\n---\nb: 2\n",
            "line 2, column 1: invalid YAML: "
            "expected a single document in the stream, but found another document",
        ),
    ],
)
def test_document_problems(text, expected):
    assert problems_of(text) == [expected]


def test_unquoted_hex_is_explained():
    # YAML 1.1 reads an unquoted 0x... as an integer.
    text = changed(lambda d: None).replace(
        "address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'",
        "address: 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    )
    assert "address: 0xf39F" in text
    assert problems_of(text) == [
        "operator.address: must be a string (YAML read a number here; quote the value)"
    ]


def test_unquoted_numeric_tag_is_explained():
    text = changed(lambda d: None).replace("tag: v1.0.0", "tag: 1.20")
    assert problems_of(text) == [
        "avsPerformers[0].image.tag: must be a string (YAML read a number here; quote the value)"
    ]


NUL_PATHS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "keystoreFile",
        lambda d: d["operator"]["signingKeys"].update(ecdsa={"keystoreFile": "/keys/a\0b"}),
        "operator.signingKeys.ecdsa.keystoreFile",
    ),
    (
        "passwordFile",
        lambda d: d["operator"]["signingKeys"].update(
            bls={"keystoreFile": "/keys/bls.json", "passwordFile": "/keys/a\0b"}
        ),
        "operator.signingKeys.bls.passwordFile",
    ),
    (
        "chain.file",
        lambda d: d.update(chain={"type": "static", "file": "/etc/a\0b"}),
        "chain.file",
    ),
    (
        "storage.sqlite.path",  # passed validate, then `run` stopped with a traceback
        lambda d: d.update(storage={"type": "sqlite", "sqlite": {"path": "/data/a\0b"}}),
        "storage.sqlite.path",
    ),
    (
        "badger.dir",
        lambda d: d.update(storage={"type": "badger", "badger": {"dir": "\0"}}),
        "storage.badger.dir",
    ),
    ("kubeConfigPath", lambda d: d["kubernetes"].update(kubeConfigPath="/a\0b"), "kubernetes.kubeConfigPath"),
    (
        "tls caFile",
        lambda d: d["kubernetes"].update(tls={"enabled": True, "caFile": "/a\0b"}),
        "kubernetes.tls.caFile",
    ),
]


@pytest.mark.parametrize(
    ("change", "key"), [(c, k) for _, c, k in NUL_PATHS], ids=[n for n, _, _ in NUL_PATHS]
)
def test_a_path_with_a_nul_character_is_refused_naming_its_key(change, key):
    # Was "ValueError: embedded null byte" out of the file's open, a traceback.
    assert problems_of(changed(change)) == [f"{key}: must not contain a NUL character"]


def test_integers_beyond_a_uint256_are_refused_naming_the_key():
    # More than 4300 digits was a ValueError out of PyYAML (an integer) or out of the chain
    # contracts rule (a quoted one): a traceback instead of a problem.
    too_large = "l1Chain.chainId: must be a positive integer of at most 2^256 - 1 (a uint256)"
    text = changed(lambda d: None)
    assert "chainId: 31337\n" in text
    for digits in (f"{2**256}", "9" * 5000, f"'{'9' * 5000}'", f"'{2**256}'", "0x" + "f" * 5000):
        assert problems_of(text.replace("chainId: 31337\n", f"chainId: {digits}\n")) == [too_large]
    largest = text.replace("chainId: 31337\n", f"chainId: '{'0' * 5000}{2**256 - 1}'\n")
    assert problems_of(largest)[0].startswith(f"chain.contracts: required: l1Chain.chainId {2**256 - 1} ")
    assert problems_of(text.replace("grpcPort: 9090", "grpcPort: " + "9" * 5000)) == [
        "grpcPort: must be a port number (1-65535)"
    ]
    assert problems_of(changed(lambda d: d.update(chain={"retries": "9" * 5000}))) == [
        "chain.retries: must be a number of retries from 0 to 1000"
    ]
    assert problems_of(text.replace("tag: v1.0.0", "tag: " + "1" * 5000)) == [
        "avsPerformers[0].image.tag: must be a string (YAML read a number here; quote the value)"
    ]
    # PyYAML's other ValueError: a binary or hexadecimal integer without digits.
    assert problems_of(text.replace("grpcPort: 9090", "grpcPort: 0b_")) == [
        "line 1, column 11: invalid YAML: an integer without digits (quote it if it is a string)"
    ]


def test_duplicate_keys_are_reported_with_their_line():
    text = changed(lambda d: None) + "grpcPort: 9091\n"
    line = len(text.splitlines())
    assert problems_of(text) == [f'line {line}, column 1: duplicate key "grpcPort"']


def test_merge_keys_are_not_duplicates():
    text = changed(lambda d: None) + textwrap.dedent(
        """\
        authentication: &auth {enabled: false}
        storage:
          <<: {type: sqlite}
          type: memory
        """
    )
    assert parse_config(text).storage.type == "memory"


def test_every_problem_is_listed_in_document_order():
    text = textwrap.dedent(
        """\
        grpcPort: 0
        debgu: true
        operator:
          address: "0x12"
          operatorPrivateKey: {remoteSigner: true}
          signingKeys: {}
        l1Chain: {rpcUrl: "http://localhost:8545"}
        avsPerformers:
          - avsAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            deploymentMode: kubernetes
            image: {repository: ghcr.io/x/y}
            envs:
              - {name: A, value: "1", valueFromEnv: B}
          - avsAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            deploymentMode: docker
        storage: {type: sqlite}
        """
    )
    assert problems_of(text) == [
        "grpcPort: must be a port number (1-65535)",
        'debgu: unknown key; did you mean "debug"?',
        "operator.address: must be an Ethereum address: 0x followed by 40 hexadecimal digits",
        "operator.operatorPrivateKey.remoteSignerConfig: required when remoteSigner is true",
        "operator.signingKeys: at least one of bls, ecdsa is required",
        "l1Chain.chainId: required",
        MIXED,
        "avsPerformers[0].image.tag: required",
        TWO_SOURCES,
        "avsPerformers[1].avsAddress: duplicate of avsPerformers[0].avsAddress",
        "storage.sqlite.path: required when type is sqlite",
        "kubernetes: required when deploymentMode is kubernetes",
    ]


def test_load_config_names_an_unreadable_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value) == f"{missing}: cannot be read: No such file or directory"
    assert caught.value.source == str(missing)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"binary\.yaml: cannot be read: not UTF-8 text$"):
        load_config(binary)


# --- secrets --------------------------------------------------------------------------------------


def _with_secrets(d: dict[str, Any]) -> None:
    d["operator"]["signingKeys"]["bls"] = {"keystore": '{"crypto": "k"}', "password": BLS_PASSWORD}
    d["operator"]["operatorPrivateKey"] = {"keystore": '{"crypto": "e"}', "password": BLS_PASSWORD + "-e"}


SECRETS = (
    PRIVATE_KEY,
    PRIVATE_KEY[2:],
    BLS_PASSWORD,
    RPC_URL,
    "api-key-0123456789",
    '{"crypto": "k"}',
    '{"crypto": "e"}',
)


def test_secrets_stay_out_of_repr_and_str():
    config = parse_config(changed(_with_secrets))
    shown = repr(config) + str(config) + config.model_dump_json() + repr(config.model_dump())
    for secret in SECRETS:
        assert secret not in shown


def test_env_values_stay_out_of_repr():
    config = parse_config(changed(lambda d: None))
    assert "debug" not in repr(config.avs_performers[0].envs[0])
    assert config.avs_performers[0].envs[0].value == "debug"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["operator"]["operatorPrivateKey"].update(privateKey="hunter2-not-hex"),
        lambda d: d["operator"]["operatorPrivateKey"].update(privateKey=PRIVATE_KEY + "00"),
        lambda d: d["operator"]["signingKeys"].update(
            bls={"keystore": "k", "password": ["correct-horse-battery-staple"]}
        ),
        lambda d: d["l1Chain"].update(rpcUrl=RPC_URL.replace("https", "ftp")),
        lambda d: d["operator"]["operatorPrivateKey"].update(privateKey=PRIVATE_KEY, extra=PRIVATE_KEY),
    ],
)
def test_secrets_stay_out_of_errors(change):
    with pytest.raises(ConfigError) as caught:
        parse_config(changed(change))
    error = caught.value
    text = str(error) + repr(error)
    for secret in (*SECRETS, "hunter2-not-hex", PRIVATE_KEY + "00"):
        assert secret not in text
    # Nothing chained that a traceback would print (pydantic's own errors quote the input).
    assert error.__cause__ is None and error.__context__ is None


def test_yaml_error_does_not_quote_the_line():
    text = f"operator:\n  operatorPrivateKey: {{privateKey: {PRIVATE_KEY}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert PRIVATE_KEY not in str(caught.value)
    assert str(caught.value).startswith("line ")


# --- the command line -----------------------------------------------------------------------------


def test_cli_validate_and_run(tmp_path, capsys, restore_logging):
    good = tmp_path / "good.yaml"
    good.write_text(changed(_with_secrets))

    assert cli.main(["validate", "--config-only", "--config", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(
        f"{good}: valid; operator 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266; 1 performer, "
    )
    assert out.endswith("(the file only: what it points to on this machine was not checked)\n")
    assert err == ""

    # The file is valid, but what it points to is not there: the BLS keystore and the
    # operatorPrivateKey keystore of this file are placeholders and its kubeconfig does not exist.
    # `validate` says so (without secrets) ...
    assert cli.main(["validate", "--config", str(good)]) == 2
    out, err = capsys.readouterr()
    header, *problems = err.splitlines()
    assert (out, header) == ("", f"{good}: invalid executor configuration:")
    assert problems[0].startswith("operator.signingKeys.bls.keystore: not an EIP-2335 keystore")
    assert problems[1].startswith("operator.operatorPrivateKey.keystore: not an Ethereum v3 keystore")
    assert problems[2].startswith("kubernetes: cannot create the Kubernetes client: ")
    assert len(problems) == 3
    for secret in SECRETS:
        assert secret not in err

    # ... and `run` starts for real (the chain reader, JSON-RPC, is built without a round trip), stops
    # at once with exit code 1 and says the same, in JSON lines without secrets (the RPC URL included).
    assert cli.main(["run", "--config", str(good)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = [json.loads(line) for line in err.splitlines()]
    assert lines[0]["msg"] == "starting"
    assert "kubernetes mode in namespace avs" in lines[0]["config"]
    failure = next(line for line in lines if line["msg"] == "cannot start")
    assert failure["level"] == "error"
    assert failure["reason"] == "; ".join(problems)
    for secret in SECRETS:
        assert secret not in err


def test_cli_invalid_config_exits_2_listing_every_problem(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(changed(lambda d: (d.update(grpcPort=0), performer(d)["image"].pop("tag"))))
    for command in ("validate", "run"):
        assert cli.main([command, "--config", str(bad)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.splitlines() == [
            f"{bad}: invalid executor configuration:",
            "grpcPort: must be a port number (1-65535)",
            "avsPerformers[0].image.tag: required",
        ]


def test_cli_validate_config_only_reports_a_huge_duration_and_a_quoted_chain_id(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        changed(lambda d: (d["l1Chain"].update(chainId="5"), d.update(taskTimeout="9999999999999h")))
    )
    assert cli.main(["validate", "--config-only", "--config", str(bad)]) == 2
    out, err = capsys.readouterr()
    header, *problems = err.splitlines()
    assert (out, header) == ("", f"{bad}: invalid executor configuration:")
    assert sorted(line.split(":")[0] for line in problems) == ["chain.contracts", "taskTimeout"]


def test_cli_validate_refuses_what_run_refuses_about_the_chain(tmp_path, capsys, request):
    unknown_chain = tmp_path / "unknown-chain.yaml"
    unknown_chain.write_text(changed(lambda d: d["l1Chain"].update(chainId=5)))
    assert cli.main(["validate", "--config", str(unknown_chain)]) == 2
    assert "chain.contracts: required: l1Chain.chainId 5" in capsys.readouterr().err

    api = FakeKubeServer().__enter__()  # serves Performers and allows the executor's calls
    request.addfinalizer(lambda: api.__exit__(None, None, None))
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")

    def static_chain(file: Path | str) -> str:
        return changed(
            lambda d: (
                d.update(chain={"type": "static", "file": str(file)}),
                d["kubernetes"].update(kubeConfigPath=str(kubeconfig)),
            )
        )

    chain_file = tmp_path / "chain.yaml"
    chain_file.write_text("chainId: 31337\navss: []\necdsaCertificateVerifier: {name: EigenLayer}\n")
    static = tmp_path / "static.yaml"
    static.write_text(static_chain(chain_file))
    assert cli.main(["validate", "--config", str(static)]) == 2
    err = capsys.readouterr().err
    assert f"chain.file: {chain_file}: ecdsaCertificateVerifier.name: not accepted" in err

    chain_file.write_text("chainId: 31337\navss: []\n")
    assert cli.main(["validate", "--config", str(static)]) == 0
    assert capsys.readouterr().out.startswith(f"{static}: valid;")

    # A chain file that is not on this machine is what `run` would stop at here; `--config-only` is
    # for a configuration that runs elsewhere.
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(static_chain("/etc/x/chain.yaml"))
    assert cli.main(["validate", "--config", str(elsewhere)]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [
        "chain.file: cannot read /etc/x/chain.yaml: No such file or directory"
    ]
    assert cli.main(["validate", "--config-only", "--config", str(elsewhere)]) == 0
    assert capsys.readouterr().out.startswith(f"{elsewhere}: valid;")
