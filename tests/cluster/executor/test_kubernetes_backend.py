"""The executor's Kubernetes backend against the real control plane and the real operator process:
the Performer it writes is the one an upstream executor writes (plus the owner label), readiness
and removal are watched, ownership separates executors, and API rejections keep their message."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time

import pytest
from hourglass_executor.config import KubernetesConfig
from hourglass_executor.performers.base import BackendError, EnvVar, NotReadyError, PerformerSpec
from hourglass_executor.performers.kubernetes import KubernetesBackend

from tests.support.api import exists
from tests.support.performers import AVS, GROUP, PLURAL, VERSION, evict_pod, get_performer
from tests.support.waiting import wait_for_async

NAME_RE = re.compile(r"^performer-[0-9a-f]{6}-[0-9a-f]{8}$")
DIGEST = "sha256:" + "ab" * 32
OTHER_AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def backend(cluster, namespace: str, owner: str = "executor-a", **options) -> KubernetesBackend:
    config = KubernetesConfig.model_validate(
        {"namespace": namespace, "kubeConfigPath": str(cluster.kubeconfig), "connectionTimeout": "10s"}
    )
    return KubernetesBackend(config, owner, **options)


def spec(avs: str = AVS, **changes) -> PerformerSpec:
    fields = {"avs_address": avs, "repository": "registry.example/avs/performer", "tag": "v1.2.3", **changes}
    return PerformerSpec(**fields)


def test_create_writes_the_upstream_performer_and_wait_ready_watches_it_become_ready(
    cluster, core, custom, namespace, operator
):
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "avs-performer"}})
    requested = spec(
        digest=DIGEST,
        service_account_name="avs-performer",
        env=(
            EnvVar("LOG_LEVEL", "debug"),
            EnvVar("PRIVATE_RPC", secret_key_ref=("avs-secrets", "rpc")),
            EnvVar("CHAIN_ID", config_map_key_ref=("avs-config", "chain-id")),
        ),
    )

    async def scenario():
        b = backend(cluster, namespace)
        try:
            created = await b.create(requested)
            assert not created.ready
            started = time.monotonic()
            ready = await b.wait_ready(created, timeout=60)
            return created, ready, time.monotonic() - started, await b.resource_healthy(created.performer_id)
        finally:
            await b.close()

    created, ready, waited, healthy = asyncio.run(scenario())
    name = created.performer_id
    assert NAME_RE.match(name), name
    assert name.startswith(f"performer-{hashlib.sha256(AVS.lower().encode()).hexdigest()[:6]}-")
    assert ready is created and ready.ready and healthy
    assert waited < 60

    cr = get_performer(custom, namespace, name)
    assert cr["metadata"]["labels"] == {
        "app": "hourglass-performer",
        "hourglass.eigenlayer.io/avs": AVS,
        "hourglass.eigenlayer.io/performer": name,
        "hourglass.eigenlayer.io/executor": "executor-a",
    }
    assert cr["spec"] == {
        "avsAddress": AVS,
        "image": f"registry.example/avs/performer@{DIGEST}",
        "imagePullPolicy": "IfNotPresent",
        "version": "v1.2.3",
        "config": {
            "grpcPort": 8080,
            "environment": {"AVS_ADDRESS": AVS, "GRPC_PORT": "8080", "LOG_LEVEL": "debug"},
            "environmentFrom": [
                {"name": "PRIVATE_RPC", "valueFrom": {"secretKeyRef": {"name": "avs-secrets", "key": "rpc"}}},
                {
                    "name": "CHAIN_ID",
                    "valueFrom": {"configMapKeyRef": {"name": "avs-config", "key": "chain-id"}},
                },
            ],
            "serviceAccountName": "avs-performer",
        },
    }
    assert cr["status"]["ready"] is True
    entries = cr["metadata"]["managedFields"]
    spec_writers = {e["manager"] for e in entries if "f:spec" in e.get("fieldsV1", {})}
    assert spec_writers == {"hourglass-executor"}  # the API server names the writer after its User-Agent
    assert created.resource_id == cr["metadata"]["uid"]
    assert created.details == {"image": cr["spec"]["image"], "uid": cr["metadata"]["uid"]}

    # The endpoint is the DNS name of the Service the operator created, with the gRPC port.
    host = f"performer-{name}.{namespace}.svc.cluster.local"
    assert created.endpoint == f"{host}:8080"
    assert cr["status"]["grpcEndpoint"] == host
    service = core.read_namespaced_service(f"performer-{name}", namespace)
    assert [(p.name, p.port) for p in service.spec.ports] == [("grpc", 8080)]
    pod = core.read_namespaced_pod(f"performer-{name}", namespace)
    assert pod.spec.containers[0].image == f"registry.example/avs/performer@{DIGEST}"


def test_endpoint_is_the_override_else_the_resolvers_answer(cluster, namespace, performer_crd):
    async def scenario():
        b = backend(cluster, namespace, resolver=lambda d: f"127.0.0.1:{len(d.performer_id)}")
        try:
            resolved = await b.create(spec())
            overridden = await b.create(spec(endpoint_override="localhost:9999"))
            return resolved, overridden
        finally:
            await b.close()

    resolved, overridden = asyncio.run(scenario())
    assert resolved.endpoint == "127.0.0.1:25"
    assert overridden.endpoint == "localhost:9999"


def test_owned_lists_exactly_this_executors_performers_with_their_specs(
    cluster, custom, namespace, performer_crd
):
    first = spec(env=(EnvVar("LOG_LEVEL", "debug"), EnvVar("TOKEN", secret_key_ref=("s", "token"))))
    second = spec(avs=OTHER_AVS, digest=DIGEST, service_account_name="runner")

    async def scenario():
        mine, other = backend(cluster, namespace), backend(cluster, namespace, owner="executor-b")
        try:
            created = [await mine.create(first), await mine.create(second)]
            foreign = await other.create(spec())
            return created, foreign, await mine.owned(), await other.owned()
        finally:
            await mine.close()
            await other.close()

    created, foreign, owned, others = asyncio.run(scenario())
    assert sorted(d.performer_id for d in owned) == sorted(d.performer_id for d in created)
    assert [d.performer_id for d in others] == [foreign.performer_id]
    stamps = [
        get_performer(custom, namespace, d.performer_id)["metadata"]["creationTimestamp"] for d in owned
    ]
    assert [(s, d.performer_id) for s, d in zip(stamps, owned, strict=True)] == sorted(
        zip(stamps, (d.performer_id for d in owned), strict=True)
    )
    by_id = {d.performer_id: d for d in owned}
    for original, requested in zip(created, (first, second), strict=True):
        adopted = by_id[original.performer_id]
        assert not adopted.ready
        assert adopted.endpoint == original.endpoint
        assert adopted.resource_id == original.resource_id
        assert (adopted.spec.avs_address, adopted.spec.repository, adopted.spec.tag, adopted.spec.digest) == (
            requested.avs_address,
            requested.repository,
            requested.tag,
            requested.digest,
        )
        assert set(adopted.spec.env) == set(requested.env)
        assert adopted.spec.service_account_name == requested.service_account_name
        assert adopted.spec.image == requested.image


def test_remove_deletes_and_returns_once_performer_pod_and_service_are_gone(
    cluster, core, custom, namespace, operator
):
    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.wait_ready(await b.create(spec()), timeout=60)
            started = time.monotonic()
            await b.remove(deployment.performer_id)
            took = time.monotonic() - started
            await b.remove(deployment.performer_id)  # already gone: not an error
            return deployment.performer_id, took, await b.owned()
        finally:
            await b.close()

    name, took, owned = asyncio.run(scenario())
    assert not exists(get_performer, custom, namespace, name)
    assert not exists(core.read_namespaced_pod, f"performer-{name}", namespace)
    assert not exists(core.read_namespaced_service, f"performer-{name}", namespace)
    assert owned == []
    assert took < 60


def test_wait_ready_raises_when_nothing_makes_the_performer_ready(cluster, namespace, performer_crd):
    async def scenario():
        b = backend(cluster, namespace)  # no operator runs in this namespace
        try:
            deployment = await b.create(spec())
            started = time.monotonic()
            with pytest.raises(NotReadyError, match=r"not ready after 2 s \(phase not reported yet\)"):
                await b.wait_ready(deployment, timeout=2)
            return time.monotonic() - started
        finally:
            await b.close()

    assert 2 <= asyncio.run(scenario()) < 5


def test_wait_ready_waits_for_the_status_endpoint_and_dials_what_it_says(
    cluster, custom, namespace, performer_crd
):
    """No operator runs here: the test writes the status as an operator would, first ready without
    an endpoint (not ready for the executor: nothing to dial), then with an endpoint in another
    cluster domain, which the executor dials as written instead of rebuilding a cluster.local name."""
    host = f"performer-x.{namespace}.svc.example.internal"

    def write_status(name: str, status: dict) -> None:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": status}
        )

    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.create(spec())
            name, endpoint_at_create = deployment.performer_id, deployment.endpoint
            await asyncio.to_thread(write_status, name, {"phase": "Running", "ready": True})
            with pytest.raises(NotReadyError, match=r"ready, but status\.grpcEndpoint is not reported yet"):
                await b.wait_ready(deployment, timeout=2)
            waiting = asyncio.create_task(b.wait_ready(deployment, timeout=30))
            await asyncio.to_thread(write_status, name, {"grpcEndpoint": host})
            return endpoint_at_create, await waiting, await b.owned()
        finally:
            await b.close()

    endpoint_at_create, ready, owned = asyncio.run(scenario())
    assert endpoint_at_create == ""  # nothing to dial before the operator reports it
    assert ready.ready and ready.endpoint == f"{host}:8080"
    assert [d.endpoint for d in owned] == [f"{host}:8080"]  # adoption reads it from the status too


def test_wait_ready_raises_when_the_performer_is_deleted_meanwhile(cluster, custom, namespace, performer_crd):
    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.create(spec())
            waiting = asyncio.create_task(b.wait_ready(deployment, timeout=60))
            await asyncio.sleep(0.5)
            started = time.monotonic()
            await asyncio.to_thread(
                custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                deployment.performer_id,
            )
            with pytest.raises(NotReadyError, match="was deleted before it became ready"):
                await waiting
            return time.monotonic() - started
        finally:
            await b.close()

    assert asyncio.run(scenario()) < 5


def test_wait_ready_raises_with_the_condition_when_the_performer_fails(cluster, custom, namespace, operators):
    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.create(spec())
            # An admin's edit before any reconcile: a ServiceAccount that does not exist, so the
            # API server refuses the pod.
            await asyncio.to_thread(
                custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                deployment.performer_id,
                {"spec": {"config": {"serviceAccountName": "missing-sa"}}},
            )
            await asyncio.to_thread(operators().wait_ready)
            with pytest.raises(NotReadyError) as raised:
                await b.wait_ready(deployment, timeout=60)
            return str(raised.value)
        finally:
            await b.close()

    message = asyncio.run(scenario())
    assert "failed: phase Failed" in message
    assert 'serviceaccount "missing-sa" not found' in message


def test_wait_ready_waits_while_the_operator_replaces_a_pod_that_ended(
    cluster, core, custom, namespace, operator
):
    # A deploy's new pod evicted (or rejected by its node) before the executor looks: the Performer is
    # Failed with its pod, but the operator replaces that pod, so the deploy waits instead of failing.
    def phase(name: str) -> str | None:
        return (get_performer(custom, namespace, name).get("status") or {}).get("phase")

    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.create(spec())
            name = deployment.performer_id
            pod = f"performer-{name}"
            await wait_for_async(lambda: phase(name) == "Running", timeout=60, interval=0.1, what="Running")
            old_uid = (await asyncio.to_thread(core.read_namespaced_pod, pod, namespace)).metadata.uid
            await asyncio.to_thread(evict_pod, core, namespace, pod)
            await wait_for_async(lambda: phase(name) == "Failed", timeout=30, interval=0.1, what="Failed")
            ready = await b.wait_ready(deployment, timeout=60)
            new_uid = (await asyncio.to_thread(core.read_namespaced_pod, pod, namespace)).metadata.uid
            return ready, old_uid, new_uid
        finally:
            await b.close()

    ready, old_uid, new_uid = asyncio.run(scenario())
    assert ready.ready and new_uid != old_uid


def test_wait_ready_waits_while_a_quota_refuses_the_pod_until_the_quota_makes_room(
    cluster, core, custom, namespace, operator
):
    # A deploy beside another that holds the namespace's quota: the new pod is refused (phase Failed),
    # but the operator retries it once the quota makes room, so the deploy waits instead of failing.
    quota = {"metadata": {"name": "full"}, "spec": {"hard": {"pods": "0"}}}
    core.create_namespaced_resource_quota(namespace, quota)

    def refused(name: str) -> bool:
        status = get_performer(custom, namespace, name).get("status") or {}
        reconciled = [c for c in status.get("conditions") or [] if c["type"] == "Reconciled"]
        return status.get("phase") == "Failed" and "exceeded quota" in reconciled[0]["message"]

    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.create(spec())
            waiting = asyncio.create_task(b.wait_ready(deployment, timeout=60))
            name = deployment.performer_id
            await wait_for_async(lambda: refused(name), timeout=30, interval=0.1, what="the quota's refusal")
            room = {"spec": {"hard": {"pods": "1"}}}
            await asyncio.to_thread(core.patch_namespaced_resource_quota, "full", namespace, room)
            return await waiting
        finally:
            await b.close()

    assert asyncio.run(scenario()).ready


def test_invalid_spec_is_a_backend_error_with_the_api_servers_message(cluster, namespace, performer_crd):
    async def scenario():
        b = backend(cluster, namespace)
        try:
            await b.create(spec(env=(EnvVar("BAD=NAME", "value"),)))
        finally:
            await b.close()

    with pytest.raises(BackendError) as raised:
        asyncio.run(scenario())
    message = str(raised.value)
    assert message.startswith("creating Performer ")
    assert "422" in message
    assert "spec.config.environment" in message
    assert "without '='" in message


def test_resource_healthy_follows_the_pod_and_close_stops_the_watch(cluster, core, namespace, operator):
    def watch_tasks() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if t.get_name() == f"performer watch {namespace}"]

    async def scenario():
        b = backend(cluster, namespace)
        try:
            deployment = await b.wait_ready(await b.create(spec()), timeout=60)
            name = deployment.performer_id
            assert await b.resource_healthy(name)
            assert not await b.resource_healthy("performer-000000-00000000")
            await asyncio.to_thread(core.delete_namespaced_pod, f"performer-{name}", namespace)

            async def unhealthy() -> bool:
                return not await b.resource_healthy(name)

            await wait_for_async(unhealthy, timeout=30, what="resource_healthy to turn False (pod deleted)")
            await wait_for_async(lambda: b.resource_healthy(name), timeout=60, what="resource_healthy again")
            assert len(watch_tasks()) == 1
        finally:
            started = time.monotonic()
            await b.close()
        return time.monotonic() - started, watch_tasks()

    took, left = asyncio.run(scenario())
    assert took < 10  # the watch's open request is closed, not waited out (WATCH_SECONDS: 300)
    assert left == []
