"""ExecutorManagementService over real gRPC: challenge-token authentication (required, single use,
expiring, signed by the executor's key), auth disabled, DeployArtifact building the performer from
the request (registry, tag, digest, env, service account) and refusing unknown AVSs, ListPerformers
and RemovePerformer."""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.common import auth_pb2
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.auth import DEFAULT_MAX_PER_REQUESTER, ChallengeTokens, sign_challenge
from hourglass_executor.performers.base import EnvVar, PerformerSpec
from hourglass_executor.performers.pool import PerformerPool
from hourglass_executor.server.management_service import ManagementService
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, EXECUTOR, STRANGER, new_task_id
from tests.support.executor_harness import REPOSITORY, executor_config, running_executor
from tests.support.local_backend import LocalBackend
from tests.support.management import ManagementClient

pytestmark = pytest.mark.unit

OTHER_AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DIGEST = "sha256:" + "5e" * 32
VERSION = json.dumps({"op": "version"}).encode()


def code_of(error: BaseException) -> str:
    assert isinstance(error, grpc.aio.AioRpcError), error
    return error.code().name


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def with_executor(scenario, backend: LocalBackend | None = None, environ=None, **config):
    backend = backend or LocalBackend()

    async def main():
        async with (
            running_executor(
                executor_config(authentication={"enabled": True}, **config), backend, environ=environ
            ) as executor,
            grpc.aio.insecure_channel(f"127.0.0.1:{executor.management_port}") as channel,
        ):
            return await scenario(ManagementClient(channel), backend, executor)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def management_server(tokens: ChallengeTokens | None, *, mode: str = "docker", environ=None):
    """ManagementService alone on a gRPC server, over a started pool of a LocalBackend."""
    backend = LocalBackend()
    spec = PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag="v1")
    pool = PerformerPool(backend, MemoryStore(), {AVS: spec})
    await pool.start()
    server = grpc.aio.server()
    service = ManagementService(pool=pool, tokens=tokens, deployment_mode=mode, environ=environ or {})
    executor_pb2_grpc.add_ExecutorManagementServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield ManagementClient(channel), backend, pool
    finally:
        await server.stop(0)
        await pool.shutdown()
        await backend.destroy()


# --- authentication --------------------------------------------------------------------------


def test_every_management_call_needs_a_fresh_token_signed_by_the_executors_key():
    async def scenario(client: ManagementClient, backend, executor):
        stub = client.stub
        outcomes = {}
        outcomes["no auth"] = await refused(stub.ListPerformers(executor_pb2.ListPerformersRequest()))
        auth = await client.auth()
        listed = await stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=auth))
        outcomes["reused"] = await refused(stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=auth)))
        token = (await client.auth()).challenge_token
        stranger = auth_pb2.AuthSignature(challenge_token=token, signature=sign_challenge(STRANGER, token))
        outcomes["wrong key"] = await refused(
            stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=stranger))
        )
        made_up = auth_pb2.AuthSignature(
            challenge_token="ab" * 32, signature=sign_challenge(EXECUTOR, "ab" * 32)
        )
        outcomes["made up"] = await refused(
            stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=made_up))
        )
        garbage = auth_pb2.AuthSignature(
            challenge_token=(await client.auth()).challenge_token, signature=b"\x01"
        )
        outcomes["bad signature"] = await refused(
            stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=garbage))
        )
        outcomes["deploy unknown AVS without auth"] = await refused(
            stub.DeployArtifact(executor_pb2.DeployArtifactRequest(avs_address=OTHER_AVS))
        )
        outcomes["remove without auth"] = await refused(
            stub.RemovePerformer(
                executor_pb2.RemovePerformerRequest(performer_id=listed.performers[0].performer_id)
            )
        )
        outcomes["token for another address"] = await refused(client.auth(STRANGER.address))
        outcomes["token for a malformed address"] = await refused(client.auth("0x1234"))
        return listed, outcomes, list(backend.created), list(backend.removed)

    listed, outcomes, created, removed = with_executor(scenario)
    assert [p.status for p in listed.performers] == ["InService"]
    expected = {
        "no auth": ("UNAUTHENTICATED", "such as hgctl, needs authentication.enabled: false"),
        "reused": ("UNAUTHENTICATED", "challenge token already used"),
        "wrong key": ("UNAUTHENTICATED", "not the executor's ECDSA signing key's signature"),
        "made up": ("UNAUTHENTICATED", "unknown challenge token"),
        "bad signature": ("UNAUTHENTICATED", "bad challenge signature"),
        "deploy unknown AVS without auth": ("UNAUTHENTICATED", "missing challenge token"),
        "remove without auth": ("UNAUTHENTICATED", "missing challenge token"),
        "token for another address": ("PERMISSION_DENIED", "not this executor's operator address"),
        "token for a malformed address": ("INVALID_ARGUMENT", "operator_address must be"),
    }
    assert {name: code_of(error) for name, error in outcomes.items()} == {
        k: v[0] for k, v in expected.items()
    }
    for name, (_, fragment) in expected.items():
        assert fragment in outcomes[name].details(), name
    assert len(created) == 1 and removed == []  # refused calls changed nothing


