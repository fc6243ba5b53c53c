"""The part of the executor's start that depends on the machine it runs on, one function for `run`
and `validate`: what the configuration points to must be there and usable.

The configuration's model and rules (`config/`) say nothing about the files, environment variables
and credentials the configuration names; `prepare` loads them, in the order `run` needs them:

1. `storage`: the store's file is an executor store of a known schema, or can be created
   (`store.check_store`, which writes nothing); then the store is opened;
2. `chain`: `type: static`: the file loads and is for `l1Chain.chainId`; `rpc`: the JSON-RPC reader
   is built; the endpoint is asked only at the end (below);
3. `operator.signingKeys`: every key loads — keystores read and decrypted with the password of
   `password`, `passwordFile` or `passwordEnv`, an ECDSA keystore's address is its key's, a BN254
   keystore is for bn254 and the BN254 library is there, a private key is a valid secp256k1 key;
   `operator.operatorPrivateKey` loads the same way as `signingKeys.ecdsa` (nothing signs with it:
   it is checked so that a broken key of an upstream configuration is not silently ignored);
4. `avsPerformers[].envs[].valueFromEnv`: every variable is set;
5. the performer backend: in kubernetes mode the client configuration loads (`kubeConfigPath`, the
   in-cluster credentials, or as kubectl finds them) and `kubernetes.endpointResolver` imports and
   is callable;
6. in kubernetes mode, the API server (`performers/kubernetes/access.py`): it answers, serves the
   Performer CRD at `crdGroup`/`crdVersion` (else "install it with ..."), and lets the executor
   create, delete, get, list and watch Performers in `kubernetes.namespace` (else the verbs it may
   not use, and who it is);
7. `kubernetes.tls` when enabled (the performer channels use it, in either mode): its `caFile`,
   `certFile` and `keyFile` can be read (their content is checked by the TLS handshake only);
8. `run` only, with `chain.type: rpc`, once every step above passed: the endpoint of
   `l1Chain.rpcUrl` answers `eth_chainId` with `l1Chain.chainId` (`components.check_chain_id`).
   Results are signed over that chain's contracts, so a wrong endpoint stops the start; one that
   does not answer within `chain.timeout` (retries included) is logged and the start goes on (its
   tasks get UNAVAILABLE until it answers: an outage must not keep the executor down after it).

Steps 1-7 run even when an earlier one failed, then `StartupError` lists every problem, each as
`<key>: <reason>` — the same text whether `run` (which logs it as `cannot start` and exits 1) or
`validate` (which prints it and exits 2) found it. `run` keeps the parts; `validate`
(`check_only=True`) keeps nothing: the store is only checked (no file is created) and what was
built is closed.

`validate` (`check`) also binds each configured port (`grpcPort`, `managementServerGrpcPort`,
`metricsPort`) for a moment, as `run` does before serving (`listen.bind_problem`), and reports a
port it may not use (EACCES: below 1024 without the privilege), in `run`'s words.

Not checked before serving, because they depend on the moment rather than on the configuration:
whether the ports are free (`run` then stops with `grpcPort: cannot listen on ...`), and whether
the Docker engine answers. (The Kubernetes API server is asked in step 6: without it nothing else
about the cluster can be checked, and `run` cannot start without it. The JSON-RPC endpoint is
asked by `run` only, in step 8: `validate` stays off the chain, so both report the same problems
for a configuration that steps 1-7 refuse.)
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hourglass_executor.chain import ChainReader
from hourglass_executor.config import ExecutorConfig
from hourglass_executor.performers.base import PerformerBackend, PerformerSpec
from hourglass_executor.server import components
from hourglass_executor.server.components import StartupError
from hourglass_executor.server.listen import bind_problem, listen_error
from hourglass_executor.signing.signer import Signer
from hourglass_executor.signing_keys import SigningKeyError, ecdsa_signer
from hourglass_executor.store import Store

T = TypeVar("T")

OPERATOR_KEY_PATH = "operator.operatorPrivateKey"
LISTEN_HOST = "[::]"  # the address `run` serves on (`ExecutorApp`'s default)


@dataclass
class Parts:
    """The parts of a start that depend on the machine; None where not built (or not given)."""

    store: Store | None = None
    chain: ChainReader | None = None
    signers: Mapping[str, Signer] | None = None
    specs: Mapping[str, PerformerSpec | None] | None = None
    backend: PerformerBackend | None = None


async def prepare(
    config: ExecutorConfig,
    environ: Mapping[str, str] = os.environ,
    *,
    given: Parts | None = None,
    check_only: bool = False,
) -> Parts:
    """The parts `config` asks for (those in `given` are taken as they are); raises StartupError with
    every problem. With `check_only` nothing is kept: the store is checked, not opened, what was
    built is closed, and the result is empty."""
    given = given or Parts()
    problems: list[str] = []

    def attempt(build: Callable[[], T]) -> T | None:
        try:
            return build()
        except StartupError as error:
            problems.extend(error.problems)
            return None

    built = Parts()
    if given.store is None:
        built.store = attempt(lambda: components.open_configured_store(config, check_only=check_only))
    if given.chain is None:
        built.chain = attempt(lambda: components.build_chain(config))
    signers = given.signers or attempt(lambda: components.build_signers(config, environ))
    if given.signers is None:
        attempt(lambda: check_operator_key(config, environ))
    specs = attempt(lambda: components.configured_specs(config, environ))
    if given.backend is None:
        built.backend = attempt(lambda: components.build_backend(config))
        if built.backend is not None:
            try:
                await components.check_backend(config, built.backend)
            except StartupError as error:
                problems.extend(error.problems)
    problems.extend(tls_problems(config))
    if built.chain is not None and not problems and not check_only:
        try:
            await components.check_chain_id(config, built.chain)
        except StartupError as error:
            problems.extend(error.problems)
    if problems or check_only:
        await _close(built)
    if problems:
        raise StartupError(*problems)
    if check_only:
        return Parts()
    return Parts(
        store=given.store or built.store,
        chain=given.chain or built.chain,
        signers=signers,
        specs=specs,
        backend=given.backend or built.backend,
    )


async def check(config: ExecutorConfig, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Every problem `run` would stop at in `prepare`, found the same way, keeping nothing; and the
    ports `run` may not listen on (`port_problems`)."""
    problems = []
    try:
        await prepare(config, environ, check_only=True)
    except StartupError as error:
        problems = error.problems
    return problems + port_problems(config)


