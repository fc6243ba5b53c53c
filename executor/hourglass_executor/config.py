"""The executor's configuration file: YAML with camelCase keys, validated into `ExecutorConfig`.

Every key of the upstream executor's configuration (docs/upstream-contract.md §6) is
accepted with the same meaning. Keys that are not settings are rejected, naming the key (and the
closest known key), so that a misspelt key is an error rather than a silently ignored setting.
A key whose value is empty (YAML null) counts as not set.

`load_config(path)` raises `ConfigError` listing every problem of the file, one per line, as
`<path>: <message>` where the path uses the YAML key names and list indices, for example
`avsPerformers[0].image.tag: required`. Problems without a key path are reported as
`line L, column C: ...` (YAML syntax, duplicate keys) or `<document>: ...`. Secret values (private
keys, passwords, keystores, the RPC URL, which often embeds an API key) are `SecretStr`: they never
appear in reprs or error messages.

Rules beyond the shape of each value:

- `operator.address` and every `avsAddress` are `0x` + 40 hexadecimal digits; ports are 1-65535.
- All performers use one `deploymentMode` ("mixed deployment modes not supported"); the top-level
  `kubernetes` block is required in kubernetes mode, and there `kubeConfigPath` is required unless
  `inCluster: true` (and must not be set with it). With no performers, the mode is kubernetes when
  a `kubernetes` block is present, else docker.
- Each `envs` entry has exactly one value source (`value`, `valueFromEnv`, `kubernetesEnv`);
  `kubernetesEnv` needs kubernetes mode; its `valueFrom` has exactly one of `secretKeyRef`,
  `configMapKeyRef`. Env names are unique per performer; AVS addresses are unique.
- `operatorPrivateKey` and `signingKeys.ecdsa` take exactly one of `privateKey`, `keystore`,
  `keystoreFile` unless `remoteSigner: true`, which takes `remoteSignerConfig` instead;
  `signingKeys` needs `bls` or `ecdsa`; `bls` takes exactly one of `keystore`, `keystoreFile`. A
  keystore's password is at most one of `password`, `passwordFile`, `passwordEnv` (none: empty).
- `managementServerGrpcPort` 0 or absent means the management service shares the `grpcPort`
  server (`ExecutorConfig.management_port`).

Storage: `type` is `memory` (default), `badger` or `sqlite`. This executor has no Badger store:
`badger` is accepted for compatibility and mapped to the SQLite store at
`<badger.dir>/hourglass-executor.sqlite3` (`badger.inMemory: true` maps to the memory store; the
other Badger tuning keys are accepted and ignored). `sqlite` needs `sqlite.path`.
`StorageConfig.sqlite_path()` gives the database file (None for the memory store).

Keys added by this executor (not upstream):

- `signingKeys.ecdsa.keystore` / `keystoreFile` with `password`: an Ethereum v3 keystore (as
  go-ethereum and the Go tooling write them) instead of `privateKey`; and for both `bls` and
  `ecdsa`, `passwordFile` (a file holding the password, a trailing newline is dropped) or
  `passwordEnv` (the name of an environment variable holding it) instead of `password`. Keystores
  are decrypted when the executor starts (`signing_keys.py`), not by `validate`.
- `avsPerformers[].image.digest`: pins the image (`sha256:...`); the performer then runs
  `repository@digest`.
- `storage.type: sqlite` with `storage.sqlite.path`.
- `chain`: where per-task chain reads come from. `type: rpc` (default) reads the chain at
  `l1Chain.rpcUrl` over JSON-RPC; `type: static` answers them from the YAML/JSON file `file` (tests
  and local setups without a blockchain; format: `hourglass_executor/chain/static.py`). For `rpc`:
  `contracts: {allocationManager, keyRegistrar, taskMailbox, bn254CertificateVerifier,
  ecdsaCertificateVerifier}` (addresses; each overrides the default of `l1Chain.chainId`, see
  `hourglass_executor/chain/networks.py`; a chain id without defaults needs all five),
  `timeout` (duration, default `10s`: the longest one chain read may take, retries included),
  `retries` (default 3: extra attempts after a transport error — connection refused or reset,
  timeout, HTTP 5xx or 429 — never after a revert), `cacheSize` (default 4096 read results kept,
  keyed by block).
- `kubernetes.readyTimeout` (Go duration, default `5m`): how long a deploy waits for the new
  performer to become ready.
- `kubernetes.deletePerformersOnShutdown` (default false): delete the Performer resources this
  executor created when it stops.
- `kubernetes.tls: {enabled, caFile, certFile, keyFile, serverName}`: dial performers with TLS
  (default plaintext, which is what performer images serve); `certFile`/`keyFile` (together) add a
  client certificate, `serverName` overrides the name checked in the server certificate.
- `kubernetes.endpointResolver` ("module:callable"): the hook for running the executor outside the
  cluster (and for tests). The callable is imported at start-up, takes a `performers.base.Deployment`
  and returns the "host:port" to dial instead of the Service's cluster DNS name; per-AVS
  `kubernetes.endpointOverride` still wins. The module must be importable by the executor
  (installed, or on PYTHONPATH).
- `executorId`: the value of the label `hourglass.eigenlayer.io/executor` on the performers this
  executor creates; it finds them again by it after a restart (adoption), so it must stay the same
  across restarts and differ between executors sharing a namespace. A Kubernetes label value (1-63
  of `[A-Za-z0-9-_.]`, starting and ending alphanumeric). Default (`ExecutorConfig.owner_id`):
  `executor-` + the first 8 hex digits of sha256 of the lower-cased operator address.
- `taskTimeout` (duration, default `30s`): the longest a task may run on a performer (a shorter
  SubmitTask deadline of the caller wins). It also bounds how long a blue-green switch waits for the
  old performer's in-flight tasks.
- `shutdownTimeout` (duration, default `30s`): on SIGTERM/SIGINT, how long in-flight SubmitTask
  calls may still run before they are cancelled.
- `logFormat` (`json` (default) or `text`): JSON lines on stderr, or plain text; `debug: true`
  logs at debug level.

Defaults: `grpcPort` 9090; `deploymentMode` docker; `processType` server; `storage.type` memory;
`authentication.enabled` false; in `kubernetes` (where `namespace` is required): `operatorNamespace`
hourglass-system, `crdGroup` hourglass.eigenlayer.io, `crdVersion` v1alpha1, `connectionTimeout`
30s, `inCluster` false. Env `value`s are kept out of reprs too (they may be secrets).

Durations (`connectionTimeout`, `readyTimeout`, `taskTimeout`, `shutdownTimeout`) are Go duration
strings such as `30s` or `1m30s`; a bare number is refused because upstream reads it as nanoseconds.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from hourglass_executor.chain.networks import (
    DEFAULT_CONTRACTS,
    NETWORK_NAMES,
    known_networks,
    resolve_contracts,
)

BADGER_SQLITE_FILENAME = "hourglass-executor.sqlite3"
DOCUMENT = "<document>"


# --- errors ---------------------------------------------------------------------------------


class Problem(NamedTuple):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """An invalid configuration; `problems` has every problem found, in document order."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(str(p) for p in problems))


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid", message)


