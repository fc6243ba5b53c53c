"""`hourglass-executor validate` refuses every configuration `run` refuses at start-up, with the same
message: one case per refusal of what the configuration points to on the executor's machine (store,
static chain file, signing keys and passwords, `valueFromEnv` variables, Kubernetes client
configuration, endpoint resolver) and of the Kubernetes API server it uses (a fake one here:
unreachable, the Performer CRD not served, a verb not allowed). Both sides run the real command
(`cli.main`): `validate` prints
the problem and exits 2; `run` logs it as `cannot start` and exits 1."""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hourglass_executor import cli

from tests.support.aggregator import chain_document
from tests.support.executor_harness import config_data
from tests.support.fake_kube_server import FakeKubeServer
from tests.support.golden import BLS_KEYSTORE as BLS
from tests.support.golden import ECDSA_KEYSTORE as ECDSA
from tests.support.golden import EIP2335
from tests.support.ports import free_port

pytestmark = pytest.mark.unit

# The Kubernetes client library's own words follow (the cases below end with "..." after the part
# that does not depend on its version).
CLIENT_FAILS = "kubernetes: cannot create the Kubernetes client: "
KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


def base(tmp_path: Path) -> dict[str, Any]:
    """A configuration with nothing wrong on this machine: docker mode, an inline ECDSA key, a
    static chain file, the memory store."""
    chain_file = tmp_path / "chain.json"
    chain_file.write_text(json.dumps(chain_document()))
    return config_data(chain={"type": "static", "file": str(chain_file)})


def kubernetes_mode(data: dict[str, Any], tmp_path: Path, **block: Any) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
    data["avsPerformers"][0]["deploymentMode"] = "kubernetes"
    data["kubernetes"] = {"namespace": "avs", "kubeConfigPath": str(kubeconfig), **block}


