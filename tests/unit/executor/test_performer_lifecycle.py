"""The performer lifecycle: the transition table (every allowed move, every refused one), what each
move writes to the store, and the pool's blue-green flows and restarts seen through the store's
writes: deploy, promote, a failed deploy, removal, shutdown, and a restart from each state a crash
can leave behind."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import get_args

import pytest
from hourglass_executor.performers.base import Deployment, PerformerSpec
from hourglass_executor.performers.lifecycle import (
    LISTED,
    TRANSITIONS,
    WRITES,
    IllegalTransitionError,
    Lifecycle,
    State,
    Write,
    check,
)
from hourglass_executor.performers.pool import DeployError, PerformerPool, PoolSettings
from hourglass_executor.store import PerformerRecord, PerformerStatus
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend

pytestmark = pytest.mark.unit

S = State
ALLOWED = {
    (None, S.STAGED), (None, S.ADOPTING), (None, S.REMOVED),
    (S.STAGED, S.IN_SERVICE), (S.STAGED, S.REMOVED), (S.STAGED, S.RELEASED),
    (S.ADOPTING, S.IN_SERVICE), (S.ADOPTING, S.REMOVED), (S.ADOPTING, S.RELEASED),
    (S.IN_SERVICE, S.RETIRING), (S.IN_SERVICE, S.REMOVED), (S.IN_SERVICE, S.RELEASED),
    (S.RETIRING, S.REMOVED), (S.RETIRING, S.RELEASED),
    (S.RELEASED, S.REMOVED),
}  # fmt: skip


# --- the table -------------------------------------------------------------------------------


@dataclass
class Performer:
    performer_id: str = "p1"
    state: State | None = None
    endpoint: str = "127.0.0.1:1"

    def record(self, status: PerformerStatus) -> PerformerRecord:
        return PerformerRecord(
            self.performer_id, AVS.lower(), "test", status, "img:v1", self.endpoint, "", 1.0
        )


def test_the_table_allows_exactly_the_documented_moves():
    assert {(source, target) for source, targets in TRANSITIONS.items() for target in targets} == ALLOWED
    for source, target in itertools.product([None, *State], State):
        if (source, target) in ALLOWED:
            check(source, target)
        else:
            with pytest.raises(IllegalTransitionError, match=f"to {target.value}"):
                check(source, target)


def test_the_states_the_store_saves_are_the_stores_performer_statuses():
    saved = {state.value for state, write in WRITES.items() if write is Write.SAVE}
    assert saved == set(get_args(PerformerStatus)) == {"staged", "in_service"}
    assert set(WRITES) == set(State)


def test_removed_is_final_and_nothing_returns_to_service():
    assert TRANSITIONS[S.REMOVED] == frozenset()
    assert {source for source, target in ALLOWED if target is S.IN_SERVICE} == {S.STAGED, S.ADOPTING}
    assert {source for source, target in ALLOWED if target is S.RETIRING} == {S.IN_SERVICE}


@pytest.mark.parametrize(
    ("path", "records"),
    [
        ([S.STAGED], [("p1", "staged")]),
        ([S.STAGED, S.IN_SERVICE], [("p1", "in_service")]),
        ([S.STAGED, S.IN_SERVICE, S.RETIRING], []),
        ([S.STAGED, S.IN_SERVICE, S.RETIRING, S.REMOVED], []),
        ([S.STAGED, S.RELEASED], [("p1", "staged")]),  # the next start decides
        ([S.STAGED, S.IN_SERVICE, S.RELEASED], [("p1", "in_service")]),
        ([S.STAGED, S.REMOVED], []),
        ([S.ADOPTING], [("p1", "in_service")]),  # the record keeps what it said
        ([S.ADOPTING, S.REMOVED], []),
        ([S.ADOPTING, S.IN_SERVICE], [("p1", "in_service")]),
    ],
)
def test_each_move_writes_its_state_to_the_store(path, records):
    store = MemoryStore()
    store.save_performer(Performer().record("in_service"))  # what an earlier run remembered
    if path[0] is S.STAGED:
        store.delete_performer("p1")
    lifecycle, performer = Lifecycle(store), Performer()
    for state in path:
        lifecycle.move(performer, state)
    assert performer.state is path[-1]
    assert [(r.performer_id, r.status) for r in store.performers()] == records


def test_an_illegal_move_raises_and_changes_nothing():
    store = MemoryStore()
    lifecycle, performer = Lifecycle(store), Performer()
    lifecycle.move(performer, S.STAGED)
    with pytest.raises(IllegalTransitionError, match="from staged to retiring"):
        lifecycle.move(performer, S.RETIRING)
    lifecycle.move(performer, S.REMOVED)
    with pytest.raises(IllegalTransitionError, match="from removed to in_service"):
        lifecycle.move(performer, S.IN_SERVICE)
    assert performer.state is S.REMOVED and store.performers() == []


def test_refresh_saves_a_new_endpoint_only_in_the_states_the_store_saves():
    store = MemoryStore()
    lifecycle, adopted, staged = Lifecycle(store), Performer("a"), Performer("s")
    store.save_performer(adopted.record("in_service"))
    lifecycle.move(adopted, S.ADOPTING)
    lifecycle.move(staged, S.STAGED)
    adopted.endpoint = staged.endpoint = "10.0.0.1:8080"
    lifecycle.refresh(adopted)
    lifecycle.refresh(staged)
    assert {r.performer_id: r.endpoint for r in store.performers()} == {
        "a": "127.0.0.1:1",
        "s": "10.0.0.1:8080",
    }


def test_listing_names_the_tracked_states_as_list_performers_does():
    assert LISTED == {S.STAGED: "Staged", S.ADOPTING: "Staged", S.IN_SERVICE: "InService"}


# --- the pool's flows, seen through the store ----------------------------------------------------


class RecordingStore(MemoryStore):
    """A MemoryStore that also logs every performer write, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str, str]] = []

    def save_performer(self, record: PerformerRecord) -> None:
        self.writes.append(("save", record.performer_id, record.status))
        super().save_performer(record)

    def delete_performer(self, performer_id: str) -> None:
        self.writes.append(("delete", performer_id, ""))
        super().delete_performer(performer_id)

    def states(self) -> dict[str, str]:
        return {record.performer_id: record.status for record in self.performers()}