def check_operator_key(config: ExecutorConfig, environ: Mapping[str, str] = os.environ) -> None:
    """StartupError unless `operator.operatorPrivateKey` loads with the loader of
    `operator.signingKeys.ecdsa`; the key is not kept (the executor signs with `signingKeys`). A
    remote signer is not checked: this executor has none, and signs nothing with this key."""
    if config.operator.operator_private_key.remote_signer:
        return
    try:
        ecdsa_signer(config.operator.operator_private_key, OPERATOR_KEY_PATH, environ)
    except SigningKeyError as error:  # names the key; never contains a secret
        raise StartupError(str(error)) from None


def configured_ports(config: ExecutorConfig) -> dict[str, int]:
    """{key: port} of the servers `run` starts (the management one only when it has its own port)."""
    ports = {"grpcPort": config.grpc_port}
    if config.management_port != config.grpc_port:
        ports["managementServerGrpcPort"] = config.management_port
    if config.metrics_port:
        ports["metricsPort"] = config.metrics_port
    return ports


def port_problems(config: ExecutorConfig, host: str = LISTEN_HOST) -> list[str]:
    """The configured ports this process may not listen on (EACCES), as `run` words them. A port in
    use is not reported: that depends on the moment, not on the configuration."""
    problems = []
    for key, port in configured_ports(config).items():
        problem = bind_problem(host, port)
        if problem is not None and problem.errno == errno.EACCES:
            problems.extend(listen_error(key, f"{host}:{port}", problem).problems)
    return problems


def tls_problems(config: ExecutorConfig) -> list[str]:
    """The TLS files of `kubernetes.tls` that cannot be read, when TLS is enabled: every performer
    client reads them, so otherwise every deploy would fail."""
    # As `components.build_pool`: the `kubernetes` block's TLS applies to the performers of either mode.
    tls = config.kubernetes.tls if config.kubernetes is not None else None
    if tls is None or not tls.enabled:
        return []
    problems = []
    for key, path in (("caFile", tls.ca_file), ("certFile", tls.cert_file), ("keyFile", tls.key_file)):
        if path is None:
            continue
        try:
            Path(path).read_bytes()  # as the performer client does
        except OSError as error:
            problems.append(f"kubernetes.tls.{key}: cannot read {path}: {error.strerror or error}")
    return problems


async def _close(parts: Parts) -> None:
    # Closing what was only built to be checked: a failure to close is not a problem of the configuration.
    if parts.backend is not None:
        with contextlib.suppress(Exception):
            await parts.backend.close()
    if parts.chain is not None:
        with contextlib.suppress(Exception):
            await parts.chain.close()
    if parts.store is not None:
        with contextlib.suppress(Exception):
            parts.store.close()
