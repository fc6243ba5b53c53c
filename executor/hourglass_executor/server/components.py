"""Builds the executor's parts from its configuration: store, chain reader, signers, performer
backend, performer pool and challenge tokens. `startup.prepare` runs the builders that depend on the
executor's machine (for `run` and `validate` alike); `app` wires the parts into the gRPC servers.

What cannot be built is a `StartupError` whose message names the configuration key, for example
`chain.file: cannot read chain.yaml: No such file or directory`. Nothing here logs or returns a
secret (the RPC URL included).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable, Mapping

from hourglass_executor.auth import ChallengeTokens
from hourglass_executor.chain import ChainConfigError, ChainReader, ChainReaderError, StaticChainReader
from hourglass_executor.chain.networks import resolve_contracts
from hourglass_executor.config import AvsPerformerConfig, ExecutorConfig
from hourglass_executor.performers.base import Deployment, EnvVar, PerformerBackend, PerformerSpec
from hourglass_executor.performers.client import PerformerClient, TlsSettings
from hourglass_executor.performers.pool import PerformerPool, PoolSettings
from hourglass_executor.signing.signer import BN254, ECDSA, Signer
from hourglass_executor.signing_keys import SigningKeyError, load_signers
from hourglass_executor.store import Store, StoreError, check_store, open_store

DOCKER_READY_TIMEOUT = 60.0  # upstream waits at most a minute for a new container
DRAIN_SLACK = 5.0  # beyond taskTimeout, for a replaced performer's last answers to arrive

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The executor cannot start with this configuration: `problems`, each saying which key and why
    (`<key>: <reason>`); the message is them joined by "; "."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(problems))


def open_configured_store(config: ExecutorConfig, *, check_only: bool = False) -> Store | None:
    """The store `storage` names, checked first without writing (`check_store`); with `check_only`
    only checked (None)."""
    try:
        check_store(config.storage)
        return None if check_only else open_store(config.storage)
    except StoreError as error:
        raise StartupError(f"storage: {error}") from None


def build_chain(config: ExecutorConfig) -> ChainReader:
    """The chain reader `chain.type` names: JSON-RPC at `l1Chain.rpcUrl`, or the static file."""
    if config.chain.type == "rpc":
        from hourglass_executor.chain.rpc import RpcChainReader

        contracts, missing = resolve_contracts(config.l1_chain.chain_id, config.chain.contracts.by_key())
        if missing:  # the configuration's validation refuses this already
            raise StartupError(
                f"chain.contracts.{missing[0]}: required for chain id {config.l1_chain.chain_id}"
            )
        return RpcChainReader(
            config.l1_chain.rpc_url.get_secret_value(),
            contracts,
            timeout=config.chain.timeout.total_seconds(),
            retries=config.chain.retries,
            cache_size=config.chain.cache_size,
        )
    return load_static_chain(config)


async def check_chain_id(config: ExecutorConfig, chain: ChainReader) -> None:
    """With the JSON-RPC reader: StartupError when its endpoint answers `eth_chainId` (with the time
    limit and retries of a chain read) with another chain than `l1Chain.chainId`: a wrong endpoint.
    One that does not answer now only gets a warning: an RPC outage must not keep the executor down
    once it is over (restarts back off to minutes), and until it is over its tasks get UNAVAILABLE
    anyway, since every one of them reads the chain."""
    from hourglass_executor.chain.rpc import RpcChainReader

    if not isinstance(chain, RpcChainReader):
        return
    try:
        served = await chain.endpoint_chain_id()
    except Exception as error:
        # A ChainReaderError never holds the URL; another error's message may: only its type then.
        reason = str(error) if isinstance(error, ChainReaderError) else f"unexpected {type(error).__name__}"
        log.warning(
            "cannot check the chain id of l1Chain.rpcUrl now (eth_chainId); starting anyway",
            extra={"reason": reason},
        )
        return
    if served != config.l1_chain.chain_id:
        raise StartupError(
            f"l1Chain.rpcUrl: the endpoint serves chain id {served}, "
            f"not l1Chain.chainId {config.l1_chain.chain_id}"
        )


def load_static_chain(config: ExecutorConfig) -> StaticChainReader:
    """The static chain file of `chain.file`, checked against `l1Chain.chainId`; StartupError."""
    assert config.chain.file is not None  # the configuration requires it for static
    try:
        reader = StaticChainReader.from_file(config.chain.file)
    except ChainConfigError as error:
        raise StartupError(f"chain.file: {error}") from None
    except OSError as error:
        raise StartupError(
            f"chain.file: cannot read {config.chain.file}: {error.strerror or error}"
        ) from None
    if reader.chain_id != config.l1_chain.chain_id:
        raise StartupError(
            f"chain.file: chainId {reader.chain_id} differs from l1Chain.chainId {config.l1_chain.chain_id}"
        )
    return reader


def build_signers(config: ExecutorConfig, environ: Mapping[str, str] = os.environ) -> dict[str, Signer]:
    """{curve: signer} from `operator.signingKeys` (ECDSA and/or BN254; keystores are decrypted here)."""
    try:
        return dict(load_signers(config.operator.signing_keys, environ))
    except SigningKeyError as error:  # names the key; never contains a secret
        raise StartupError(str(error)) from None


def auth_signer(signers: Mapping[str, Signer]) -> Signer:
    """The key management clients sign challenges with: ECDSA when configured, else BN254 (as the Go
    executor chooses)."""
    return signers.get(ECDSA) or signers[BN254]


def build_tokens(config: ExecutorConfig, signers: Mapping[str, Signer]) -> ChallengeTokens | None:
    """The management challenge tokens, or None when authentication is disabled."""
    if not config.authentication.enabled:
        return None
    return ChallengeTokens(config.operator.address, auth_signer(signers))


def configured_spec(
    performer: AvsPerformerConfig, index: int, environ: Mapping[str, str]
) -> PerformerSpec | None:
    """What `avsPerformers[index]` asks to run (None without an image); `valueFromEnv` is resolved
    from `environ` now, so a missing variable stops the start instead of a deploy."""
    if performer.image is None:
        return None
    env = []
    for j, item in enumerate(performer.envs):
        if item.value_from_env is not None:
            value = environ.get(item.value_from_env)
            if value is None:
                raise StartupError(
                    f"avsPerformers[{index}].envs[{j}].valueFromEnv: {item.value_from_env} is not set "
                    "in the executor's environment"
                )
            env.append(EnvVar(item.name, value=value))
        elif item.kubernetes_env is not None:
            ref = item.kubernetes_env.value_from
            if ref.secret_key_ref is not None:
                env.append(
                    EnvVar(item.name, secret_key_ref=(ref.secret_key_ref.name, ref.secret_key_ref.key))
                )
            elif ref.config_map_key_ref is not None:
                key = ref.config_map_key_ref
                env.append(EnvVar(item.name, config_map_key_ref=(key.name, key.key)))
        else:
            env.append(EnvVar(item.name, value=item.value or ""))
    kubernetes = performer.kubernetes
    return PerformerSpec(
        avs_address=performer.avs_address,
        repository=performer.image.repository,
        tag=performer.image.tag,
        digest=performer.image.digest,
        env=tuple(env),
        service_account_name=kubernetes.service_account_name if kubernetes else None,
        endpoint_override=kubernetes.endpoint_override if kubernetes else None,
    )


def configured_specs(
    config: ExecutorConfig, environ: Mapping[str, str] = os.environ
) -> dict[str, PerformerSpec | None]:
    """Every served AVS (lower-cased) and what is configured to run for it."""
    return {
        performer.avs_address.lower(): configured_spec(performer, index, environ)
        for index, performer in enumerate(config.avs_performers)
    }


def load_resolver(path: str) -> Callable[[Deployment], str]:
    """The callable named by `kubernetes.endpointResolver` ("module:callable")."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import-time failure of a user module
        raise StartupError(f"kubernetes.endpointResolver: cannot import {module_name}: {error}") from None
    resolver = getattr(module, attribute, None)
    if not callable(resolver):
        raise StartupError(f"kubernetes.endpointResolver: {module_name} has no callable {attribute}")
    return resolver


