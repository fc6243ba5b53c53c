"""ExecutorManagementService answers each refused request with the code its contract table gives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.common import auth_pb2
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.pool import PerformerPool
from hourglass_executor.sdk import PerformerServer
from hourglass_executor.server.management_service import ManagementService
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend, RecordingWorker

pytestmark = pytest.mark.unit

OTHER_AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@contextlib.asynccontextmanager
async def served(
    specs: Mapping[str, PerformerSpec],
    *,
    mode: str = "docker",
    environ: Mapping[str, str] | None = None,
    env_from_executor: Mapping[str, frozenset[str]] | None = None,
) -> AsyncIterator[tuple[executor_pb2_grpc.ExecutorManagementServiceStub, LocalBackend, PerformerPool]]:
    """ManagementService without authentication on a gRPC server, over a started pool."""
    backend = LocalBackend()
    pool = PerformerPool(backend, MemoryStore(), dict(specs))
    await pool.start()
    server = grpc.aio.server()
    service = ManagementService(
        pool=pool,
        tokens=None,
        deployment_mode=mode,
        environ=environ or {},
        env_from_executor=env_from_executor,
    )
    executor_pb2_grpc.add_ExecutorManagementServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield executor_pb2_grpc.ExecutorManagementServiceStub(channel), backend, pool
    finally:
        await server.stop(0)
        await pool.shutdown()
        await backend.destroy()


def v1(avs: str = AVS, tag: str = "v1", endpoint_override: str | None = None) -> PerformerSpec:
    return PerformerSpec(
        avs_address=avs.lower(), repository=REPOSITORY, tag=tag, endpoint_override=endpoint_override
    )


async def refusal(call: object) -> tuple[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code().name, caught.value.details() or ""


def secret_env(name: str, value_from: executor_pb2.EnvValueFrom) -> executor_pb2.PerformerEnv:
    return executor_pb2.PerformerEnv(
        name=name, kubernetes_env=executor_pb2.KubernetesEnv(value_from=value_from)
    )


def test_a_signature_alone_is_an_auth_block_and_unimplemented_when_authentication_is_off() -> None:
    async def scenario() -> tuple[str, str]:
        async with served({AVS: v1()}) as (stub, _, _):
            auth = auth_pb2.AuthSignature(signature=b"\x01" * 65)  # no token, only a signature
            return await refusal(stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=auth)))

    code, details = asyncio.run(scenario())
    assert code == "UNIMPLEMENTED"
    assert "authentication is not enabled" in details


def test_list_performers_with_an_avs_address_lists_only_that_avss_performers() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with served({AVS: v1(), OTHER_AVS: v1(OTHER_AVS)}) as (stub, _, _):
            everything = await stub.ListPerformers(executor_pb2.ListPerformersRequest(), timeout=10)
            other = await stub.ListPerformers(
                executor_pb2.ListPerformersRequest(avs_address=OTHER_AVS), timeout=10
            )
            return [p.avs_address for p in everything.performers], [p.avs_address for p in other.performers]

    everything, other = asyncio.run(scenario())
    assert sorted(everything) == sorted([AVS.lower(), OTHER_AVS.lower()])
    assert other == [OTHER_AVS.lower()]


def test_deploy_artifact_without_an_avs_address_is_invalid_argument() -> None:
    async def scenario() -> tuple[str, str]:
        async with served({AVS: v1()}) as (stub, _, _):
            request = executor_pb2.DeployArtifactRequest(registry_url=f"{REPOSITORY}:v2")
            return await refusal(stub.DeployArtifact(request, timeout=10))

    assert asyncio.run(scenario()) == (
        "INVALID_ARGUMENT",
        'avs_address must be "0x" followed by 40 hex digits',
    )


def test_deploy_artifact_without_any_tag_or_digest_is_invalid_argument() -> None:
    async def scenario() -> tuple[tuple[str, str], list[str]]:
        async with served({AVS: v1(tag="")}) as (stub, backend, _):
            request = executor_pb2.DeployArtifactRequest(avs_address=AVS, registry_url="registry.example/x")
            return await refusal(stub.DeployArtifact(request, timeout=10)), list(backend.created)

    (code, details), created = asyncio.run(scenario())
    assert code == "INVALID_ARGUMENT"
    assert "registry_url has no tag, no digest is given" in details
    assert len(created) == 1  # only the configured performer


def test_deploy_artifact_with_a_tag_but_no_repository_name_is_invalid_argument() -> None:
    async def scenario() -> tuple[tuple[str, str], list[str]]:
        async with served({AVS: v1()}) as (stub, backend, _):
            request = executor_pb2.DeployArtifactRequest(avs_address=AVS, registry_url="registry.example/:v2")
            return await refusal(stub.DeployArtifact(request, timeout=10)), list(backend.created)

    (code, details), created = asyncio.run(scenario())
    assert code == "INVALID_ARGUMENT"
    assert "registry_url has an invalid tag" in details
    assert len(created) == 1


def test_a_listed_variable_the_executors_environment_lacks_is_failed_precondition() -> None:
    async def scenario() -> tuple[str, str]:
        allowed = {AVS.lower(): frozenset({"HOST_TOKEN"})}
        async with served({AVS: v1()}, environ={}, env_from_executor=allowed) as (stub, _, _):
            env = [executor_pb2.PerformerEnv(name="TOKEN", value_from_env="HOST_TOKEN")]
            request = executor_pb2.DeployArtifactRequest(
                avs_address=AVS, registry_url=f"{REPOSITORY}:v2", env=env
            )
            return await refusal(stub.DeployArtifact(request, timeout=10))

    code, details = asyncio.run(scenario())
    assert code == "FAILED_PRECONDITION"
    assert "env[0] (TOKEN): the executor's environment has no HOST_TOKEN" in details


def test_a_kubernetes_env_reference_needs_exactly_one_ref_and_a_valid_key() -> None:
    async def scenario() -> list[tuple[str, str]]:
        async with served({AVS: v1()}, mode="kubernetes") as (stub, _, _):
            secret = executor_pb2.SecretKeyRef(name="avs-secrets", key="rpc")
            config_map = executor_pb2.ConfigMapKeyRef(name="avs", key="chain-id")
            envs = [
                secret_env("NEITHER", executor_pb2.EnvValueFrom()),
                secret_env(
                    "BOTH", executor_pb2.EnvValueFrom(secret_key_ref=secret, config_map_key_ref=config_map)
                ),
                secret_env(
                    "BAD_KEY",
                    executor_pb2.EnvValueFrom(secret_key_ref=executor_pb2.SecretKeyRef(name="s", key="a/b")),
                ),
            ]
            return [
                await refusal(
                    stub.DeployArtifact(
                        executor_pb2.DeployArtifactRequest(avs_address=AVS, env=[env]), timeout=10
                    )
                )
                for env in envs
            ]

    neither, both, bad_key = asyncio.run(scenario())
    exactly_one = "kubernetes_env.value_from needs exactly one of secret_key_ref, config_map_key_ref"
    assert neither == ("INVALID_ARGUMENT", f"env[0] (NEITHER): {exactly_one}")
    assert both == ("INVALID_ARGUMENT", f"env[0] (BOTH): {exactly_one}")
    assert bad_key[0] == "INVALID_ARGUMENT"
    assert bad_key[1].startswith("env[0] (BAD_KEY): the reference needs a DNS-1123 name and a key")


def test_a_deploy_while_the_pool_shuts_down_is_aborted() -> None:
    async def scenario() -> tuple[str, str]:
        async with served({AVS: v1()}) as (stub, _, pool):
            await pool.shutdown()
            request = executor_pb2.DeployArtifactRequest(avs_address=AVS, registry_url=f"{REPOSITORY}:v2")
            return await refusal(stub.DeployArtifact(request, timeout=10))

    code, details = asyncio.run(scenario())
    assert code == "ABORTED"
    assert "shutting down" in details


def test_a_deployed_performer_keeps_the_avss_configured_endpoint_override() -> None:
    async def scenario() -> tuple[str, str | None]:
        performer = PerformerServer(RecordingWorker("v1"), 0, "127.0.0.1")
        await performer.start()
        endpoint = f"127.0.0.1:{performer.bound_port}"
        try:
            async with served({AVS: v1(endpoint_override=endpoint)}) as (stub, backend, _):
                request = executor_pb2.DeployArtifactRequest(avs_address=AVS, registry_url=f"{REPOSITORY}:v2")
                response = await stub.DeployArtifact(request, timeout=30)
                return endpoint, backend.history[response.deployment_id].deployment.spec.endpoint_override
        finally:
            await performer.stop(0)

    endpoint, deployed = asyncio.run(scenario())
    assert deployed == endpoint