# --- value types ------------------------------------------------------------------------------

ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
PRIVATE_KEY_RE = re.compile(r"(0x)?[0-9a-fA-F]{64}")
DNS1123_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
CONFIG_KEY_RE = re.compile(r"[-._a-zA-Z0-9]{1,253}")
ENV_NAME_RE = re.compile(r"[\x20-\x3c\x3e-\x7e]+")  # printable ASCII without '='
IMAGE_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
IMAGE_DIGEST_RE = re.compile(r"[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
CRD_VERSION_RE = re.compile(r"v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?")
LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)")
IMPORT_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
RPC_URL_RE = re.compile(r"(https?|wss?)://\S+")
HOST_PORT_RE = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):([0-9]{1,5})")
DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _string(value: Any) -> str:
    """The value if it is a string; YAML turns unquoted 0x... into numbers, hence the hint."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _fail("must be a string (YAML read true/false here; quote the value)")
    if isinstance(value, int | float):
        raise _fail("must be a string (YAML read a number here; quote the value)")
    raise _fail("must be a string")


def _matching(pattern: re.Pattern[str], message: str) -> BeforeValidator:
    def check(value: Any) -> str:
        text = _string(value)
        if not pattern.fullmatch(text):
            raise _fail(message)
        return text

    return BeforeValidator(check)


def _non_empty(value: Any) -> str:
    text = _string(value)
    if not text.strip():
        raise _fail("must not be empty")
    return text


def _integer(value: Any, low: int, high: int | None, message: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        raise _fail(message)
    return value


def _port(value: Any) -> int:
    return _integer(value, 1, 65535, "must be a port number (1-65535)")


def _port_or_zero(value: Any) -> int:
    return _integer(value, 0, 65535, "must be a port number (1-65535), or 0 to share the grpcPort server")


def _positive(value: Any) -> int:
    return _integer(value, 1, None, "must be a positive integer")


def _non_negative(value: Any) -> int:
    return _integer(value, 0, None, "must be a non-negative integer")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail("must be true or false")
    return value


def _duration(value: Any) -> timedelta:
    message = 'must be a duration such as "30s", "5m" or "1m30s"'
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _fail(
            message + ' (a bare number is not accepted: upstream reads it as nanoseconds; write "30s")'
        )
    text = _string(value).strip()
    parts = DURATION_PART_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise _fail(message)
    seconds = sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise _fail("must be a positive duration")
    return timedelta(seconds=seconds)


def _private_key(value: Any) -> SecretStr:
    # Messages never include the value: it is a secret.
    text = _string(value).strip()
    if not PRIVATE_KEY_RE.fullmatch(text):
        raise _fail(
            "must be a secp256k1 private key: 64 hexadecimal digits (32 bytes), optionally 0x-prefixed"
        )
    return SecretStr(text)


def _rpc_url(value: Any) -> SecretStr:
    text = _string(value)
    if not RPC_URL_RE.fullmatch(text):
        raise _fail("must be an http(s):// or ws(s):// URL")
    return SecretStr(text)


def _image_repository(value: Any) -> str:
    text = _non_empty(value)
    if re.search(r"[\s{}]", text):
        raise _fail("must not contain whitespace or braces")
    if "@" in text or ":" in text.rsplit("/", 1)[-1]:
        raise _fail("must not include a tag or digest (use image.tag and image.digest)")
    return text


def _endpoint(value: Any) -> str:
    text = _string(value)
    match = HOST_PORT_RE.fullmatch(text)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise _fail("must be host:port (for example localhost:9090)")
    return text


Address = Annotated[
    str, _matching(ADDRESS_RE, "must be an Ethereum address: 0x followed by 40 hexadecimal digits")
]
Text = Annotated[str, BeforeValidator(_string)]
NonEmpty = Annotated[str, BeforeValidator(_non_empty)]
Secret = Annotated[SecretStr, BeforeValidator(lambda v: SecretStr(_string(v)))]
NonEmptySecret = Annotated[SecretStr, BeforeValidator(lambda v: SecretStr(_non_empty(v)))]
PrivateKey = Annotated[SecretStr, BeforeValidator(_private_key)]
Port = Annotated[int, BeforeValidator(_port)]
PortOrZero = Annotated[int, BeforeValidator(_port_or_zero)]
PositiveInt = Annotated[int, BeforeValidator(_positive)]
NonNegativeInt = Annotated[int, BeforeValidator(_non_negative)]
Bool = Annotated[bool, BeforeValidator(_boolean)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
DnsLabel = Annotated[
    str, _matching(DNS1123_LABEL_RE, "must be a DNS-1123 label (lower-case alphanumerics and '-')")
]
DnsSubdomain = Annotated[
    str,
    _matching(DNS1123_SUBDOMAIN_RE, "must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.')"),
]
EnvName = Annotated[
    str, _matching(ENV_NAME_RE, "must be a non-empty name of printable ASCII characters without '='")
]
LabelValue = Annotated[
    str,
    _matching(
        LABEL_VALUE_RE,
        "must be a Kubernetes label value: 1-63 of [A-Za-z0-9-_.], "
        "starting and ending with a letter or digit",
    ),
]
ImportPath = Annotated[
    str,
    _matching(IMPORT_PATH_RE, 'must be "module:callable", e.g. "mypackage.endpoints:resolve"'),
]
ConfigKey = Annotated[
    str, _matching(CONFIG_KEY_RE, "must be a key of alphanumerics, '-', '_' or '.' (at most 253 characters)")
]
RpcUrl = Annotated[SecretStr, BeforeValidator(_rpc_url)]


# --- the model --------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, frozen=True, hide_input_in_errors=True
    )


class RemoteSignerConfig(_Section):
    url: Annotated[str, _matching(re.compile(r"https?://\S+"), "must be an http(s):// URL")]
    ca_cert: Text | None = None
    cert: Text | None = None
    key: Secret | None = None
    from_address: Address
    public_key: NonEmpty


class _KeystorePassword(_Section):
    """Where a keystore's password comes from: `password` inline, `passwordFile` (the file's content
    without a trailing newline) or `passwordEnv` (an environment variable of the executor); at most
    one of them; none means the empty password."""

    password: Secret | None = None
    password_file: NonEmpty | None = None
    password_env: EnvName | None = None


class EcdsaKeyConfig(_KeystorePassword):
    """`privateKey`, an Ethereum v3 keystore (`keystore` inline JSON or `keystoreFile`) with its
    password, or `remoteSigner: true` with `remoteSignerConfig`."""

    private_key: PrivateKey | None = None
    keystore: NonEmptySecret | None = None
    keystore_file: NonEmpty | None = None
    remote_signer: Bool = False
    remote_signer_config: RemoteSignerConfig | None = None


class BlsKeyConfig(_KeystorePassword):
    """A BN254 EIP-2335 keystore: inline JSON (`keystore`) or a file (`keystoreFile`), and its password."""

    keystore: NonEmptySecret | None = None
    keystore_file: NonEmpty | None = None


class SigningKeys(_Section):
    bls: BlsKeyConfig | None = None
    ecdsa: EcdsaKeyConfig | None = None


class OperatorConfig(_Section):
    address: Address
    operator_private_key: EcdsaKeyConfig
    signing_keys: SigningKeys


class L1Chain(_Section):
    rpc_url: RpcUrl
    chain_id: PositiveInt


class ChainContracts(_Section):
    """Contract addresses for the JSON-RPC reader; each overrides the chain id's default."""

    allocation_manager: Address | None = None
    key_registrar: Address | None = None
    task_mailbox: Address | None = None
    bn254_certificate_verifier: Address | None = None
    ecdsa_certificate_verifier: Address | None = None

    def by_key(self) -> dict[str, str | None]:
        """The addresses by their YAML key (None where not given)."""
        return {field.alias or name: getattr(self, name) for name, field in type(self).model_fields.items()}


