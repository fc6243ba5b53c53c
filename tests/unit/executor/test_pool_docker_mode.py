"""The performer pool in Docker mode: the real DockerBackend against the fake Docker engine
(tests/support/fake_docker.py). The fake runs no processes, so the performer is an in-process SDK
server reached through the AVS's endpointOverride, as upstream's override works. Covers the
restart after three failed health checks and the adoption of the container after a restart of the
executor."""

from __future__ import annotations

import asyncio
import json

import docker
import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.docker import PERFORMER_LABEL, DockerBackend
from hourglass_executor.performers.docker_supervisor import RestartPolicy
from hourglass_executor.performers.pool import PerformerPool, PoolSettings
from hourglass_executor.sdk import PerformerServer
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.fake_docker import FakeDocker
from tests.support.local_backend import RecordingWorker
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

REPOSITORY = "ghcr.io/example/echo-performer"
OWNER = "executor-docker-test"


def test_docker_mode_restarts_an_unhealthy_performer_and_adopts_its_container_after_a_restart():
    async def scenario(fake: FakeDocker):
        server = PerformerServer(RecordingWorker("v1"), 0, "127.0.0.1")
        await server.start()
        spec = PerformerSpec(
            avs_address=AVS,
            repository=REPOSITORY,
            tag="v1",
            endpoint_override=f"127.0.0.1:{server.bound_port}",
        )
        client = docker.DockerClient(base_url=fake.base_url)
        store = MemoryStore()

        def pool() -> PerformerPool:
            backend = DockerBackend(
                OWNER,
                client=client,
                policy=RestartPolicy(check_interval=0.05, initial_backoff=0.01),
                stop_timeout=1,
            )
            return PerformerPool(backend, store, {AVS: spec}, settings=PoolSettings(health_interval=0.05))

        first = pool()
        try:
            await first.start()
            live = first.current(AVS)
            performer_id = live.performer_id
            result = await first.run_task(
                AVS, new_task_id(), json.dumps({"op": "version"}).encode(), timeout=5
            )
            await server.set_serving(False)  # the application stops answering its health checks
            restarts = await wait_for_async(
                lambda: first._backend.restarts(performer_id), timeout=4, what="the supervisor to restart it"
            )
            await server.set_serving(True)
            await first.shutdown()  # keeps the container

            second = pool()
            problems = await second.start()
            adopted = second.current(AVS).performer_id
            await second.shutdown()
        finally:
            await server.stop(0)
            client.close()
        return result, performer_id, restarts, problems, adopted

    with FakeDocker() as fake:
        fake.registry.add(f"{REPOSITORY}:v1")
        result, performer_id, restarts, problems, adopted = asyncio.run(scenario(fake))
        containers = fake.with_label(PERFORMER_LABEL, performer_id)
    assert result == b"v1"
    assert restarts == 1  # after three failed checks in a row, once
    assert problems == {} and adopted == performer_id  # the same performer, no new container
    assert len(containers) == 1