def test_an_expired_token_is_refused():
    class Clock:
        now = 1_000_000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()

    async def scenario():
        tokens = ChallengeTokens(EXECUTOR.address, EXECUTOR, clock=clock)
        async with management_server(tokens) as (client, _, _):
            auth = await client.auth()
            response = await client.stub.GetChallengeToken(
                executor_pb2.GetChallengeTokenRequest(operator_address=EXECUTOR.address.lower())
            )
            clock.now += 301
            return response, await refused(
                client.stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=auth))
            )

    response, expired = asyncio.run(scenario())
    assert len(response.challenge_token) == 64 and response.expires_at == 1_000_000 + 300
    assert (code_of(expired), expired.details()) == ("UNAUTHENTICATED", "challenge token expired")


def test_a_flood_of_token_requests_gets_resource_exhausted_and_the_legitimate_token_still_works():
    """Issue 11 item 6: 1100 unauthenticated GetChallengeToken calls used to evict a legitimate token
    (it was then "unknown"). The flood comes from the legitimate client's own address (loopback),
    the hardest case: its token survives, the flood is refused with a retry hint."""

    async def scenario(client: ManagementClient, backend, executor):
        legitimate = await client.auth()
        request = executor_pb2.GetChallengeTokenRequest(operator_address=EXECUTOR.address)
        outcomes: list[object] = []

        async def flood(calls: int) -> None:  # 10 callers in parallel, as a flooding script would
            for _ in range(calls):
                try:
                    outcomes.append(await client.stub.GetChallengeToken(request, timeout=30))
                except grpc.aio.AioRpcError as error:
                    outcomes.append(error)

        await asyncio.gather(*(flood(110) for _ in range(10)))
        listed = await client.stub.ListPerformers(
            executor_pb2.ListPerformersRequest(auth=legitimate), timeout=10
        )
        return outcomes, listed

    outcomes, listed = with_executor(scenario)
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    issued = [o for o in outcomes if isinstance(o, executor_pb2.GetChallengeTokenResponse)]
    assert len(issued) + len(refused) == 1100
    assert len(issued) < DEFAULT_MAX_PER_REQUESTER  # the legitimate token holds one place
    assert {e.code().name for e in refused} == {"RESOURCE_EXHAUSTED"}
    for error in refused:
        retry_after = dict(error.trailing_metadata())["retry-after"]
        assert 1 <= int(retry_after) <= 300
        assert error.details().endswith(f"retry in {retry_after} s")
    assert [p.status for p in listed.performers] == ["InService"]  # the legitimate token worked


def test_with_authentication_disabled_a_token_is_unimplemented_and_calls_without_one_work():
    async def scenario():
        async with management_server(None) as (client, backend, _):
            token = auth_pb2.AuthSignature(challenge_token="ab" * 32, signature=b"\x01" * 65)
            stub = client.stub
            outcomes = [
                await refused(stub.ListPerformers(executor_pb2.ListPerformersRequest(auth=token))),
                await refused(
                    stub.DeployArtifact(executor_pb2.DeployArtifactRequest(avs_address=AVS, auth=token))
                ),
                await refused(
                    stub.RemovePerformer(executor_pb2.RemovePerformerRequest(performer_id="x", auth=token))
                ),
                await refused(client.auth()),
            ]
            listed = await stub.ListPerformers(executor_pb2.ListPerformersRequest())
            deployed = await stub.DeployArtifact(
                executor_pb2.DeployArtifactRequest(avs_address=AVS, registry_url=f"{REPOSITORY}:v2"),
                timeout=10,
            )
            return outcomes, listed, deployed, backend.created

    outcomes, listed, deployed, created = asyncio.run(scenario())
    assert [code_of(e) for e in outcomes] == ["UNIMPLEMENTED"] * 4
    assert "authentication is not enabled" in outcomes[0].details()
    assert len(listed.performers) == 1
    assert deployed.success and deployed.deployment_id == created[-1]


# --- DeployArtifact --------------------------------------------------------------------------


