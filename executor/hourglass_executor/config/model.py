"""The configuration's pydantic models: one class per YAML mapping, fields in snake_case with the
camelCase YAML key as alias. Unknown keys are refused (`extra="forbid"`), models are frozen, and
input values never appear in pydantic's errors (`hide_input_in_errors`). The keys, defaults and
meanings are described in the package docstring (`config/__init__.py`); the rules between fields are
in `rules.py`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel

from hourglass_executor.config.types import (
    Address,
    Bool,
    ConfigKey,
    CrdVersion,
    DnsLabel,
    DnsSubdomain,
    Duration,
    Endpoint,
    EnvName,
    FilePath,
    HttpUrl,
    ImageDigest,
    ImageRepository,
    ImageTag,
    ImportPath,
    LabelValue,
    NonEmpty,
    NonEmptySecret,
    NonNegativeInt,
    PerformerEnvName,
    Port,
    PortOrZero,
    PositiveInt,
    PrivateKey,
    RetryCount,
    RpcUrl,
    Secret,
    Text,
)
from hourglass_executor.config.upstream import json_object, upstream_addresses

BADGER_SQLITE_FILENAME = "hourglass-executor.sqlite3"


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, frozen=True, hide_input_in_errors=True
    )


class RemoteSignerConfig(_Section):
    url: HttpUrl
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
    password_file: FilePath | None = None
    password_env: EnvName | None = None


class EcdsaKeyConfig(_KeystorePassword):
    """`privateKey`, an Ethereum v3 keystore (`keystore` inline JSON or `keystoreFile`) with its
    password, or `remoteSigner: true` with `remoteSignerConfig`."""

    private_key: PrivateKey | None = None
    keystore: NonEmptySecret | None = None
    keystore_file: FilePath | None = None
    remote_signer: Bool = False
    remote_signer_config: RemoteSignerConfig | None = None


class BlsKeyConfig(_KeystorePassword):
    """A BN254 EIP-2335 keystore: inline JSON (`keystore`) or a file (`keystoreFile`), and its password."""

    keystore: NonEmptySecret | None = None
    keystore_file: FilePath | None = None


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
    """Contract addresses for the JSON-RPC reader; each overrides the chain id's default. Once
    validated, a key not set here holds the address upstream's `overrideContracts` or `contracts`
    give for `l1Chain.chainId`, if any (`ExecutorConfig._upstream_contracts`)."""

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
    file: FilePath | None = None
    contracts: ChainContracts = ChainContracts()
    timeout: Duration = timedelta(seconds=10)
    retries: RetryCount = 3
    cache_size: PositiveInt = 4096


class ImageConfig(_Section):
    repository: ImageRepository
    tag: ImageTag
    digest: ImageDigest | None = None

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

    name: PerformerEnvName
    value: Text | None = Field(default=None, repr=False)  # may be a secret
    value_from_env: EnvName | None = None
    kubernetes_env: KubernetesEnv | None = None


class PerformerKubernetesConfig(_Section):
    service_account_name: DnsSubdomain | None = None
    endpoint_override: Endpoint | None = None


class AvsPerformerConfig(_Section):
    avs_address: Address
    process_type: Literal["server"] = "server"
    image: ImageConfig | None = None
    envs: list[PerformerEnv] = Field(default_factory=list)
    deployment_mode: Literal["docker", "kubernetes"] = "docker"
    kubernetes: PerformerKubernetesConfig | None = None


class PerformerTls(_Section):
    enabled: Bool = False
    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    server_name: NonEmpty | None = None


class KubernetesConfig(_Section):
    namespace: DnsLabel
    operator_namespace: DnsLabel = "hourglass-system"
    crd_group: DnsSubdomain = "hourglass.eigenlayer.io"
    crd_version: CrdVersion = "v1alpha1"
    connection_timeout: Duration = timedelta(seconds=30)
    kube_config_path: FilePath | None = None
    in_cluster: Bool = False
    ready_timeout: Duration = timedelta(minutes=5)
    delete_performers_on_shutdown: Bool = False
    tls: PerformerTls = PerformerTls()
    endpoint_resolver: ImportPath | None = None


class BadgerConfig(_Section):
    dir: FilePath | None = None
    in_memory: Bool = False
    value_log_file_size: NonNegativeInt | None = None
    num_versions_to_keep: NonNegativeInt | None = None
    num_level_zero_tables: NonNegativeInt | None = None
    num_level_zero_tables_stall: NonNegativeInt | None = None


class SqliteConfig(_Section):
    path: FilePath | None = None


class StorageConfig(_Section):
    type: Literal["memory", "badger", "sqlite"] = "memory"
    badger: BadgerConfig | None = None
    sqlite: SqliteConfig | None = None

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for the in-memory store (`badger` maps to SQLite). A
        leading `~` is the home directory, as for `kubeConfigPath`; a relative path is relative to
        the executor's working directory."""
        if self.type == "sqlite" and self.sqlite and self.sqlite.path:
            return Path(self.sqlite.path).expanduser()
        if self.type == "badger" and self.badger and self.badger.dir and not self.badger.in_memory:
            return Path(self.badger.dir).expanduser() / BADGER_SQLITE_FILENAME
        return None


class _UpstreamJson(BaseModel):
    """Upstream's contract JSON (`upstream.py`): keys it does not read are ignored, as encoding/json
    ignores them."""

    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, frozen=True, hide_input_in_errors=True
    )


class UpstreamContract(_UpstreamJson):
    """One contract; only `address` is used (the ABIs are built in)."""

    name: NonEmpty
    address: Address
    chain_id: NonNegativeInt | None = None
    abi_versions: list[Text] | None = None


class CoreContract(UpstreamContract):
    chain_id: NonNegativeInt


class CoreContracts(_UpstreamJson):
    contracts: list[CoreContract] | None = None


class OverrideContract(_Section):
    contract: Annotated[UpstreamContract | None, BeforeValidator(json_object)] = None
    chain_ids: list[NonNegativeInt] = Field(default_factory=list)


class OverrideContracts(_Section):
    task_mailbox: OverrideContract | None = None


class AuthenticationConfig(_Section):
    enabled: Bool = False


class ExecutorConfig(_Section):
    debug: Bool = False
    grpc_port: Port = 9090
    management_server_grpc_port: PortOrZero = 0
    metrics_port: PortOrZero = 0
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
    contracts: Annotated[CoreContracts | None, BeforeValidator(json_object)] = None
    override_contracts: OverrideContracts | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _upstream_contracts(
        cls, data: Any, handler: ModelWrapValidatorHandler[ExecutorConfig]
    ) -> ExecutorConfig:
        """With the JSON-RPC reader, `chain.contracts` completed with the addresses `overrideContracts`
        and `contracts` (in this order) give for `l1Chain.chainId` (`upstream.py`); its own keys win."""
        config = handler(data)
        if not isinstance(data, dict) or config.chain.type != "rpc":
            return config
        found = upstream_addresses(data, config.l1_chain.chain_id)
        if not found:
            return config
        given = {key: address for key, address in config.chain.contracts.by_key().items() if address}
        contracts = ChainContracts.model_validate({**found, **given})
        chain = config.chain.model_copy(update={"contracts": contracts})
        return config.model_copy(update={"chain": chain})

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
