"""Restarting a Docker performer frees its container name first, but only by removing a container
that is that performer's: a container holding the name with another performer's label is left
alone, and the restart fails with a BackendError naming it (the supervisor then gives up)."""

from __future__ import annotations

import asyncio
import logging

import docker
import pytest
from hourglass_executor.performers.base import BackendError, PerformerSpec
from hourglass_executor.performers.docker import PERFORMER_LABEL, DockerBackend
from hourglass_executor.performers.docker_supervisor import RestartPolicy

from tests.support.fake_docker import FakeDocker

pytestmark = pytest.mark.unit

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REPOSITORY = "ghcr.io/example/performer"
TAG = "v1.0.0"
OWNER = "0x1111111111111111111111111111111111111111"
OTHER = "performer-someone-else"


async def no_backoff(delay: float) -> None:
    await asyncio.sleep(0)


def test_a_container_holding_the_name_for_another_performer_is_not_removed_by_a_restart(caplog):
    async def scenario(fake: FakeDocker, client: docker.DockerClient) -> tuple[str, str]:
        backend = DockerBackend(
            OWNER,
            client=client,
            policy=RestartPolicy(check_interval=0.05),
            stop_timeout=1,
            poll_interval=0.02,
            event_retry_interval=0.05,
            backoff_sleep=no_backoff,
        )
        try:
            deployment = await backend.create(PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag=TAG))
            name = deployment.details["container_name"]
            container = fake.find(deployment.resource_id)
            assert container is not None
            with fake.lock:  # the name is now held by a container of another performer
                container["Config"]["Labels"][PERFORMER_LABEL] = OTHER
            with pytest.raises(BackendError, match="keeps failing"):
                await backend.restart(deployment.performer_id)
            return name, deployment.performer_id
        finally:
            await backend.close()

    with FakeDocker() as fake, caplog.at_level(logging.WARNING):
        fake.registry.add(f"{REPOSITORY}:{TAG}")
        client = docker.DockerClient(base_url=fake.base_url)
        try:
            name, performer_id = asyncio.run(scenario(fake, client))
        finally:
            client.close()
        [other] = fake.with_label(PERFORMER_LABEL, OTHER)
        assert other["Name"] == "/" + name and other["State"]["Running"]
        assert fake.with_label(PERFORMER_LABEL, performer_id) == []
    refused = f"container {name} exists and does not belong to performer {performer_id}"
    failures = [m for m in (r.getMessage() for r in caplog.records) if " failed: " in m]
    assert len(failures) == 5 and all(refused in m for m in failures)