def keystore(tmp_path: Path, vector: dict[str, Any], name: str = "key.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(vector["keystore"]))
    return str(path)


def sqlite(data: dict[str, Any], path: Path) -> None:
    data["storage"] = {"type": "sqlite", "sqlite": {"path": str(path)}}


def _store_parent_is_a_file(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    (tmp / "data").write_text("a file")
    sqlite(data, tmp / "data" / "executor.sqlite3")
    return f"storage: {tmp}/data/executor.sqlite3: cannot open the store: {tmp}/data is not a directory"


def _store_not_a_database(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    (tmp / "executor.sqlite3").write_text("not a database, but long enough to hold a header" * 4)
    sqlite(data, tmp / "executor.sqlite3")
    return f"storage: {tmp}/executor.sqlite3: not a usable executor store: file is not a database"


def _store_of_a_newer_executor(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    with sqlite3.connect(tmp / "executor.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    sqlite(data, tmp / "executor.sqlite3")
    return (
        f"storage: {tmp}/executor.sqlite3: not a usable executor store: schema version 99 was written "
        "by a newer executor (this one knows 2)"
    )


def _store_of_another_schema(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    with sqlite3.connect(tmp / "executor.sqlite3") as db:  # user_version 0: another program's file
        db.execute("CREATE TABLE tasks (x TEXT)")
        db.execute("CREATE TABLE performers (y INT)")
    db.close()
    sqlite(data, tmp / "executor.sqlite3")
    return (
        f"storage: {tmp}/executor.sqlite3: not a usable executor store: its table tasks is of another "
        "schema (no column task_id, avs, status, claimed_at, fingerprint, result, error_code, error_message)"
    )


def _store_with_another_performers_table(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    with sqlite3.connect(tmp / "executor.sqlite3") as db:
        db.execute("CREATE TABLE performers (performer_id TEXT PRIMARY KEY, avs_address TEXT)")
    db.close()
    sqlite(data, tmp / "executor.sqlite3")
    return (
        f"storage: {tmp}/executor.sqlite3: not a usable executor store: its table performers is of "
        "another schema (no column backend, status, image, endpoint, resource_id, created_at)"
    )


def _chain_file_missing(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["chain"]["file"] = str(tmp / "missing.yaml")
    return f"chain.file: cannot read {tmp}/missing.yaml: No such file or directory"


def _chain_file_of_another_chain(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    Path(data["chain"]["file"]).write_text(json.dumps({**chain_document(), "chainId": 1}))
    return f"chain.file: chainId 1 differs from l1Chain.chainId {data['l1Chain']['chainId']}"


def _chain_file_invalid(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    chain = {**chain_document(), "ecdsaCertificateVerifier": {"name": "EigenLayer"}}
    Path(data["chain"]["file"]).write_text(json.dumps(chain))
    return (
        f"chain.file: {data['chain']['file']}: ecdsaCertificateVerifier.name: not accepted: the "
        "verifier's EIP-712 domain has no chain id and only the major version, so give its "
        "domainSeparator() value instead"
    )


def _private_key_out_of_range(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["operator"]["signingKeys"]["ecdsa"] = {"privateKey": "0x" + "00" * 32}
    return (
        "operator.signingKeys.ecdsa.privateKey: an ECDSA private key must be between 1 and the "
        "secp256k1 group order - 1"
    )


def _keystore_file_missing(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["operator"]["signingKeys"]["bls"] = {"keystoreFile": str(tmp / "bls.json")}
    return f"operator.signingKeys.bls.keystoreFile: cannot read {tmp}/bls.json: No such file or directory"


def _wrong_password_in_the_password_file(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    (tmp / "password").write_text("not the password\n")
    data["operator"]["signingKeys"]["bls"] = {
        "keystoreFile": keystore(tmp, BLS),
        "passwordFile": str(tmp / "password"),
    }
    return "operator.signingKeys.bls.passwordFile: wrong password for the keystore"


def _password_variable_not_set(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["operator"]["signingKeys"]["bls"] = {"keystoreFile": keystore(tmp, BLS), "passwordEnv": "NO_SUCH_PW"}
    return "operator.signingKeys.bls.passwordEnv: NO_SUCH_PW is not set in the executor's environment"


def _password_variable_not_utf8(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    env["BLS_PW"] = BLS["password"] + "\udcff"  # the byte 0xff, as os.environ holds it
    data["operator"]["signingKeys"]["bls"] = {"keystoreFile": keystore(tmp, BLS), "passwordEnv": "BLS_PW"}
    return "operator.signingKeys.bls.passwordEnv: the password is not valid UTF-8 text"


def _keystore_of_another_curve(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    vector = EIP2335["bls381"]
    env["BLS_PW"] = vector["password"]
    data["operator"]["signingKeys"]["bls"] = {"keystoreFile": keystore(tmp, vector), "passwordEnv": "BLS_PW"}
    return "operator.signingKeys.bls.keystoreFile: the keystore is for curve 'bls381', not bn254"


def _keystore_address_not_its_key(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    vector = dict(ECDSA, keystore=dict(ECDSA["keystore"], address="11" * 20))
    data["operator"]["signingKeys"]["ecdsa"] = {
        "keystoreFile": keystore(tmp, vector),
        "password": ECDSA["password"],
    }
    return (
        "operator.signingKeys.ecdsa.keystoreFile: the keystore's address "
        f"1111111111111111111111111111111111111111 is not the address of the key it holds ({ECDSA['public']})"
    )


def _remote_signer(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["operator"]["signingKeys"]["ecdsa"] = {
        "remoteSigner": True,
        "remoteSignerConfig": {
            "url": "https://signer.example",
            "fromAddress": data["operator"]["address"],
            "publicKey": "0x04",
        },
    }
    return (
        "operator.signingKeys.ecdsa.remoteSigner: remote signers are not implemented yet; "
        "configure privateKey or a keystore"
    )


def _operator_key_out_of_range(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["operator"]["operatorPrivateKey"] = {"privateKey": "0x" + "ff" * 32}  # above the group order
    return (
        "operator.operatorPrivateKey.privateKey: an ECDSA private key must be between 1 and the "
        "secp256k1 group order - 1"
    )


def _operator_keystore_file_missing(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["operator"]["operatorPrivateKey"] = {"keystoreFile": str(tmp / "operator.json")}
    return (
        f"operator.operatorPrivateKey.keystoreFile: cannot read {tmp}/operator.json: "
        "No such file or directory"
    )


def _operator_keystore_not_json(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    (tmp / "operator.json").write_text("not a keystore")
    data["operator"]["operatorPrivateKey"] = {"keystoreFile": str(tmp / "operator.json"), "password": "pw"}
    return "operator.operatorPrivateKey.keystoreFile: ..."


def _value_from_env_not_set(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    data["avsPerformers"][0]["envs"] = [{"name": "TOKEN", "valueFromEnv": "NO_SUCH_TOKEN"}]
    return "avsPerformers[0].envs[0].valueFromEnv: NO_SUCH_TOKEN is not set in the executor's environment"


def _kubeconfig_missing(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    kubernetes_mode(data, tmp)
    data["kubernetes"]["kubeConfigPath"] = str(tmp / "no-kubeconfig")
    return f"{CLIENT_FAILS}kubeconfig {tmp / 'no-kubeconfig'} does not exist"


def _kubeconfig_without_a_context(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    kubernetes_mode(data, tmp)
    Path(data["kubernetes"]["kubeConfigPath"]).write_text(yaml.safe_dump({**KUBECONFIG, "contexts": []}))
    return f"{CLIENT_FAILS}kubeconfig {data['kubernetes']['kubeConfigPath']} has no context 'x' (it has [])"


def _in_cluster_outside_a_cluster(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    kubernetes_mode(data, tmp, inCluster=True)
    del data["kubernetes"]["kubeConfigPath"]
    return f"{CLIENT_FAILS}..."


def _endpoint_resolver_not_importable(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    kubernetes_mode(data, tmp, endpointResolver="no_such_module.anywhere:resolve")
    return (
        "kubernetes.endpointResolver: cannot import no_such_module.anywhere: No module named 'no_such_module'"
    )


def _endpoint_resolver_not_callable(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    kubernetes_mode(data, tmp, endpointResolver="json:no_such_function")
    return "kubernetes.endpointResolver: json has no callable no_such_function"


def _tls_ca_file_missing(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    # Docker mode: the `kubernetes` block's TLS applies to the performer channels all the same.
    data["kubernetes"] = {"namespace": "avs", "tls": {"enabled": True, "caFile": str(tmp / "ca.pem")}}
    return f"kubernetes.tls.caFile: cannot read {tmp}/ca.pem: No such file or directory"


def _tls_key_file_a_directory(data: dict[str, Any], tmp: Path, env: dict[str, str]) -> str:
    (tmp / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp / "keys").mkdir()
    tls = {"enabled": True, "certFile": str(tmp / "cert.pem"), "keyFile": str(tmp / "keys")}
    data["kubernetes"] = {"namespace": "avs", "tls": tls}
    return f"kubernetes.tls.keyFile: cannot read {tmp}/keys: Is a directory"


Refusal = Callable[[dict[str, Any], Path, dict[str, str]], str]
REFUSALS: list[Refusal] = [
    _store_parent_is_a_file,
    _store_not_a_database,
    _store_of_a_newer_executor,
    _store_of_another_schema,
    _store_with_another_performers_table,
    _chain_file_missing,
    _chain_file_of_another_chain,
    _chain_file_invalid,
    _private_key_out_of_range,
    _keystore_file_missing,
    _wrong_password_in_the_password_file,
    _password_variable_not_set,
    _password_variable_not_utf8,
    _keystore_of_another_curve,
    _keystore_address_not_its_key,
    _remote_signer,
    _operator_key_out_of_range,
    _operator_keystore_file_missing,
    _operator_keystore_not_json,
    _value_from_env_not_set,
    _kubeconfig_missing,
    _kubeconfig_without_a_context,
    _in_cluster_outside_a_cluster,
    _endpoint_resolver_not_importable,
    _endpoint_resolver_not_callable,
    _tls_ca_file_missing,
    _tls_key_file_a_directory,
]


def validate(path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, list[str], str]:
    code = cli.main(["validate", *options, "--config", str(path)])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


def run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`run`'s exit code and the reason of its `cannot start` log line."""
    code = cli.main(["run", "--config", str(path)])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    failures = [line["reason"] for line in lines if line["msg"] == "cannot start"]
    return code, failures[0] if failures else ""


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.__name__.strip("_") for r in REFUSALS])
def test_validate_refuses_what_run_refuses_with_the_same_message(
    refusal, tmp_path, capsys, monkeypatch, restore_logging
):
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "NO_SUCH_PW", "NO_SUCH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    data, env = base(tmp_path), {}
    expected = refusal(data, tmp_path, env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    state = sorted(p.name for p in tmp_path.iterdir())

    code, err, out = validate(path, capsys)
    assert (code, err[0], len(err), out) == (2, f"{path}: invalid executor configuration:", 2, "")
    problem = err[1]
    if expected.endswith("..."):
        assert problem.startswith(expected.removesuffix("...")) and len(problem) > len(expected) - 3
    else:
        assert problem == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == state  # validate wrote nothing
    assert run(path, capsys) == (1, problem)
    # The file alone is valid: these problems are of what it points to on this machine.
    code, _, out = validate(path, capsys, "--config-only")
    assert code == 0
    assert out.endswith("(the file only: what it points to on this machine was not checked)\n")


def test_validate_accepts_what_run_starts_with_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """The cases above differ from this configuration by their one refusal; validate opens the same
    parts as run (here: a BN254 keystore with a password from the environment, a kubeconfig, an
    endpoint resolver, the performer TLS files, an SQLite store that does not exist yet) and keeps
    none."""
    monkeypatch.setenv("BLS_PW", BLS["password"])
    data = base(tmp_path)
    bls = {"keystoreFile": keystore(tmp_path, BLS), "passwordEnv": "BLS_PW"}
    data["operator"]["signingKeys"]["bls"] = bls
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    tls = {"enabled": True, "caFile": str(tmp_path / "ca.pem")}
    kubernetes_mode(data, tmp_path, endpointResolver="tests.support.local_performers:resolve", tls=tls)
    sqlite(data, tmp_path / "data" / "executor.sqlite3")
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(data), sort_keys=False))

    with FakeKubeServer() as api:
        api.kubeconfig(Path(data["kubernetes"]["kubeConfigPath"]))
        code, err, out = validate(path, capsys)
    assert ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") in api.requests
    assert (code, err) == (0, [])
    assert out.startswith(f"{path}: valid; ") and "storage sqlite" in out
    assert not (tmp_path / "data").exists()


def test_a_remote_signer_as_operator_private_key_is_accepted_since_nothing_signs_with_it(tmp_path, capsys):
    """Upstream configurations may keep that key in a remote signer; signing uses signingKeys."""
    data = base(tmp_path)
    data["operator"]["operatorPrivateKey"] = {
        "remoteSigner": True,
        "remoteSignerConfig": {
            "url": "https://signer.example",
            "fromAddress": data["operator"]["address"],
            "publicKey": "0x04",
        },
    }
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, err, out = validate(path, capsys)
    assert (code, err) == (0, []) and out.startswith(f"{path}: valid; ")


def test_the_tls_files_are_not_read_when_tls_is_disabled(tmp_path, capsys):
    data = base(tmp_path)
    missing = str(tmp_path / "missing.pem")
    tls = {"enabled": False, "caFile": missing, "certFile": missing, "keyFile": missing}
    data["kubernetes"] = {"namespace": "avs", "tls": tls}
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, err, out = validate(path, capsys)
    assert (code, err) == (0, []) and out.startswith(f"{path}: valid; ")


def test_a_missing_bn254_library_stops_validate_and_run_alike(tmp_path, capsys, monkeypatch, restore_logging):
    from hourglass_executor.signing import bn254

    monkeypatch.setattr(bn254, "_library", None)  # loaded by earlier tests: look for it again
    monkeypatch.setenv(bn254.LIBRARY_ENV, str(tmp_path / "libhourglass_bn254.so"))
    monkeypatch.setenv("BLS_PW", BLS["password"])
    data = base(tmp_path)
    data["operator"]["signingKeys"]["bls"] = {
        "keystoreFile": keystore(tmp_path, BLS),
        "passwordEnv": "BLS_PW",
    }
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    code, err, _ = validate(path, capsys)
    assert (code, len(err)) == (2, 2)
    assert err[1].startswith(
        f"operator.signingKeys.bls: the native BN254 library is missing "
        f"({bn254.LIBRARY_ENV}={tmp_path}/libhourglass_bn254.so): "
    )
    assert run(path, capsys) == (1, err[1])


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (
            FakeKubeServer(serves_performers=False),
            "kubernetes: the API server at {url} does not serve performers.hourglass.eigenlayer.io/v1alpha1: "
            "the Performer CRD is not installed; install it with kubectl apply --server-side -f "
            "crds/hourglass.eigenlayer.io_performers.yaml (the operator's Helm chart and kustomize install "
            "include it)",
        ),
        (
            FakeKubeServer(allowed={"get", "list"}),
            "kubernetes: no permission to create, delete, watch performers.hourglass.eigenlayer.io in "
            "namespace avs (as system:serviceaccount:avs:executor): the executor needs create, delete, get, "
            "list, watch on them; grant them with a Role and a RoleBinding in that namespace "
            "(playbooks/deploy-executor.yml creates them)",
        ),
        (None, "kubernetes: cannot reach the API server at http://127.0.0.1:{port}: ..."),
    ],
    ids=["crd-not-installed", "verbs-not-allowed", "api-server-unreachable"],
)
def test_the_api_server_is_asked_by_validate_and_run_alike(
    server, expected, tmp_path, capsys, monkeypatch, restore_logging
):
    """What `run` would stop at when it lists its Performers is found before serving, by both."""
    data = base(tmp_path)
    kubernetes_mode(data, tmp_path)
    kubeconfig = Path(data["kubernetes"]["kubeConfigPath"])
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with contextlib.ExitStack() as stack:
        if server is None:
            port = free_port()  # nothing listens there
            kubeconfig.write_text(
                kubeconfig.read_text().replace("https://127.0.0.1:6443", f"http://127.0.0.1:{port}")
            )
            expected = expected.format(port=port)
        else:
            stack.enter_context(server).kubeconfig(kubeconfig)
            expected = expected.format(url=server.url)
        code, err, _ = validate(path, capsys)
        assert (code, len(err)) == (2, 2)
        if expected.endswith("..."):
            assert err[1].startswith(expected.removesuffix("..."))
        else:
            assert err[1] == expected
        assert run(path, capsys) == (1, err[1])