class StatusEndpointBackend(LocalBackend):
    """A LocalBackend whose performers have no address until they are ready, as a Kubernetes
    performer has none until the operator writes status.grpcEndpoint."""

    async def create(self, spec: PerformerSpec) -> Deployment:
        deployment = await super().create(spec)
        self.addresses = {**getattr(self, "addresses", {}), deployment.performer_id: deployment.endpoint}
        deployment.endpoint = ""
        return deployment

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        deployment = await super().wait_ready(deployment, timeout)
        deployment.endpoint = self.addresses[deployment.performer_id]
        return deployment

    async def owned(self) -> list[Deployment]:
        owned = await super().owned()
        for deployment in owned:
            deployment.endpoint = ""
        return owned


def spec(tag: str = "v1") -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag=tag)


def new_pool(backend: LocalBackend, store: RecordingStore, tag: str = "v1") -> PerformerPool:
    return PerformerPool(backend, store, {AVS: spec(tag)}, settings=PoolSettings(health_timeout=0.5))


async def version(pool: PerformerPool) -> bytes:
    return await pool.run_task(AVS, new_task_id(), b'{"op": "version"}', timeout=5)


def record(performer_id: str, status: PerformerStatus, tag: str = "v1") -> PerformerRecord:
    return PerformerRecord(performer_id, AVS.lower(), "local", status, f"{REPOSITORY}:{tag}", "", "", 1.0)


def test_deploy_saves_staged_then_in_service_and_retires_the_old_record():
    async def scenario():
        backend, store = StatusEndpointBackend(), RecordingStore()
        pool = new_pool(backend, store)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        store.writes.clear()
        v2 = (await pool.deploy(spec("v2"))).performer_id
        try:
            return v1, v2, store.writes, store.states(), await version(pool)
        finally:
            await pool.shutdown()
            await backend.destroy()

    v1, v2, writes, states, answer = asyncio.run(scenario())
    assert writes == [
        ("save", v2, "staged"),
        ("save", v2, "staged"),  # its address, once ready
        ("save", v2, "in_service"),
        ("delete", v1, ""),  # retiring
        ("delete", v1, ""),  # removed
    ]
    assert states == {v2: "in_service"} and answer == b"v2"


def test_a_failed_deploy_deletes_its_staged_record_and_leaves_the_old_one_alone():
    async def scenario():
        backend, store = LocalBackend(fail_ready={"broken"}), RecordingStore()
        pool = new_pool(backend, store)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        store.writes.clear()
        with pytest.raises(DeployError):
            await pool.deploy(spec("broken"))
        try:
            return v1, backend.created[-1], store.writes, store.states()
        finally:
            await pool.shutdown()
            await backend.destroy()

    v1, broken, writes, states = asyncio.run(scenario())
    assert writes == [("save", broken, "staged"), ("delete", broken, "")]
    assert states == {v1: "in_service"}