def test_deploy_artifact_switches_to_the_requested_image_and_lists_it():
    async def scenario(client: ManagementClient, backend, executor):
        v1 = (await client.list())[0].performer_id
        response = await client.deploy(avs_address=AVS.lower(), registry_url="registry.example/other:v2")
        listing = await client.list(AVS)
        version = await executor.pool.run_task(AVS, new_task_id(), VERSION, timeout=5)
        return v1, response, listing, version, list(backend.removed)

    v1, response, listing, version, removed = with_executor(scenario)
    assert response.success and response.deployment_id
    assert response.message == (
        f"performer {response.deployment_id} (registry.example/other:v2) is in service for AVS {AVS.lower()}"
    )
    [entry] = listing
    assert (entry.performer_id, entry.status, entry.avs_address) == (
        response.deployment_id,
        "InService",
        AVS.lower(),
    )
    assert (entry.artifact_registry, entry.artifact_tag, entry.artifact_digest) == (
        "registry.example/other",
        "v2",
        "",
    )
    assert entry.resource_healthy and entry.application_healthy and entry.last_health_check
    assert entry.container_id == f"local-{response.deployment_id}"
    assert version == b"v2"
    assert removed == [v1]


def test_deploy_artifact_uses_the_digest_the_env_and_the_configured_tag():
    environ = {"HOST_TOKEN": "from-the-executor"}

    async def scenario(client: ManagementClient, backend, executor):
        response = await client.deploy(
            avs_address=AVS,
            registry_url="registry.example/pinned",
            digest=DIGEST,
            env=[
                executor_pb2.PerformerEnv(name="LOG_LEVEL", value="debug"),
                executor_pb2.PerformerEnv(name="TOKEN", value_from_env="HOST_TOKEN"),
                executor_pb2.PerformerEnv(name="EMPTY"),
            ],
        )
        return backend.history[response.deployment_id].deployment.spec

    listed = {"avsAddress": AVS, "deploymentMode": "docker", "image": {"repository": REPOSITORY, "tag": "v1"}}
    listed["envs"] = [{"name": "TOKEN", "valueFromEnv": "HOST_TOKEN"}]
    spec = with_executor(scenario, environ=environ, avsPerformers=[listed])
    assert spec.image == f"registry.example/pinned@{DIGEST}"
    assert spec.tag == "v1"  # the configured tag (registry_url has none)
    assert spec.env == (  # the configured TOKEN first, as the request gives it again
        EnvVar("TOKEN", value="from-the-executor"),
        EnvVar("LOG_LEVEL", value="debug"),
        EnvVar("EMPTY", value=""),
    )


def test_deploy_artifact_never_copies_an_executor_variable_its_configuration_does_not_pass_to_the_avs():
    """With authentication off (the default), anyone reaching the management port could have a
    keystore's password (`passwordEnv`) copied into an image of their choice; and told apart the
    variables that are set from those that are not."""
    environ = {"BLS_KEYSTORE_PASSWORD": "hunter2", "HOST_TOKEN": "listed"}
    listed = {"avsAddress": AVS, "deploymentMode": "docker", "image": {"repository": REPOSITORY, "tag": "v1"}}
    listed["envs"] = [{"name": "TOKEN", "valueFromEnv": "HOST_TOKEN"}]

    async def scenario(client: ManagementClient, backend, executor):
        errors = []
        for name in ("BLS_KEYSTORE_PASSWORD", "NOT_SET_ANYWHERE"):
            env = [executor_pb2.PerformerEnv(name="LEAK", value_from_env=name)]
            errors.append(
                await refused(client.deploy(avs_address=AVS, registry_url=f"{REPOSITORY}:v2", env=env))
            )
        specs = [performer.deployment.spec for performer in backend.history.values()]
        return errors, specs

    errors, specs = with_executor(scenario, environ=environ, avsPerformers=[listed])
    assert [code_of(error) for error in errors] == ["PERMISSION_DENIED", "PERMISSION_DENIED"]
    assert errors[0].details().replace("BLS_KEYSTORE_PASSWORD", "X") == errors[1].details().replace(
        "NOT_SET_ANYWHERE", "X"
    )
    assert all("hunter2" not in str(spec) for spec in specs) and len(specs) == 1  # only the configured v1


