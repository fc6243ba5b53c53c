"""The Kubernetes backend's create when the answer is lost: a create the API server stored but did not
answer in time (or whose caller was cancelled), or answered 5xx and then, sent again, 409, is deleted
again, so that a failed deploy, and each retry of it, leaves no Performer behind; a create the API
server refused deletes nothing."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from hourglass_executor.config import KubernetesConfig
from hourglass_executor.performers.base import BackendError, PerformerSpec
from hourglass_executor.performers.kubernetes import KubernetesBackend
from hourglass_executor.performers.pool import DeployError, PerformerPool
from hourglass_executor.store.memory import MemoryStore

from tests.support.fake_kubernetes import FakePerformerApi, status_body
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class SlowCreateApi(FakePerformerApi):
    """Stores each created Performer, then holds the answer until `answer` is set (etcd slow; a
    refusal is answered at once); counts the deletes."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.deletes = 0

    async def _create(self, request: web.Request) -> web.Response:
        response = await super()._create(request)
        if response.status == 201:
            await self.answer.wait()
        return response

    async def _delete(self, request: web.Request) -> web.Response:
        self.deletes += 1
        return await super()._delete(request)


class LostAnswerApi(SlowCreateApi):
    """Stores each created Performer but answers the first create 500 with Retry-After, as the API
    server does when etcd did not confirm the write in time; a create of a name that exists is
    answered 409 AlreadyExists."""

    async def _create(self, request: web.Request) -> web.Response:
        self.create_requests += 1
        body = await request.json()
        name = body["metadata"]["name"]
        if name in self.objects:
            return web.json_response(status_body(409, f'performers "{name}" already exists'), status=409)
        body["metadata"].update(uid=f"uid-{name}", resourceVersion="1", generation=1)
        self.objects[name] = body
        if self.create_requests == 1:
            message = "The POST operation against performers could not be completed at this time"
            return web.json_response(status_body(500, message), status=500, headers={"Retry-After": "0"})
        return web.json_response(body, status=201)


def spec() -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository="registry.example/avs/performer", tag="v1")


def run_with_backend(scenario, timeout: str = "5s", api_class: type[SlowCreateApi] = SlowCreateApi):
    """Runs `scenario(api, backend)` with an `api_class` (a SlowCreateApi) and a backend over it."""

    async def main():
        api = api_class()
        await api.start()
        client = api.client()
        config = KubernetesConfig.model_validate({"namespace": "avs", "connectionTimeout": timeout})
        backend = KubernetesBackend(config, "exec-a", api_client=client)
        try:
            return await scenario(api, backend)
        finally:
            api.answer.set()
            await backend.close()
            await client.close()
            await api.stop()

    return asyncio.run(main())


def test_deploys_whose_create_times_out_after_it_was_stored_leave_no_performer_behind():
    async def scenario(api, backend):
        pool = PerformerPool(backend, MemoryStore(), {AVS: None})
        await pool.start()
        errors = []
        for _ in range(2):  # the deploy, and its retry
            with pytest.raises(DeployError) as failed:
                await pool.deploy(spec())
            errors.append(str(failed.value))
        listed = await pool.list()
        await pool.shutdown(delete=True)
        return errors, api.create_requests, api.deletes, dict(api.objects), listed

    errors, creates, deletes, left, listed = run_with_backend(scenario, timeout="200ms")
    assert left == {} and listed == []
    assert (creates, deletes) == (2, 2)
    assert all("cannot reach the Kubernetes API: no answer within 0.2 s" in error for error in errors), errors


def test_a_cancelled_create_deletes_what_the_api_server_stored():
    """shutdown(delete=True) cancels a deploy that may be creating its Performer."""

    async def scenario(api, backend):
        creating = asyncio.create_task(backend.create(spec()))
        stored = await wait_for_async(lambda: list(api.objects), what="the API server to store the Performer")
        creating.cancel()
        outcome = (await asyncio.gather(creating, return_exceptions=True))[0]
        return stored, outcome, dict(api.objects)

    stored, outcome, left = run_with_backend(scenario)
    assert len(stored) == 1 and isinstance(outcome, asyncio.CancelledError)
    assert left == {}


def test_a_create_the_api_server_refused_deletes_nothing():
    async def scenario(api, backend):
        api.create_refusals = [(409, None)]  # e.g. AlreadyExists: that name is someone else's
        with pytest.raises(BackendError, match="409"):
            await backend.create(spec())
        return api.deletes

    assert run_with_backend(scenario) == 0


def test_a_create_sent_again_that_meets_the_performer_its_first_attempt_stored_deletes_it():
    """The first attempt was stored but answered 500 with Retry-After; the one sent again gets 409
    AlreadyExists. The name's random suffix is this create's alone, so the Performer is its own."""

    async def scenario(api, backend):
        with pytest.raises(BackendError, match="409"):
            await backend.create(spec())
        return api.create_requests, api.deletes, dict(api.objects)

    assert run_with_backend(scenario, api_class=LostAnswerApi) == (2, 1, {})
