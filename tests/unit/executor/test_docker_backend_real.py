"""The Docker backend against a real Docker engine at /var/run/docker.sock: create, adopt, remove.

Skipped (quickly, without the Docker SDK) unless the socket exists and answers `/_ping`. The image
must keep running with its own entrypoint; set HOURGLASS_TEST_DOCKER_IMAGE (`repository:tag`) to
use another one than the small pause image.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid

import pytest
from hourglass_executor.performers.base import EnvVar, PerformerSpec
from hourglass_executor.performers.docker import OWNER_LABEL, PERFORMER_LABEL, DockerBackend

SOCKET = "/var/run/docker.sock"
IMAGE = os.environ.get("HOURGLASS_TEST_DOCKER_IMAGE", "registry.k8s.io/pause:3.9")
AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _engine_answers() -> bool:
    if not os.path.exists(SOCKET):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(SOCKET)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(4096)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0]


pytestmark = pytest.mark.skipif(not _engine_answers(), reason=f"no Docker engine answers /_ping on {SOCKET}")


def test_create_adopt_and_remove_on_a_real_engine():
    import docker

    repository, tag = IMAGE.rsplit(":", 1)
    owner = f"hourglass-test-{uuid.uuid4().hex[:8]}"
    client = docker.DockerClient(base_url=f"unix://{SOCKET}")

    async def scenario() -> None:
        backend = DockerBackend(owner, client=client)
        adopter = DockerBackend(owner, client=client)
        performer_id = None
        try:
            spec = PerformerSpec(avs_address=AVS, repository=repository, tag=tag, env=(EnvVar("A", "1"),))
            deployment = await backend.create(spec)
            performer_id = deployment.performer_id
            await backend.wait_ready(deployment, timeout=60)
            assert await backend.resource_healthy(performer_id)

            container = client.containers.get(deployment.resource_id)
            assert re.fullmatch(r"avs-performer-[0-9a-f]{6}-\d+", container.name)
            assert container.attrs["Config"]["Hostname"] == container.name
            assert "A=1" in container.attrs["Config"]["Env"]
            assert container.labels[OWNER_LABEL] == owner
            assert container.labels[PERFORMER_LABEL] == performer_id
            port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
            assert deployment.endpoint == f"localhost:{port}"

            assert [d.performer_id for d in await adopter.owned()] == [performer_id]
            await adopter.remove(performer_id)
            performer_id = None
            assert client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner}"}) == []
        finally:
            if performer_id:
                await backend.remove(performer_id)
            await adopter.close()
            await backend.close()

    try:
        asyncio.run(scenario())
    finally:
        client.close()