class ChainReaderConfig(_Section):
    type: Literal["rpc", "static"] = "rpc"
    file: NonEmpty | None = None
    contracts: ChainContracts = ChainContracts()
    timeout: Duration = timedelta(seconds=10)
    retries: NonNegativeInt = 3
    cache_size: PositiveInt = 4096


class ImageConfig(_Section):
    repository: Annotated[str, BeforeValidator(_image_repository)]
    tag: Annotated[
        str,
        _matching(
            IMAGE_TAG_RE,
            "must be an image tag: letters, digits, '_', '.', '-' (at most 128, not starting with . or -)",
        ),
    ]
    digest: (
        Annotated[str, _matching(IMAGE_DIGEST_RE, "must be an image digest such as sha256:<64 hex digits>")]
        | None
    ) = None

    @property
    def reference(self) -> str:
        """What the performer runs: `repository@digest` when pinned, else `repository:tag`."""
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"


class KeyRef(_Section):
    name: DnsSubdomain
    key: ConfigKey


class EnvValueFrom(_Section):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None


class KubernetesEnv(_Section):
    value_from: EnvValueFrom


class PerformerEnv(_Section):
    """One environment variable: exactly one of `value`, `valueFromEnv`, `kubernetesEnv`."""

    name: EnvName
    value: Text | None = Field(default=None, repr=False)  # may be a secret
    value_from_env: EnvName | None = None
    kubernetes_env: KubernetesEnv | None = None