def test_removing_the_current_performer_deletes_its_record_and_shutdown_keeps_the_others():
    async def scenario():
        backend, store = LocalBackend(), RecordingStore()
        pool = new_pool(backend, store)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        await pool.remove(v1)
        after_remove = store.states()
        await pool.deploy(spec("v2"))
        await pool.shutdown()  # keeps the performers, and their records
        try:
            return v1, after_remove, store.states(), list(backend.performers)
        finally:
            await backend.destroy()

    v1, after_remove, after_shutdown, running = asyncio.run(scenario())
    assert after_remove == {} and v1 not in running
    assert list(after_shutdown.values()) == ["in_service"] and list(after_shutdown) == running


@pytest.mark.parametrize("state", ["in_service", "staged", None])
def test_a_restart_adopts_the_performer_whatever_its_stored_state(state):
    """The only performer of the AVS runs the configured image: kept whether the crash left it in
    service, staged (promotion not written yet) or without a record (it was retiring)."""

    async def scenario():
        backend, store = StatusEndpointBackend(), RecordingStore()
        only = await backend.create(spec())
        only.ready = True
        if state is not None:
            store.save_performer(record(only.performer_id, state))
        store.writes.clear()
        pool = new_pool(backend, store)
        problems = await pool.start()
        try:
            return only.performer_id, problems, store.writes, store.states(), await version(pool)
        finally:
            await pool.shutdown()
            await backend.destroy()

    only, problems, writes, states, answer = asyncio.run(scenario())
    assert problems == {} and answer == b"v1"
    assert writes == [("save", only, "in_service")]  # nothing before the promotion
    assert states == {only: "in_service"}


def test_a_restart_after_a_crash_mid_deploy_keeps_the_in_service_one_and_removes_the_staged_one():
    async def scenario():
        backend, store = LocalBackend(), RecordingStore()
        serving, staged = await backend.create(spec("v1")), await backend.create(spec("v2"))
        staged.ready = serving.ready = True
        store.save_performer(record(serving.performer_id, "in_service"))
        store.save_performer(record(staged.performer_id, "staged", "v2"))
        store.save_performer(record("performer-gone", "in_service"))  # its performer no longer exists
        pool = new_pool(backend, store, tag="v2")  # the configured image is the staged one's
        await pool.start()
        try:
            return (
                serving.performer_id,
                staged.performer_id,
                backend.removed,
                store.states(),
                await version(pool),
            )
        finally:
            await pool.shutdown()
            await backend.destroy()

    serving, staged, removed, states, answer = asyncio.run(scenario())
    assert removed == [staged]
    assert states == {serving: "in_service"} and answer == b"v1"


@pytest.mark.parametrize("state", ["staged", None])
def test_a_restart_whose_adoption_fails_deletes_the_record_and_deploys_anew(state):
    """A performer the store does not remember in service is removed when it does not become ready,
    and the configured image is deployed in its place."""

    async def scenario():
        backend, store = LocalBackend(fail_ready={"v1"}), RecordingStore()
        stuck = await backend.create(spec("v1"))
        if state is not None:
            store.save_performer(record(stuck.performer_id, state))
        store.writes.clear()
        pool = new_pool(backend, store, tag="v1")
        problems = await pool.start()
        try:
            return stuck.performer_id, problems, store.writes
        finally:
            await pool.shutdown()
            await backend.destroy()

    stuck, problems, writes = asyncio.run(scenario())
    assert writes[0] == ("delete", stuck, "")  # adopting → removed
    assert "failed to start" in problems[AVS.lower()]  # the new one fails too (same image)


def test_a_restart_whose_in_service_performer_fails_keeps_its_record_when_no_new_one_starts():
    """The performer remembered in service is released (record kept, still running) when it does not
    become ready; a new one of its spec is staged and, failing too, removed with its record."""

    async def scenario():
        backend, store = LocalBackend(fail_ready={"v1"}), RecordingStore()
        stuck = await backend.create(spec("v1"))
        store.save_performer(record(stuck.performer_id, "in_service"))
        store.writes.clear()
        pool = new_pool(backend, store, tag="v1")
        problems = await pool.start()
        try:
            return stuck.performer_id, backend.created[-1], problems, store.writes, store.states()
        finally:
            await pool.shutdown()
            await backend.destroy()

    stuck, fresh, problems, writes, states = asyncio.run(scenario())
    assert writes == [("save", fresh, "staged"), ("delete", fresh, "")]
    assert states == {stuck: "in_service"}
    assert "failed to start" in problems[AVS.lower()] and "next start tries again" in problems[AVS.lower()]
