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

- `operator.address` and every `avsAddress` are `0x` + 40 hexadecimal digits; ports are 1-65535;
  no integer is larger than 2^256 - 1 (a uint256; `l1Chain.chainId` included); a file path
  (`keystoreFile`, `passwordFile`, `chain.file`, `kubeConfigPath`, the `kubernetes.tls` files,
  `storage.sqlite.path`, `storage.badger.dir`) must not contain a NUL character.
- All performers use one `deploymentMode` ("mixed deployment modes not supported"); the top-level
  `kubernetes` block is required in kubernetes mode; `kubeConfigPath` must not be set with
  `inCluster: true`; with neither, the credentials are found as kubectl finds them ($KUBECONFIG,
  ~/.kube/config, else in a pod its service account: `kubernetes_api.py`). With no performers, the
  mode is kubernetes when a `kubernetes` block is present, else docker.
- Each `envs` entry has exactly one value source (`value`, `valueFromEnv`, `kubernetesEnv`);
  `kubernetesEnv` needs kubernetes mode; its `valueFrom` has exactly one of `secretKeyRef`,
  `configMapKeyRef`. Env names are unique per performer; AVS addresses are unique. In kubernetes
  mode no env is named `GRPC_PORT` or `AVS_ADDRESS` (the executor sets them in the Performer), and
  the Performer CRD's limits hold: at most 254 envs with `value`/`valueFromEnv` (256 with the
  executor's two) and 64 with `kubernetesEnv`. In any mode an env name has at most 253 characters,
  a Kubernetes name (DNS-1123 subdomain) at most 253, an image reference at most 4096.
- `operatorPrivateKey` and `signingKeys.ecdsa` take exactly one of `privateKey`, `keystore`,
  `keystoreFile` unless `remoteSigner: true`, which takes `remoteSignerConfig` instead;
  `signingKeys` needs `bls` or `ecdsa`; `bls` takes exactly one of `keystore`, `keystoreFile`. A
  keystore's password is at most one of `password`, `passwordFile`, `passwordEnv` (none: empty).
- `managementServerGrpcPort` 0 or absent means the management service shares the `grpcPort`
  server (`ExecutorConfig.management_port`). A non-zero `metricsPort` differs from `grpcPort` and
  `managementServerGrpcPort`.
- `operatorPrivateKey` signs nothing (results are signed with `signingKeys`); it is accepted for
  upstream configurations and loaded at start-up like `signingKeys.ecdsa` (`server/startup.py`).

Storage: `type` is `memory` (default), `badger` or `sqlite`. This executor has no Badger store:
`badger` is accepted for compatibility and mapped to the SQLite store at
`<badger.dir>/hourglass-executor.sqlite3` (`badger.inMemory: true` maps to the memory store; the
other Badger tuning keys are accepted and ignored). `sqlite` needs `sqlite.path`. A leading `~`
in `sqlite.path` or `badger.dir` is the home directory; a relative path is relative to the working
directory (in a container, use a persistent volume: the store is what keeps a task from running
twice across restarts).
`StorageConfig.sqlite_path()` gives the database file (None for the memory store).

