"""The performer pool when calls overlap: deploys and removals during start-up are refused (the
start-up decides from a list they would make stale), a removal runs to its end when its caller goes
away and a second removal of the same performer waits for it, and shutdown(delete=True) removes
every performer the pool started, including one a cancelled deploy staged or whose removal it cut."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.performers.base import Deployment
from hourglass_executor.performers.lifecycle import State
from hourglass_executor.performers.pool import PerformerPool, PoolError
from hourglass_executor.server.app import Executor
from hourglass_executor.server.management_service import ManagementService
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.executor_harness import REPOSITORY, executor_config, static_chain
from tests.support.local_backend import LocalBackend
from tests.support.waiting import wait_for_async
from tests.unit.executor.test_performer_pool import (
    deploy_held_staged,
    has_started,
    new_pool,
    sleep_payload,
    spec,
    staged_listing,
    version_of,
)

pytestmark = pytest.mark.unit


class GatedBackend(LocalBackend):
    """A LocalBackend whose `owned` and `remove` wait, when their gate is set up, until the test
    opens it (`listing` / `removing` say they are waiting)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.owned_gate: asyncio.Event | None = None
        self.remove_gate: asyncio.Event | None = None
        self.listing = asyncio.Event()
        self.removing = asyncio.Event()

    async def owned(self) -> list[Deployment]:
        if self.owned_gate is not None:
            self.listing.set()
            await self.owned_gate.wait()
        return await super().owned()

    async def remove(self, performer_id: str) -> None:
        if self.remove_gate is not None:
            self.removing.set()
            await self.remove_gate.wait()
        await super().remove(performer_id)


@contextlib.asynccontextmanager
async def management_over(pool: PerformerPool):
    """ManagementService (authentication disabled) over `pool` on a gRPC server: its stub."""
    server = grpc.aio.server()
    service = ManagementService(pool=pool, tokens=None, deployment_mode="docker", environ={})
    executor_pb2_grpc.add_ExecutorManagementServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield executor_pb2_grpc.ExecutorManagementServiceStub(channel)
    finally:
        await server.stop(0)


def remove_request(performer_id: str) -> executor_pb2.RemovePerformerRequest:
    return executor_pb2.RemovePerformerRequest(performer_id=performer_id)


def record_removes(pool: PerformerPool) -> list[str]:
    """The ids `pool.remove` was called with, in order (appended as each call reaches the pool)."""
    calls: list[str] = []
    remove = pool.remove

    async def recording(performer_id: str) -> None:
        calls.append(performer_id)
        await remove(performer_id)

    pool.remove = recording  # type: ignore[method-assign]
    return calls


# --- start-up --------------------------------------------------------------------------------


def test_a_deploy_or_a_removal_during_start_up_is_refused_and_leaves_nothing_behind():
    """A deploy that ran while start() listed the owned performers was undone by it (the stale v1
    adopted, the deployed v2 left running, retiring for ever)."""

    async def scenario():
        backend, store = GatedBackend(), MemoryStore()
        first = new_pool(backend, store)
        await first.start()
        v1 = first.current(AVS).performer_id
        await first.shutdown()  # a restart: v1 keeps running
        backend.owned_gate = asyncio.Event()
        second = new_pool(backend, store)
        starting = asyncio.create_task(second.start())
        await backend.listing.wait()  # start() is listing what it owns
        refusals = []
        for call in (second.deploy(spec("v2")), second.remove(v1)):
            with pytest.raises(PoolError) as refused:
                await call
            refusals.append(str(refused.value))
        backend.owned_gate.set()
        problems = await starting
        adopted = second.current(AVS).performer_id
        deployed = await second.deploy(spec("v2"))  # once started, deploys go through
        try:
            outcome = (deployed.performer_id, deployed.state, await version_of(second))
            return backend, store, v1, refusals, problems, adopted, outcome
        finally:
            await second.shutdown()
            await backend.destroy()

    backend, store, v1, refusals, problems, adopted, (v2, v2_state, version) = asyncio.run(scenario())
    assert all(message.startswith("the executor is starting") for message in refusals), refusals
    assert problems == {} and adopted == v1
    assert backend.created == [v1, v2] and backend.removed == [v1]
    assert list(backend.performers) == [v2] and v2_state is State.IN_SERVICE and version == b"v2"
    assert [(r.performer_id, r.status) for r in store.performers()] == [(v2, "in_service")]


