"""The configuration's rules between fields: exactly one key source, one password source, one
deployment mode, the `kubernetes` block in kubernetes mode, the store's file, the chain reader's
contracts (upstream's `contracts`/`overrideContracts` included: `upstream.py`), unique AVS addresses
and env names, ...

They run on the raw data (a dict with the YAML keys, nulls dropped), not on the model, so that they
are checked even when other values are invalid and every problem of a file is reported at once; a
value of the wrong type is left to the model, which reports it.
"""

from __future__ import annotations

from typing import Any

from hourglass_executor.chain.networks import (
    DEFAULT_CONTRACTS,
    NETWORK_NAMES,
    known_networks,
    resolve_contracts,
)
from hourglass_executor.config.errors import Problem
from hourglass_executor.config.types import integer_value
from hourglass_executor.config.upstream import duplicate_contracts, upstream_addresses
from hourglass_executor.validation import IMAGE_REFERENCE_MAX_LENGTH, is_address


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


# What the executor itself puts in a Performer's spec.config.environment (kubernetes mode,
# `performers/kubernetes/resource.py`); the Docker backend sets no variable of its own.
RESERVED_ENV_NAMES = ("AVS_ADDRESS", "GRPC_PORT")
# The Performer CRD's limits: spec.config.environment maxProperties 256 (the executor's own two
# variables included) and spec.config.environmentFrom maxItems 64.
MAX_ENVIRONMENT = 256 - len(RESERVED_ENV_NAMES)
MAX_ENVIRONMENT_FROM = 64


def _check_kubernetes_envs(path: str, envs: list[tuple[int, dict[str, Any]]]) -> list[Problem]:
    """The rules the Performer resource adds to a performer's envs in kubernetes mode."""
    problems = [
        Problem(
            f"{path}.envs[{j}].name",
            f"{env['name']} is set by the executor for every performer in kubernetes mode (to the "
            "AVS address and the performer's gRPC port); remove this entry",
        )
        for j, env in envs
        if env.get("name") in RESERVED_ENV_NAMES
    ]
    references = sum(1 for _, env in envs if "kubernetesEnv" in env)
    literals = len(envs) - references
    if literals > MAX_ENVIRONMENT:
        problems.append(
            Problem(
                f"{path}.envs",
                f"at most {MAX_ENVIRONMENT} entries with value or valueFromEnv (found {literals}): the "
                f"Performer CRD allows 256 variables and the executor sets {', '.join(RESERVED_ENV_NAMES)}",
            )
        )
    if references > MAX_ENVIRONMENT_FROM:
        problems.append(
            Problem(
                f"{path}.envs",
                f"at most {MAX_ENVIRONMENT_FROM} entries with kubernetesEnv (found {references}): the "
                "Performer CRD's limit",
            )
        )
    return problems


def _check_image(path: str, image: dict[str, Any]) -> list[Problem]:
    """The image reference the performer runs (`repository:tag` or `repository@digest`) fits the CRD."""
    repository, version = image.get("repository"), image.get("digest", image.get("tag"))
    if not isinstance(repository, str) or not isinstance(version, str):
        return []  # the model reports a missing or mistyped value
    if len(repository) > IMAGE_REFERENCE_MAX_LENGTH:
        return []  # the model reports the repository itself
    if len(repository) + 1 + len(version) <= IMAGE_REFERENCE_MAX_LENGTH:
        return []
    return [
        Problem(
            path,
            f"the image reference (repository:tag, or repository@digest) must be at most "
            f"{IMAGE_REFERENCE_MAX_LENGTH} characters (the Performer CRD's limit)",
        )
    ]


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
        if is_address(avs):
            if avs.lower() in seen_avs:
                problems.append(
                    Problem(
                        f"{path}.avsAddress",
                        f"duplicate of avsPerformers[{seen_avs[avs.lower()]}].avsAddress",
                    )
                )
            seen_avs.setdefault(avs.lower(), i)
        if (image := _mapping(performer.get("image"))) is not None:
            problems += _check_image(f"{path}.image", image)
        envs = _items(performer.get("envs"))
        if performer.get("deploymentMode") == "kubernetes":
            problems += _check_kubernetes_envs(path, envs)
        seen_names: dict[str, int] = {}
        for j, env in envs:
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
        # inMemory: true is the memory store (StorageConfig.sqlite_path), which needs no directory;
        # upstream accepts it without one too.
        badger = storage.get("badger")
        if badger is None or (
            isinstance(badger, dict) and "dir" not in badger and badger.get("inMemory") is not True
        ):
            problems.append(
                Problem("storage.badger.dir", "required when type is badger (unless inMemory is true)")
            )
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
    chain_id = integer_value(l1.get("chainId"))  # "12345" too, as the model reads it
    contracts = _mapping(chain.get("contracts")) or {}
    if kind != "rpc" or chain_id is None or chain_id < 1:
        return []  # the chain id's own problem is reported where it is
    given = {key: value for key, value in contracts.items() if isinstance(value, str) and value}
    given = {**upstream_addresses(raw, chain_id), **given}
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


def _check_ports(raw: dict[str, Any]) -> list[Problem]:
    """A metrics port of its own: `run` cannot serve metrics on a port a gRPC server listens on."""
    metrics = integer_value(raw.get("metricsPort"))
    if not metrics:
        return []
    grpc = integer_value(raw.get("grpcPort", 9090))
    management = integer_value(raw.get("managementServerGrpcPort"))
    for key, port in (("grpcPort", grpc), ("managementServerGrpcPort", management)):
        if port == metrics:
            return [
                Problem(
                    "metricsPort",
                    f"must differ from {key} (both are {metrics}): the metrics HTTP server needs a port "
                    "of its own",
                )
            ]
    return []


def cross_checks(raw: dict[str, Any]) -> list[Problem]:
    """Every problem of the rules between fields in `raw` (the parsed YAML, nulls dropped)."""
    problems = []
    if (operator := _mapping(raw.get("operator"))) is not None:
        problems += _check_operator(operator)
    performer_problems, mode = _check_performers(raw)
    problems += performer_problems
    problems += _check_kubernetes(raw, mode)
    if (storage := _mapping(raw.get("storage"))) is not None:
        problems += _check_storage(storage)
    problems += _check_chain(raw)
    l1 = _mapping(raw.get("l1Chain")) or {}
    if (chain_id := integer_value(l1.get("chainId"))) is not None:
        problems += duplicate_contracts(raw, chain_id)
    problems += _check_ports(raw)
    return problems