class PerformerKubernetesConfig(_Section):
    service_account_name: DnsSubdomain | None = None
    endpoint_override: Annotated[str, BeforeValidator(_endpoint)] | None = None


class AvsPerformerConfig(_Section):
    avs_address: Address
    process_type: Literal["server"] = "server"
    image: ImageConfig | None = None
    envs: list[PerformerEnv] = Field(default_factory=list)
    deployment_mode: Literal["docker", "kubernetes"] = "docker"
    kubernetes: PerformerKubernetesConfig | None = None


class PerformerTls(_Section):
    enabled: Bool = False
    ca_file: NonEmpty | None = None
    cert_file: NonEmpty | None = None
    key_file: NonEmpty | None = None
    server_name: NonEmpty | None = None


class KubernetesConfig(_Section):
    namespace: DnsLabel
    operator_namespace: DnsLabel = "hourglass-system"
    crd_group: DnsSubdomain = "hourglass.eigenlayer.io"
    crd_version: Annotated[
        str, _matching(CRD_VERSION_RE, "must be a Kubernetes API version such as v1alpha1 or v1")
    ] = "v1alpha1"
    connection_timeout: Duration = timedelta(seconds=30)
    kube_config_path: NonEmpty | None = None
    in_cluster: Bool = False
    ready_timeout: Duration = timedelta(minutes=5)
    delete_performers_on_shutdown: Bool = False
    tls: PerformerTls = PerformerTls()
    endpoint_resolver: ImportPath | None = None