def build_backend(config: ExecutorConfig) -> PerformerBackend:
    if config.deployment_mode == "kubernetes":
        from hourglass_executor.performers.kubernetes import KubernetesBackend

        assert config.kubernetes is not None  # the configuration requires it in kubernetes mode
        resolver = config.kubernetes.endpoint_resolver
        try:
            return KubernetesBackend(
                config.kubernetes,
                config.owner_id,
                resolver=load_resolver(resolver) if resolver else None,
            )
        except StartupError:
            raise
        except Exception as error:  # kubeconfig missing or invalid, no in-cluster credentials
            raise StartupError(f"kubernetes: cannot create the Kubernetes client: {error}") from None
    from hourglass_executor.performers.docker import DockerBackend

    return DockerBackend(config.owner_id, network_name=config.performer_network_name)


async def check_backend(config: ExecutorConfig, backend: PerformerBackend) -> None:
    """Kubernetes mode: the API server answers, serves Performers and allows the backend's calls
    (`performers/kubernetes/access.py`); StartupError naming `kubernetes` otherwise."""
    if config.deployment_mode != "kubernetes":
        return
    from hourglass_executor.performers.base import BackendError
    from hourglass_executor.performers.kubernetes import KubernetesBackend

    if isinstance(backend, KubernetesBackend):
        try:
            await backend.check_access()
        except BackendError as error:
            raise StartupError(f"kubernetes: {error}") from None


def pool_settings(config: ExecutorConfig) -> PoolSettings:
    kubernetes = config.deployment_mode == "kubernetes" and config.kubernetes is not None
    ready = config.kubernetes.ready_timeout.total_seconds() if kubernetes else DOCKER_READY_TIMEOUT
    return PoolSettings(
        ready_timeout=ready,
        drain_timeout=config.task_timeout.total_seconds() + DRAIN_SLACK,
    )


def build_pool(
    config: ExecutorConfig,
    backend: PerformerBackend,
    store: Store,
    specs: Mapping[str, PerformerSpec | None],
    *,
    settings: PoolSettings | None = None,
    on_deploy: Callable[[str, str], None] | None = None,
) -> PerformerPool:
    """The pool over `backend` serving `specs` (from `configured_specs`); `on_deploy(avs, result)`
    hears of every finished deploy."""
    tls = TlsSettings.from_config(config.kubernetes.tls) if config.kubernetes else None
    return PerformerPool(
        backend,
        store,
        specs,
        settings=settings or pool_settings(config),
        client_factory=functools.partial(PerformerClient, tls=tls),
        on_deploy=on_deploy,
    )