def test_management_calls_that_change_performers_answer_unavailable_until_the_pool_started():
    async def scenario():
        backend = LocalBackend(ready_gate=asyncio.Event())  # the start-up's performer waits for the test
        executor = Executor(
            executor_config(), backend=backend, chain=static_chain(), store=MemoryStore(), host="127.0.0.1"
        )
        await executor.start_servers()
        starting = asyncio.create_task(executor.start_pool())
        try:
            await wait_for_async(lambda: backend.performers, what="the pool to create its performer")
            v1 = next(iter(backend.performers))
            async with grpc.aio.insecure_channel(f"127.0.0.1:{executor.management_port}") as channel:
                stub = executor_pb2_grpc.ExecutorManagementServiceStub(channel)
                deploy = executor_pb2.DeployArtifactRequest(avs_address=AVS, registry_url=f"{REPOSITORY}:v2")
                during = []
                for call in (
                    stub.DeployArtifact(deploy, timeout=5),
                    stub.RemovePerformer(remove_request(v1)),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await call
                    during.append((refused.value.code(), refused.value.details()))
                listed = await stub.ListPerformers(executor_pb2.ListPerformersRequest(), timeout=5)
                backend.ready_gate.set()
                await starting
                deployed = await stub.DeployArtifact(deploy, timeout=30)
                return during, [(p.performer_id, p.status) for p in listed.performers], v1, deployed
        finally:
            backend.ready_gate.set()
            await asyncio.gather(starting, return_exceptions=True)
            await executor.stop()
            await backend.destroy()

    during, listed, v1, deployed = asyncio.run(scenario())
    assert [code for code, _ in during] == [grpc.StatusCode.UNAVAILABLE] * 2
    assert all("the executor is starting" in details for _, details in during)
    assert listed == [(v1, "Staged")]  # listing is harmless: it answers while the pool starts
    assert deployed.success and deployed.deployment_id != v1


# --- remove ----------------------------------------------------------------------------------


def test_a_removal_whose_caller_goes_away_runs_to_its_end_and_a_retry_waits_for_it():
    """A removal cancelled mid-way (an RPC's deadline) left its performer retiring and running,
    and a retry got UnknownPerformerError."""

    async def scenario():
        backend, store = GatedBackend(), MemoryStore()
        pool = new_pool(backend, store)
        await pool.start()
        v1 = pool.current(AVS)
        backend.remove_gate = asyncio.Event()
        removing = asyncio.create_task(pool.remove(v1.performer_id))
        await backend.removing.wait()  # drained; the backend is removing it
        removing.cancel()  # the caller goes away
        await asyncio.gather(removing, return_exceptions=True)
        retry = asyncio.create_task(pool.remove(v1.performer_id))
        backend.remove_gate.set()
        await retry
        try:
            return backend, store, v1, removing.cancelled(), await pool.list()
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, store, v1, first_cancelled, listing = asyncio.run(scenario())
    assert first_cancelled
    assert backend.removed == [v1.performer_id] and backend.performers == {}
    assert v1.state is State.REMOVED and not v1.monitor.running
    assert listing == [] and store.performers() == []


def test_remove_performer_past_its_deadline_still_removes_it_and_a_retry_answers_ok():
    async def scenario():
        backend = GatedBackend()
        pool = new_pool(backend)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        backend.remove_gate = asyncio.Event()
        removes = record_removes(pool)
        try:
            async with management_over(pool) as stub:
                with pytest.raises(grpc.aio.AioRpcError) as late:
                    await stub.RemovePerformer(remove_request(v1), timeout=0.5)  # held by the gate
                retry = asyncio.ensure_future(stub.RemovePerformer(remove_request(v1), timeout=10))
                await wait_for_async(lambda: len(removes) == 2, what="the retry to reach the pool")
                backend.remove_gate.set()
                answer = await retry
                with pytest.raises(grpc.aio.AioRpcError) as again:
                    await stub.RemovePerformer(remove_request(v1), timeout=10)  # it is gone now
                return (
                    late.value.code(),
                    answer,
                    again.value.code(),
                    backend.removed,
                    list(backend.performers),
                    v1,
                )
        finally:
            backend.remove_gate.set()
            await pool.shutdown()
            await backend.destroy()

    late, answer, again, removed, running, v1 = asyncio.run(scenario())
    assert late is grpc.StatusCode.DEADLINE_EXCEEDED
    assert answer.success and removed == [v1] and running == []
    assert again is grpc.StatusCode.NOT_FOUND


def test_two_removals_of_the_staged_performer_both_succeed():
    """The second one raised IllegalTransitionError (removed → removed)."""

    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend)
        await pool.start()
        deploying, staged = await deploy_held_staged(pool, backend)
        outcomes = await asyncio.gather(pool.remove(staged), pool.remove(staged), return_exceptions=True)
        deploy_outcome = (await asyncio.gather(deploying, return_exceptions=True))[0]
        try:
            return backend, staged, outcomes, deploy_outcome, await version_of(pool)
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, staged, outcomes, deploy_outcome, version = asyncio.run(scenario())
    assert outcomes == [None, None]
    assert type(deploy_outcome).__name__ == "DeployCancelledError"
    assert backend.removed == [staged] and version == b"v1"


