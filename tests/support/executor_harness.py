"""Running the executor in-process for unit tests: a configuration in docker mode whose backend is
replaced by a `LocalBackend`, the static chain of `aggregator.chain_document`, the memory store;
the signers are the configuration's (ECDSA) unless given (`aggregator.executor_signers()` adds BN254)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2_grpc
from hourglass_executor.chain import StaticChainReader
from hourglass_executor.config import ExecutorConfig, validate_config
from hourglass_executor.performers.pool import PoolSettings
from hourglass_executor.server.app import Executor
from hourglass_executor.signing.signer import Signer
from hourglass_executor.store import Store
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, chain_document, executor_identity
from tests.support.local_backend import LocalBackend
from tests.support.ports import free_port

REPOSITORY = "registry.example/avs/echo-performer"


def config_data(*, avss: tuple[str, ...] = (AVS,), tag: str | None = "v1", **top: Any) -> dict[str, Any]:
    """Executor configuration (YAML keys) serving `avss` with `REPOSITORY:tag` (no image when None)."""
    return {
        "grpcPort": free_port(),
        **executor_identity(),
        "avsPerformers": [
            {
                "avsAddress": avs,
                "deploymentMode": "docker",
                **({"image": {"repository": REPOSITORY, "tag": tag}} if tag else {}),
            }
            for avs in avss
        ],
        **top,
    }


def executor_config(**kwargs: Any) -> ExecutorConfig:
    return validate_config(config_data(**kwargs))


def static_chain(avss: tuple[str, ...] = (AVS,), aggregator_curve: str = "ECDSA") -> StaticChainReader:
    return StaticChainReader.from_mapping(chain_document(avss, aggregator_curve=aggregator_curve))


@contextlib.asynccontextmanager
async def running_executor(
    config: ExecutorConfig,
    backend: LocalBackend | None = None,
    *,
    chain: StaticChainReader | None = None,
    store: Store | None = None,
    settings: PoolSettings | None = None,
    environ: dict[str, str] | None = None,
    signers: dict[str, Signer] | None = None,
) -> AsyncIterator[Executor]:
    """A started executor (SERVING); stopped, and its backend's performers destroyed, afterwards."""
    backend = backend or LocalBackend()
    executor = Executor(
        config,
        backend=backend,
        chain=chain or static_chain(),
        store=store or MemoryStore(),
        signers=signers,
        settings=settings,
        environ=environ or {},
        host="127.0.0.1",
    )
    try:
        await executor.start()
        yield executor
    finally:
        await executor.stop()
        await backend.destroy()


def task_stub(executor: Executor) -> tuple[grpc.aio.Channel, executor_pb2_grpc.ExecutorServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{executor.task_port}")
    return channel, executor_pb2_grpc.ExecutorServiceStub(channel)