class BadgerConfig(_Section):
    dir: NonEmpty | None = None
    in_memory: Bool = False
    value_log_file_size: NonNegativeInt | None = None
    num_versions_to_keep: NonNegativeInt | None = None
    num_level_zero_tables: NonNegativeInt | None = None
    num_level_zero_tables_stall: NonNegativeInt | None = None


class SqliteConfig(_Section):
    path: NonEmpty | None = None


class StorageConfig(_Section):
    type: Literal["memory", "badger", "sqlite"] = "memory"
    badger: BadgerConfig | None = None
    sqlite: SqliteConfig | None = None

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for the in-memory store (`badger` maps to SQLite)."""
        if self.type == "sqlite" and self.sqlite and self.sqlite.path:
            return Path(self.sqlite.path)
        if self.type == "badger" and self.badger and self.badger.dir and not self.badger.in_memory:
            return Path(self.badger.dir) / BADGER_SQLITE_FILENAME
        return None


class AuthenticationConfig(_Section):
    enabled: Bool = False


class ExecutorConfig(_Section):
    debug: Bool = False
    grpc_port: Port = 9090
    management_server_grpc_port: PortOrZero = 0
    performer_network_name: NonEmpty | None = None
    operator: OperatorConfig
    l1_chain: L1Chain
    avs_performers: list[AvsPerformerConfig] = Field(default_factory=list)
    kubernetes: KubernetesConfig | None = None
    storage: StorageConfig = StorageConfig()
    authentication: AuthenticationConfig = AuthenticationConfig()
    chain: ChainReaderConfig = ChainReaderConfig()
    executor_id: LabelValue | None = None
    task_timeout: Duration = timedelta(seconds=30)
    shutdown_timeout: Duration = timedelta(seconds=30)
    log_format: Literal["json", "text"] = "json"

    @property
    def owner_id(self) -> str:
        """`executorId`, else `executor-<first 8 hex of sha256(lower-cased operator address)>`."""
        if self.executor_id:
            return self.executor_id
        return "executor-" + hashlib.sha256(self.operator.address.lower().encode()).hexdigest()[:8]

    @property
    def management_port(self) -> int:
        """Port of ExecutorManagementService; equal to grpc_port when both share one server."""
        return self.management_server_grpc_port or self.grpc_port

    @property
    def deployment_mode(self) -> Literal["docker", "kubernetes"]:
        if self.avs_performers:
            return self.avs_performers[0].deployment_mode
        return "kubernetes" if self.kubernetes is not None else "docker"


# --- rules between fields (on the raw data, so that they are checked even when other values are
# --- invalid, and every problem is reported at once) ------------------------------------------


def _mapping(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


_KEY_SOURCES = ("privateKey", "keystore", "keystoreFile")
_PASSWORD_SOURCES = ("password", "passwordFile", "passwordEnv")


def _check_password(path: str, key: dict[str, Any], keystore: bool) -> list[Problem]:
    given = [name for name in _PASSWORD_SOURCES if name in key]
    if len(given) > 1:
        return [
            Problem(path, f"set at most one of {', '.join(_PASSWORD_SOURCES)} (found: {', '.join(given)})")
        ]
    if given and not keystore:
        return [Problem(f"{path}.{given[0]}", "only used with keystore or keystoreFile")]
    return []


def _check_ecdsa_key(path: str, key: dict[str, Any]) -> list[Problem]:
    sources = [name for name in _KEY_SOURCES if name in key]
    remote = key.get("remoteSigner")
    if remote is True:
        problems = []
        if "remoteSignerConfig" not in key:
            problems.append(Problem(f"{path}.remoteSignerConfig", "required when remoteSigner is true"))
        problems += [
            Problem(f"{path}.{name}", "must not be set when remoteSigner is true") for name in sources
        ]
        return problems
    if remote not in (None, False):
        return []  # reported by the model (must be true or false)
    if len(sources) != 1:
        found = ", ".join(sources) if sources else "none"
        return [
            Problem(
                path,
                f"set exactly one of privateKey, keystore, keystoreFile unless remoteSigner is true "
                f"(found: {found})",
            )
        ]
    return _check_password(path, key, keystore=sources[0] != "privateKey")


def _check_operator(operator: dict[str, Any]) -> list[Problem]:
    problems = []
    if (key := _mapping(operator.get("operatorPrivateKey"))) is not None:
        problems += _check_ecdsa_key("operator.operatorPrivateKey", key)
    signing = _mapping(operator.get("signingKeys"))
    if signing is not None:
        if "bls" not in signing and "ecdsa" not in signing:
            problems.append(Problem("operator.signingKeys", "at least one of bls, ecdsa is required"))
        if (bls := _mapping(signing.get("bls"))) is not None:
            if ("keystore" in bls) == ("keystoreFile" in bls):
                problems.append(
                    Problem("operator.signingKeys.bls", "set exactly one of keystore, keystoreFile")
                )
            problems += _check_password("operator.signingKeys.bls", bls, keystore=True)
        if (ecdsa := _mapping(signing.get("ecdsa"))) is not None:
            problems += _check_ecdsa_key("operator.signingKeys.ecdsa", ecdsa)
    return problems


def _check_env(path: str, env: dict[str, Any], docker_mode: bool) -> list[Problem]:
    sources = [key for key in ("value", "valueFromEnv", "kubernetesEnv") if key in env]
    if len(sources) != 1:
        found = ", ".join(sources) if sources else "none"
        return [Problem(path, f"set exactly one of value, valueFromEnv, kubernetesEnv (found: {found})")]
    kubernetes_env = _mapping(env.get("kubernetesEnv"))
    if kubernetes_env is None:
        return []
    problems = []
    if docker_mode:
        problems.append(Problem(f"{path}.kubernetesEnv", "only supported with deploymentMode kubernetes"))
    value_from = _mapping(kubernetes_env.get("valueFrom"))
    if value_from is not None and ("secretKeyRef" in value_from) == ("configMapKeyRef" in value_from):
        problems.append(
            Problem(f"{path}.kubernetesEnv.valueFrom", "set exactly one of secretKeyRef, configMapKeyRef")
        )
    return problems


def _check_performers(raw: dict[str, Any]) -> tuple[list[Problem], str]:
    """Problems of avsPerformers, and the deployment mode in effect."""
    performers = _items(raw.get("avsPerformers"))
    modes = {
        mode for _, p in performers if (mode := p.get("deploymentMode", "docker")) in ("docker", "kubernetes")
    }
    problems = []
    if len(modes) > 1:
        problems.append(
            Problem(
                "avsPerformers",
                "mixed deployment modes not supported: all performers must use the same deploymentMode",
            )
        )
    if performers:
        mode = "kubernetes" if "kubernetes" in modes else "docker"
    else:
        mode = "kubernetes" if "kubernetes" in raw else "docker"
    seen_avs: dict[str, int] = {}
    for i, performer in performers:
        path = f"avsPerformers[{i}]"
        avs = performer.get("avsAddress")
        if isinstance(avs, str) and ADDRESS_RE.fullmatch(avs):
            if avs.lower() in seen_avs:
                problems.append(
                    Problem(
                        f"{path}.avsAddress",
                        f"duplicate of avsPerformers[{seen_avs[avs.lower()]}].avsAddress",
                    )
                )
            seen_avs.setdefault(avs.lower(), i)
        seen_names: dict[str, int] = {}
        for j, env in _items(performer.get("envs")):
            problems += _check_env(
                f"{path}.envs[{j}]", env, performer.get("deploymentMode", "docker") == "docker"
            )
            name = env.get("name")
            if isinstance(name, str):
                if name in seen_names:
                    problems.append(
                        Problem(f"{path}.envs[{j}].name", f"duplicate of envs[{seen_names[name]}].name")
                    )
                seen_names.setdefault(name, j)
    return problems, mode


def _check_kubernetes(raw: dict[str, Any], mode: str) -> list[Problem]:
    problems = []
    block = raw.get("kubernetes")
    if mode == "kubernetes":
        if block is None:
            problems.append(Problem("kubernetes", "required when deploymentMode is kubernetes"))
        elif isinstance(block, dict):
            in_cluster = block.get("inCluster", False)
            if in_cluster is False and "kubeConfigPath" not in block:
                problems.append(Problem("kubernetes.kubeConfigPath", "required unless inCluster is true"))
            if in_cluster is True and "kubeConfigPath" in block:
                problems.append(
                    Problem("kubernetes.kubeConfigPath", "must not be set when inCluster is true")
                )
    tls = _mapping(block.get("tls")) if isinstance(block, dict) else None
    if tls is not None and ("certFile" in tls) != ("keyFile" in tls):
        missing = "keyFile" if "certFile" in tls else "certFile"
        other = "certFile" if missing == "keyFile" else "keyFile"
        problems.append(Problem(f"kubernetes.tls.{missing}", f"required with {other}"))
    return problems


def _check_storage(storage: dict[str, Any]) -> list[Problem]:
    kind = storage.get("type", "memory")
    problems = []
    if kind == "badger":
        badger = storage.get("badger")
        if badger is None or (isinstance(badger, dict) and "dir" not in badger):
            problems.append(Problem("storage.badger.dir", "required when type is badger"))
    if kind == "sqlite":
        sqlite = storage.get("sqlite")
        if sqlite is None or (isinstance(sqlite, dict) and "path" not in sqlite):
            problems.append(Problem("storage.sqlite.path", "required when type is sqlite"))
    elif "sqlite" in storage and kind in ("memory", "badger"):
        problems.append(Problem("storage.sqlite", f"only used with type sqlite (type is {kind})"))
    return problems


def _check_chain(raw: dict[str, Any]) -> list[Problem]:
    chain = _mapping(raw.get("chain")) or {}
    kind = chain.get("type", "rpc")
    if kind == "static" and "file" not in chain:
        return [Problem("chain.file", "required when type is static")]
    if kind == "rpc" and "file" in chain:
        return [Problem("chain.file", "only used with type static")]
    if kind == "static" and "contracts" in chain:
        return [Problem("chain.contracts", "only used with type rpc")]
    l1 = _mapping(raw.get("l1Chain")) or {}
    rpc_url = l1.get("rpcUrl")
    if kind == "rpc" and isinstance(rpc_url, str) and rpc_url.startswith(("ws://", "wss://")):
        return [Problem("l1Chain.rpcUrl", "chain.type rpc reads over HTTP: give an http(s):// URL")]
    chain_id = l1.get("chainId")
    contracts = _mapping(chain.get("contracts")) or {}
    if kind != "rpc" or isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id < 1:
        return []  # the chain id's own problem is reported where it is
    given = {key: value for key, value in contracts.items() if isinstance(value, str) and value}
    _, missing = resolve_contracts(chain_id, given)
    if not missing:
        return []
    if chain_id not in DEFAULT_CONTRACTS:
        return [
            Problem(
                "chain.contracts",
                f"required: l1Chain.chainId {chain_id} is not a network with default contract addresses "
                f"({known_networks()}); give {', '.join(missing)}",
            )
        ]
    network = NETWORK_NAMES[chain_id]
    return [
        Problem(f"chain.contracts.{key}", f"required: {network} (chain id {chain_id}) has no default address")
        for key in missing
    ]


def _cross_checks(raw: dict[str, Any]) -> list[Problem]:
    problems = []
    if (operator := _mapping(raw.get("operator"))) is not None:
        problems += _check_operator(operator)
    performer_problems, mode = _check_performers(raw)
    problems += performer_problems
    problems += _check_kubernetes(raw, mode)
    if (storage := _mapping(raw.get("storage"))) is not None:
        problems += _check_storage(storage)
    problems += _check_chain(raw)
    return problems


# --- pydantic errors as `<path>: <message>` ---------------------------------------------------


def _format_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or DOCUMENT


def _unwrap(annotation: Any) -> Any:
    """The model class inside Optional[...], list[...] or Annotated[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    for arg in (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (list, typing.Union, types.UnionType)
        else ()
    ):
        if (found := _unwrap(arg)) is not None:
            return found
    return None


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the mapping at `loc` (YAML names)."""
    model: Any = ExecutorConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _unwrap(field.annotation) if field else None
        if model is None:
            return []
    return [f.alias for f in model.model_fields.values() if f.alias]


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    key, known = str(loc[-1]), _known_keys(loc[:-1])
    close = [k for k in known if k.lower() == key.lower()] or difflib.get_close_matches(key, known, n=1)
    if close:
        return f'unknown key; did you mean "{close[0]}"?'
    return f"unknown key; expected one of: {', '.join(known)}" if known else "unknown key"


def _message(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return _unknown_key_message(error["loc"])
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return re.sub(r"^Input should", "must", msg)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _document_order(data: dict[str, Any], problems: list[Problem]) -> list[Problem]:
    """Problems sorted by where their key is in the document (keys not in it after their siblings)."""

    def position(problem: Problem) -> tuple[int, ...]:
        node: Any = data
        result = []
        for part in re.findall(r"\[\d+\]|[^.\[\]]+", problem.path):
            if part.startswith("[") and isinstance(node, list):
                index = int(part[1:-1])
                result.append(index)
                node = node[index] if index < len(node) else None
            elif isinstance(node, dict):
                keys = list(node)
                result.append(keys.index(part) if part in keys else len(keys))
                node = node.get(part)
            else:
                result.append(0)
                node = None
        return tuple(result)

    return sorted(problems, key=position)


def validate_config(data: Any) -> ExecutorConfig:
    """Validates already parsed data (a mapping with the YAML keys); raises ConfigError."""
    if not isinstance(data, dict):
        if data is None:
            raise ConfigError([Problem(DOCUMENT, "empty; expected a mapping of settings")])
        raise ConfigError([Problem(DOCUMENT, f"must be a mapping of settings, not a {type(data).__name__}")])
    data = _drop_nulls(data)
    problems: list[Problem] = []
    config = None
    try:
        config = ExecutorConfig.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(_format_path(e["loc"]), _message(e)) for e in exc.errors()]
    for problem in _cross_checks(data):
        if problem not in problems:
            problems.append(problem)
    if problems or config is None:
        raise ConfigError(_document_order(data, problems))
    return config


# --- YAML -------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    mark = key_node.start_mark
                    self.duplicates.append(
                        Problem(
                            f"line {mark.line + 1}, column {mark.column + 1}",
                            f'duplicate key "{key_node.value}"',
                        )
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str) -> tuple[Any, list[Problem]]:
    """The document and its duplicate-key problems; a syntax error is a ConfigError."""
    loader = _Loader(text)
    problem = Problem(DOCUMENT, "invalid YAML")
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        # Only the problem text: str(exc) quotes the offending line, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else DOCUMENT
        what = exc.problem or exc.context or "cannot be parsed"
        if exc.context and what.startswith("but "):  # "expected a single document ..., but found ..."
            what = f"{exc.context}, {what}"
        problem = Problem(where, f"invalid YAML: {what}")
    except yaml.YAMLError as exc:
        problem = Problem(DOCUMENT, f"invalid YAML: {exc}")
    finally:
        loader.dispose()
    raise ConfigError([problem])


def parse_config(text: str, source: str | None = None) -> ExecutorConfig:
    """Parses and validates YAML text; raises ConfigError (with `source` set to `source`)."""
    problems: list[Problem] = []
    config = None
    try:
        data, problems = _parse_yaml(text)
        config = validate_config(data)
    except ConfigError as exc:
        problems = problems + exc.problems
    if problems or config is None:
        raise ConfigError(problems, source)
    return config


def load_config(path: str | Path) -> ExecutorConfig:
    """Reads and validates the executor configuration file; raises ConfigError."""
    source = str(path)
    reason = None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        reason = "cannot be read: not UTF-8 text"
    except OSError as exc:
        reason = f"cannot be read: {exc.strerror or exc}"
    if reason is not None:
        raise ConfigError([Problem(source, reason)], source)
    return parse_config(text, source)