def test_concurrent_remove_performer_calls_for_the_staged_performer_answer_ok_or_not_found():
    async def scenario():
        backend = GatedBackend()
        pool = new_pool(backend)
        await pool.start()
        deploying, staged = await deploy_held_staged(pool, backend)
        calls = 4
        removes = record_removes(pool)
        backend.remove_gate = asyncio.Event()
        try:
            async with management_over(pool) as stub:
                answering = asyncio.gather(
                    *(stub.RemovePerformer(remove_request(staged), timeout=10) for _ in range(calls)),
                    return_exceptions=True,
                )
                await wait_for_async(lambda: len(removes) == calls, what="every call to reach the pool")
                backend.remove_gate.set()  # the removal ends once every call came while it ran
                answers = await answering
            await asyncio.gather(deploying, return_exceptions=True)
            return staged, answers, backend.removed
        finally:
            backend.remove_gate.set()
            await pool.shutdown()
            await backend.destroy()

    staged, answers, removed = asyncio.run(scenario())
    # Every call came while the removal ran, so each waited for it (one finding the performer gone
    # would get NOT_FOUND, as the contract says; never UNKNOWN).
    codes = [a.code() if isinstance(a, grpc.aio.AioRpcError) else grpc.StatusCode.OK for a in answers]
    assert codes == [grpc.StatusCode.OK] * len(answers), answers
    assert removed == [staged]


# --- shutdown --------------------------------------------------------------------------------


def test_shutdown_with_delete_during_a_deploy_removes_the_staged_performer_too():
    """The cancelled deploy released its staged performer, so shutdown's delete list missed it."""

    async def scenario():
        backend, store = LocalBackend(), MemoryStore()
        pool = new_pool(backend, store)
        await pool.start()
        backend.ready_gate = asyncio.Event()  # v2 stays staged
        deploying = asyncio.create_task(pool.deploy(spec("v2")))
        await wait_for_async(staged_listing(pool), what="the staged performer")
        await pool.shutdown(delete=True)
        deploy_outcome = (await asyncio.gather(deploying, return_exceptions=True))[0]
        try:
            return backend, store, deploy_outcome
        finally:
            await backend.destroy()

    backend, store, deploy_outcome = asyncio.run(scenario())
    assert type(deploy_outcome).__name__ == "DeployCancelledError"
    assert sorted(backend.removed) == sorted(backend.created) and len(backend.created) == 2
    assert backend.performers == {} and store.performers() == []


def test_shutdown_without_delete_during_a_deploy_keeps_both_performers_for_the_next_start():
    async def scenario():
        backend, store = LocalBackend(), MemoryStore()
        pool = new_pool(backend, store)
        await pool.start()
        backend.ready_gate = asyncio.Event()
        deploying = asyncio.create_task(pool.deploy(spec("v2")))
        await wait_for_async(staged_listing(pool), what="the staged performer")
        await pool.shutdown()
        await asyncio.gather(deploying, return_exceptions=True)
        try:
            return backend, {r.performer_id: r.status for r in store.performers()}
        finally:
            await backend.destroy()

    backend, records = asyncio.run(scenario())
    v1, v2 = backend.created
    assert backend.removed == [] and list(backend.performers) == [v1, v2]
    assert records == {v1: "in_service", v2: "staged"}


def test_shutdown_with_delete_removes_a_performer_whose_removal_it_cut_short():
    async def scenario():
        backend, store = LocalBackend(), MemoryStore()
        pool = new_pool(backend, store)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        task_id = new_task_id()
        slow = asyncio.create_task(pool.run_task(AVS, task_id, sleep_payload(30_000), timeout=60))
        await wait_for_async(lambda: has_started(backend, task_id), what="the slow task to run")
        removing = asyncio.create_task(pool.remove(v1))
        await wait_for_async(lambda: pool.current(AVS) is None, what="the removal to begin")
        await pool.shutdown(delete=True)  # the removal is still draining the slow task
        outcomes = await asyncio.gather(removing, slow, return_exceptions=True)
        try:
            return backend, store, v1, outcomes[0]
        finally:
            await backend.destroy()

    backend, store, v1, removal = asyncio.run(scenario())
    assert isinstance(removal, PoolError) and "shutting down" in str(removal)
    assert backend.removed == [v1] and backend.performers == {} and store.performers() == []
