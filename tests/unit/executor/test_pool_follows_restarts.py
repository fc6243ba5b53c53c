"""The pool follows a performer that its backend restarted on another endpoint (a Docker container
the supervisor recreated on a new host port), and a task caught waiting on the old endpoint is
answered as never sent: UNAVAILABLE, its claim released, so the aggregator's retry runs it once."""

from __future__ import annotations

import asyncio
import json
import logging

import docker
import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.docker import PERFORMER_LABEL, DockerBackend
from hourglass_executor.performers.docker_supervisor import Listener, RestartPolicy
from hourglass_executor.performers.pool import PerformerPool, PoolSettings
from hourglass_executor.sdk import PerformerServer
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, TestAggregator, executor_signers, new_task_id
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub
from tests.support.fake_docker import FakeDocker
from tests.support.local_backend import LocalBackend, RecordingWorker
from tests.support.logged import MessageLogged
from tests.support.ports import free_port
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

REPOSITORY = "ghcr.io/example/echo-performer"
OWNER = "executor-follow-test"
VERSION = json.dumps({"op": "version"}).encode()


async def serving(port: int) -> tuple[PerformerServer, RecordingWorker]:
    """A performer listening on 127.0.0.1:`port` (0: any free port), and the worker it runs."""
    worker = RecordingWorker("v1")
    server = PerformerServer(worker, port, "127.0.0.1")
    await server.start()
    return server, worker


def test_a_container_the_supervisor_restarts_on_a_new_host_port_is_dialled_there_at_once():
    """Built as `components.build_backend` builds it (no listener), the Docker backend still tells
    the pool of its supervisor's restarts: the pool dials the new port as soon as the backend knows
    it, instead of failing tasks until three health checks failed and restarting it once more."""

    async def scenario(fake: FakeDocker):
        old_port, new_port = free_port(), free_port()
        (old, _), (new, _) = await serving(old_port), await serving(new_port)
        fake._next_port = old_port  # the fake publishes the container's port 8080 on this host port
        client = docker.DockerClient(base_url=fake.base_url)
        backend = DockerBackend(
            OWNER,
            client=client,
            stop_timeout=1,
            policy=RestartPolicy(check_interval=0.05, initial_backoff=0.01),
        )
        spec = PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag="v1")
        # Health checks too rare to matter here: only the backend's word can move the pool.
        pool = PerformerPool(backend, MemoryStore(), {AVS: spec}, settings=PoolSettings(health_interval=600))
        try:
            await pool.start()
            live = pool.current(AVS)
            before = live.client.endpoint
            assert before == f"localhost:{old_port}"
            [container] = fake.with_label(PERFORMER_LABEL, live.performer_id)
            # The container's process dies, and another process takes its host port meanwhile.
            await old.stop(0)
            fake.reserved_ports.add(str(old_port))
            fake._next_port = new_port
            fake.kill(container["Id"])
            await wait_for_async(
                lambda: live.deployment.endpoint != before, timeout=10, what="the supervisor's restart"
            )
            # The backend tells its listeners in the step that moved the deployment: no await between.
            assert live.deployment.endpoint == f"localhost:{new_port}"
            assert live.client.endpoint == live.deployment.endpoint, "the pool still dials the old port"
            result = await pool.run_task(AVS, new_task_id(), VERSION, timeout=5)
            return result, backend.restarts(live.performer_id)
        finally:
            await pool.shutdown()
            await old.stop(0)
            await new.stop(0)
            client.close()

    with FakeDocker() as fake:
        fake.registry.add(f"{REPOSITORY}:v1")
        result, restarts = asyncio.run(scenario(fake))
    assert result == b"v1"
    assert restarts == 1


class MovingBackend(LocalBackend):
    """A LocalBackend whose performer can come back on another address, reported to listeners as
    the Docker backend reports a container its supervisor restarted on a new host port."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def moved(self, performer_id: str, endpoint: str) -> None:
        self.performers[performer_id].deployment.endpoint = endpoint
        for listener in self.listeners:
            listener(performer_id, "restarted")


def test_a_task_waiting_to_retry_when_the_pool_dials_a_new_endpoint_is_unavailable_and_runs_on_retry():
    """SubmitTask for a performer that went away: its first attempt is refused (not sent), and while
    it waits to retry, the performer is back on another address and the pool closes the old client.
    The answer is UNAVAILABLE (not UNKNOWN), the claim is released, and the retry runs the task once
    (not DATA_LOSS for a task that never reached a performer)."""
    chain = static_chain()
    aggregator = TestAggregator(chain)
    submission = aggregator.submission(json.dumps({"op": "echo", "data": "x"}).encode())
    backend = MovingBackend()

    async def submit(stub) -> executor_pb2.TaskResult | grpc.aio.AioRpcError:
        try:
            return await stub.SubmitTask(submission, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error

    async def main():
        waiting = asyncio.Event()
        handler = MessageLogged(waiting, "retry")
        logger = logging.getLogger("hourglass_executor.performers.client")
        level = logger.level
        async with running_executor(
            executor_config(), backend, chain=chain, signers=executor_signers()
        ) as executor:
            channel, stub = task_stub(executor)
            live = executor.pool.current(AVS)
            gone = backend.performers[live.performer_id]
            await gone.server.stop(0)
            back, worker = await serving(0)
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            try:
                async with channel:
                    first = asyncio.ensure_future(submit(stub))
                    await asyncio.wait_for(waiting.wait(), 5)
                    backend.moved(live.performer_id, f"127.0.0.1:{back.bound_port}")
                    answers = (await first, await submit(stub))
            finally:
                logger.removeHandler(handler)
                logger.setLevel(level)
                await back.stop(0)
            return answers, gone.worker.started, worker.started

    (first, retry), ran_on_gone, ran_on_back = asyncio.run(main())
    assert isinstance(first, grpc.aio.AioRpcError), first
    assert first.code() is grpc.StatusCode.UNAVAILABLE, first.details()
    assert isinstance(retry, executor_pb2.TaskResult), retry
    aggregator.verify(submission, retry)
    assert retry.output == b"x"
    assert (ran_on_gone, ran_on_back) == ([], [submission.task_id.encode()])