Upstream's `contracts` (its core contracts: `{"contracts": [{name, address, chainId,
abiVersions}]}`, a JSON string as the Go executor reads it, or a mapping) and
`overrideContracts.taskMailbox: {contract, chainIds}` (one contract as a JSON string, for those
chain ids, every one when empty) give contract addresses for the JSON-RPC reader: for
`l1Chain.chainId`, the names AllocationManager, KeyRegistrar, TaskMailbox, BN254CertificateVerifier
and ECDSACertificateVerifier fill the `chain.contracts` keys not set there, the override before
`contracts`, both before the network's defaults. Other names, other chains' entries and the ABIs
are ignored; input that is not JSON or not of that shape, a bad address or a name twice for the
chain is refused at its path (`contracts.contracts[0].address`). Details: `upstream.py`.

Keys added by this executor (not upstream):

- `signingKeys.ecdsa.keystore` / `keystoreFile` with `password`: an Ethereum v3 keystore (as
  go-ethereum and the Go tooling write them) instead of `privateKey`; and for both `bls` and
  `ecdsa`, `passwordFile` (a file holding the password, a trailing newline is dropped) or
  `passwordEnv` (the name of an environment variable holding it) instead of `password`. Keystores
  are decrypted when the executor starts (`signing_keys.py`), and by `validate` the same way
  (`server/startup.py`).
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
  timeout, HTTP 5xx or 429 — never after a revert; at most 1000), `cacheSize` (default 4096 read results kept,
  keyed by block).
- `metricsPort` (default 0: none): the port of the HTTP server of the Prometheus metrics
  (`/metrics`; `hourglass_executor/metrics.py`).
- `kubernetes.readyTimeout` (Go duration, default `5m`): how long a deploy waits for the new
  performer to become ready.
- `kubernetes.deletePerformersOnShutdown` (default false): delete the Performer resources this
  executor created when it stops.
- `kubernetes.tls: {enabled, caFile, certFile, keyFile, serverName}`: dial performers with TLS
  (default plaintext, which is what performer images serve); `certFile`/`keyFile` (together) add a
  client certificate, `serverName` overrides the name checked in the server certificate. With
  `enabled`, `run` and `validate` refuse a file that cannot be read (`server/startup.py`).
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

Durations (`connectionTimeout`, `readyTimeout`, `taskTimeout`, `shutdownTimeout`, `chain.timeout`)
are Go duration strings such as `30s` or `1m30s`, from `1ms` to Go's longest,
`2562047h47m16.854775807s`; a bare number is refused because upstream reads it as nanoseconds.

The package: `types.py` (value types), `model.py` (the pydantic models), `rules.py` (rules between
fields), `messages.py` (pydantic's errors as `<path>: <message>`), `errors.py` (`Problem`,
`ConfigError`), `upstream.py` (upstream's `contracts` and `overrideContracts`), `loader.py` (YAML
file or text to `ExecutorConfig`). Everything is imported from here:
`from hourglass_executor.config import ExecutorConfig, load_config`.
"""

from __future__ import annotations

from hourglass_executor.config.errors import DOCUMENT, ConfigError, Problem
from hourglass_executor.config.loader import load_config, parse_config, validate_config
from hourglass_executor.config.model import (
    BADGER_SQLITE_FILENAME,
    AuthenticationConfig,
    AvsPerformerConfig,
    BadgerConfig,
    BlsKeyConfig,
    ChainContracts,
    ChainReaderConfig,
    EcdsaKeyConfig,
    EnvValueFrom,
    ExecutorConfig,
    ImageConfig,
    KeyRef,
    KubernetesConfig,
    KubernetesEnv,
    L1Chain,
    OperatorConfig,
    PerformerEnv,
    PerformerKubernetesConfig,
    PerformerTls,
    RemoteSignerConfig,
    SigningKeys,
    SqliteConfig,
    StorageConfig,
)

__all__ = [
    "BADGER_SQLITE_FILENAME",
    "DOCUMENT",
    "AuthenticationConfig",
    "AvsPerformerConfig",
    "BadgerConfig",
    "BlsKeyConfig",
    "ChainContracts",
    "ChainReaderConfig",
    "ConfigError",
    "EcdsaKeyConfig",
    "EnvValueFrom",
    "ExecutorConfig",
    "ImageConfig",
    "KeyRef",
    "KubernetesConfig",
    "KubernetesEnv",
    "L1Chain",
    "OperatorConfig",
    "PerformerEnv",
    "PerformerKubernetesConfig",
    "PerformerTls",
    "Problem",
    "RemoteSignerConfig",
    "SigningKeys",
    "SqliteConfig",
    "StorageConfig",
    "load_config",
    "parse_config",
    "validate_config",
]