def test_deploy_artifact_takes_kubernetes_env_references_and_the_service_account_in_kubernetes_mode():
    async def scenario():
        async with management_server(None, mode="kubernetes") as (client, backend, _):
            ref = executor_pb2.EnvValueFrom(
                secret_key_ref=executor_pb2.SecretKeyRef(name="avs-secrets", key="rpc")
            )
            cm = executor_pb2.EnvValueFrom(
                config_map_key_ref=executor_pb2.ConfigMapKeyRef(name="avs", key="chain-id")
            )
            response = await client.stub.DeployArtifact(
                executor_pb2.DeployArtifactRequest(
                    avs_address=AVS,
                    env=[
                        executor_pb2.PerformerEnv(
                            name="RPC", kubernetes_env=executor_pb2.KubernetesEnv(value_from=ref)
                        ),
                        executor_pb2.PerformerEnv(
                            name="CHAIN", kubernetes_env=executor_pb2.KubernetesEnv(value_from=cm)
                        ),
                    ],
                    kubernetes=executor_pb2.KubernetesConfig(service_account_name="avs-runner"),
                ),
                timeout=10,
            )
            return backend.history[response.deployment_id].deployment.spec

    spec = asyncio.run(scenario())
    assert spec.image == f"{REPOSITORY}:v1"  # no registry_url: the configured image
    assert spec.env == (
        EnvVar("RPC", secret_key_ref=("avs-secrets", "rpc")),
        EnvVar("CHAIN", config_map_key_ref=("avs", "chain-id")),
    )
    assert spec.service_account_name == "avs-runner"


BAD_DEPLOYS = [
    ("unknown AVS", {"avs_address": OTHER_AVS}, "NOT_FOUND", "is not configured on this executor"),
    ("malformed AVS", {"avs_address": "0x12"}, "INVALID_ARGUMENT", "avs_address must be"),
    ("digest in registry_url", {"registry_url": f"r.example/x@{DIGEST}"}, "INVALID_ARGUMENT", "no @digest"),
    ("scheme in registry_url", {"registry_url": "https://r.example/x"}, "INVALID_ARGUMENT", "no scheme"),
    ("bad tag", {"registry_url": "r.example/x:-bad"}, "INVALID_ARGUMENT", "invalid tag"),
    ("bad digest", {"digest": "sha256:xyz"}, "INVALID_ARGUMENT", "digest must be"),
    (
        "two env sources",
        {"env": [executor_pb2.PerformerEnv(name="A", value="1", value_from_env="B")]},
        "INVALID_ARGUMENT",
        "found: value, value_from_env",
    ),
    ("env name with =", {"env": [executor_pb2.PerformerEnv(name="A=B")]}, "INVALID_ARGUMENT", "without '='"),
    (
        "executor env not listed for the AVS",
        {"env": [executor_pb2.PerformerEnv(name="A", value_from_env="NOT_SET_ANYWHERE")]},
        "PERMISSION_DENIED",
        "only a variable that avsPerformers[].envs pass to AVS",
    ),
    (
        "kubernetes env in docker mode",
        {
            "env": [
                executor_pb2.PerformerEnv(
                    name="A",
                    kubernetes_env=executor_pb2.KubernetesEnv(
                        value_from=executor_pb2.EnvValueFrom(
                            secret_key_ref=executor_pb2.SecretKeyRef(name="s", key="k")
                        )
                    ),
                )
            ]
        },
        "INVALID_ARGUMENT",
        "kubernetes_env needs kubernetes mode",
    ),
    (
        "performer never ready",
        {"registry_url": f"{REPOSITORY}:broken"},
        "FAILED_PRECONDITION",
        "keeps serving",
    ),
]


@pytest.mark.parametrize(
    ("fields", "code", "fragment"), [b[1:] for b in BAD_DEPLOYS], ids=[b[0] for b in BAD_DEPLOYS]
)
def test_bad_deploys_get_their_code_and_the_current_performer_keeps_serving(fields, code, fragment):
    async def scenario(client: ManagementClient, backend, executor):
        error = await refused(client.deploy(**{"avs_address": AVS, **fields}))
        version = await executor.pool.run_task(AVS, new_task_id(), VERSION, timeout=5)
        return error, version, list(backend.performers)

    backend = LocalBackend(fail_ready={"broken"})
    error, version, running = with_executor(scenario, backend=backend)
    assert code_of(error) == code
    assert fragment in error.details()
    assert version == b"v1"
    assert len(running) == 1


# --- RemovePerformer -------------------------------------------------------------------------


def test_remove_performer_removes_it_and_unknown_ids_are_not_found():
    async def scenario(client: ManagementClient, backend, executor):
        v1 = (await client.list())[0].performer_id
        unknown = await refused(client.remove("performer-000000-00000000"))
        empty = await refused(client.remove(""))
        removed = await client.remove(v1)
        return v1, unknown, empty, removed, await client.list(), list(backend.removed)

    v1, unknown, empty, removed, listing, backend_removed = with_executor(scenario)
    assert (code_of(unknown), code_of(empty)) == ("NOT_FOUND", "INVALID_ARGUMENT")
    assert removed.success and removed.message == f"performer {v1} removed"
    assert listing == [] and backend_removed == [v1]
