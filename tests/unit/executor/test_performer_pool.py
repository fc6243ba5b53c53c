"""The performer pool over a LocalBackend (real performer servers on loopback): blue-green deploys
under load lose and duplicate nothing and remove the old performer only after its in-flight tasks,
failed deploys keep the old performer, deploys are serialized, start-up adopts instead of
duplicating, listing, removal, shutdown, and Docker-style restarts after failed health checks."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from hourglass_executor.performers.base import PerformerSpec
from hourglass_executor.performers.lifecycle import State
from hourglass_executor.performers.pool import (
    DeployCancelledError,
    DeployError,
    PerformerPool,
    PerformerUnavailableError,
    PoolSettings,
    UnknownAvsError,
    UnknownPerformerError,
)
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend, RestartableLocalBackend, running_versions
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

OTHER_AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
VERSION = json.dumps({"op": "version"}).encode()


def spec(tag: str = "v1", avs: str = AVS, **fields: object) -> PerformerSpec:
    return PerformerSpec(avs_address=avs, repository=REPOSITORY, tag=tag, **fields)


def new_pool(backend, store=None, configured=None, **settings) -> PerformerPool:
    return PerformerPool(
        backend,
        store if store is not None else MemoryStore(),
        configured if configured is not None else {AVS: spec()},
        settings=PoolSettings(**settings),
    )


def sleep_payload(ms: int, data: str = "") -> bytes:
    return json.dumps({"op": "sleep", "ms": ms, "data": data}).encode()


async def version_of(pool: PerformerPool) -> bytes:
    return await pool.run_task(AVS, new_task_id(), VERSION, timeout=5)


def run(scenario):
    """Runs `scenario()` and stops every performer a LocalBackend it made still runs."""
    return asyncio.run(scenario())


def has_started(backend: LocalBackend, task_id: str) -> bool:
    return task_id.encode() in backend.tasks_started()


async def deploy_held_staged(pool, backend) -> tuple[asyncio.Task, str]:
    """Deploys v2 on a started pool and holds it staged (its readiness never comes): the deploy's
    task and the staged performer's id, once the pool lists it."""
    backend.ready_gate = asyncio.Event()  # never set
    deploying = asyncio.create_task(pool.deploy(spec("v2")))
    staged = (await wait_for_async(staged_listing(pool), what="the staged performer"))[1].performer_id
    return deploying, staged


def staged_listing(pool):
    """A check for wait_for_async: the pool's listing once it shows the in-service and the staged
    performer."""

    async def listing():
        entries = await pool.list()
        return entries if len(entries) == 2 else None

    return listing


# --- blue-green ------------------------------------------------------------------------------


def test_blue_green_under_load_loses_nothing_and_drains_the_old_performer_first():
    async def scenario():
        backend = LocalBackend(ready_delay=0.3)
        pool = new_pool(backend)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        outcomes: list[tuple[float, str, object]] = []
        stop = asyncio.Event()

        async def traffic() -> None:
            while not stop.is_set():
                task_id, sent = new_task_id(), time.monotonic()
                try:
                    outcomes.append((sent, task_id, await pool.run_task(AVS, task_id, VERSION, timeout=5)))
                except Exception as error:
                    outcomes.append((sent, task_id, error))

        loops = [asyncio.create_task(traffic()) for _ in range(8)]
        await wait_for_async(lambda: len(outcomes) >= 8, what="traffic to v1")
        slow_id = new_task_id()
        slow = asyncio.create_task(pool.run_task(AVS, slow_id, sleep_payload(800, "slow"), timeout=5))
        slow.add_done_callback(lambda _: setattr(slow, "finished_at", time.monotonic()))
        await wait_for_async(lambda: has_started(backend, slow_id), what="the slow task to run on v1")
        deployed = await pool.deploy(spec("v2"))
        deployed_at = time.monotonic()
        await wait_for_async(
            lambda: sum(sent > deployed_at for sent, _, _ in outcomes) >= 8, what="traffic after the switch"
        )
        stop.set()
        await asyncio.gather(*loops)
        listing = await pool.list()
        try:
            return backend, v1, deployed, deployed_at, outcomes, slow, listing
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, v1, deployed, deployed_at, outcomes, slow, listing = run(scenario)
    failures = [o for o in outcomes if not isinstance(o[2], bytes)]
    assert failures == []
    assert slow.result() == b"slow"
    assert {result for _, _, result in outcomes} == {b"v1", b"v2"}
    assert all(result == b"v2" for sent, _, result in outcomes if sent > deployed_at)
    started = backend.tasks_started()
    assert len(started) == len(set(started)) == len(outcomes) + 1  # each task ran exactly once
    old = backend.history[v1]
    assert old.in_flight_when_removed == 0
    assert old.removed_at >= slow.finished_at  # removed only after its slow task finished
    assert backend.removed == [v1]
    assert [(e.performer_id, e.status) for e in listing] == [(deployed.performer_id, "InService")]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("broken", "failed to start (image broken)"),
        ("sick", "did not answer its gRPC health check with SERVING within 0.3 s"),
    ],
)
def test_a_failed_deploy_removes_the_new_performer_and_keeps_the_old_one_serving(tag, reason):
    async def scenario():
        backend = LocalBackend(fail_ready={"broken"}, unhealthy={"sick"})
        store = MemoryStore()
        pool = new_pool(backend, store, health_timeout=0.3)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        with pytest.raises(DeployError) as failed:
            await pool.deploy(spec(tag))
        try:
            return backend, store, v1, str(failed.value), await version_of(pool), await pool.list()
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, store, v1, message, version, listing = run(scenario)
    assert reason in message and f"performer {v1} keeps serving" in message
    assert version == b"v1"
    new = [p for p in backend.created if p != v1]
    assert backend.removed == new
    assert [(e.performer_id, e.status) for e in listing] == [(v1, "InService")]
    assert [(r.performer_id, r.status) for r in store.performers()] == [(v1, "in_service")]


def test_concurrent_deploys_for_one_avs_run_one_after_the_other():
    async def scenario():
        backend = LocalBackend(ready_delay=0.2)
        pool = new_pool(backend)
        await pool.start()
        v2, v3 = await asyncio.gather(pool.deploy(spec("v2")), pool.deploy(spec("v3")))
        try:
            return backend, v2, v3, await version_of(pool)
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, v2, _, version = run(scenario)
    assert backend.max_running == 2  # never three performers at once: the second waited
    assert version == b"v3"
    assert backend.removed == [backend.created[0], v2.performer_id]
    assert running_versions(backend) == ["v3"]


def test_deploy_for_an_avs_that_is_not_configured_creates_nothing():
    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend)
        with pytest.raises(UnknownAvsError, match="is not served by this executor"):
            await pool.deploy(spec(avs=OTHER_AVS))
        return backend.created

    assert run(scenario) == []


# --- list and remove -------------------------------------------------------------------------


def test_list_shows_the_in_service_and_the_staged_performer_with_health():
    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend)
        await pool.start()
        backend.ready_gate = asyncio.Event()  # v2 stays staged until the test has listed it
        deploying = asyncio.create_task(pool.deploy(spec("v2", digest="sha256:" + "ab" * 32)))
        during = await wait_for_async(staged_listing(pool), what="the staged performer to be listed")
        filtered = await pool.list(OTHER_AVS)
        backend.ready_gate.set()
        await deploying
        after = await pool.list(AVS.upper().replace("0X", "0x"))
        try:
            return backend, during, filtered, after
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, during, filtered, after = run(scenario)
    v1, v2 = backend.created
    assert [(e.performer_id, e.status) for e in during] == [(v1, "InService"), (v2, "Staged")]
    current, staged = during
    assert (
        current.avs_address,
        current.artifact_registry,
        current.artifact_tag,
        current.artifact_digest,
    ) == (
        AVS.lower(),
        REPOSITORY,
        "v1",
        "",
    )
    assert current.resource_healthy and current.application_healthy
    assert RFC3339.fullmatch(current.last_health_check)
    assert current.container_id == f"local-{v1}"
    assert (staged.artifact_tag, staged.artifact_digest) == ("v2", "sha256:" + "ab" * 32)
    assert not staged.resource_healthy and not staged.application_healthy
    assert staged.last_health_check == ""
    assert filtered == []
    assert [(e.performer_id, e.status) for e in after] == [(v2, "InService")]


def test_remove_drains_the_current_performer_and_then_tasks_are_unavailable():
    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend)
        await pool.start()
        v1 = pool.current(AVS).performer_id
        slow_id = new_task_id()
        slow = asyncio.create_task(pool.run_task(AVS, slow_id, sleep_payload(300, "slow"), timeout=5))
        await wait_for_async(lambda: has_started(backend, slow_id), what="the slow task to run")
        await pool.remove(v1)
        with pytest.raises(UnknownPerformerError, match="no performer performer-x"):
            await pool.remove("performer-x")
        with pytest.raises(PerformerUnavailableError, match="no performer is serving AVS"):
            await version_of(pool)
        try:
            return backend, v1, await slow, await pool.list()
        finally:
            await pool.shutdown()

    backend, v1, slow, listing = run(scenario)
    assert slow == b"slow"
    assert backend.history[v1].in_flight_when_removed == 0
    assert backend.removed == [v1] and listing == []


def test_removing_the_staged_performer_cancels_its_deploy():
    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend)
        await pool.start()
        deploying, staged = await deploy_held_staged(pool, backend)
        await pool.remove(staged)
        with pytest.raises(DeployCancelledError):
            await deploying
        try:
            return backend, staged, await version_of(pool), await pool.list()
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, staged, version, listing = run(scenario)
    assert backend.removed == [staged]
    assert version == b"v1"
    assert [e.status for e in listing] == ["InService"]


# --- start-up: adoption ----------------------------------------------------------------------


def test_a_restarted_pool_adopts_its_performer_and_removes_strays():
    async def scenario():
        backend, store = LocalBackend(), MemoryStore()
        first = new_pool(backend, store)
        await first.start()
        v1 = first.current(AVS).performer_id
        await first.shutdown()
        assert backend.closed and v1 in backend.performers  # performers outlive the executor
        stray = await backend.create(spec("v1", avs=OTHER_AVS))
        second = new_pool(backend, store)
        problems = await second.start()
        try:
            return backend, store, v1, stray.performer_id, problems, await version_of(second)
        finally:
            await second.shutdown()
            await backend.destroy()

    backend, store, v1, stray, problems, version = run(scenario)
    assert problems == {}
    assert backend.created == [v1, stray]  # nothing new was deployed
    assert backend.removed == [stray]  # its AVS is not configured
    assert version == b"v1"
    assert [(r.performer_id, r.status) for r in store.performers()] == [(v1, "in_service")]


def test_start_keeps_the_newest_ready_performer_with_the_configured_image():
    async def scenario():
        backend = LocalBackend()
        old_v1 = await backend.create(spec("v1"))
        other = await backend.create(spec("v0"))
        new_v1 = await backend.create(spec("v1"))
        for deployment in (old_v1, other, new_v1):
            deployment.ready = True
        pool = new_pool(backend)  # a fresh store: nothing remembered
        await pool.start()
        try:
            return backend, pool.current(AVS).performer_id, [old_v1.performer_id, other.performer_id], new_v1
        finally:
            await pool.shutdown()
            await backend.destroy()

    backend, kept, removed, newest = run(scenario)
    assert kept == newest.performer_id
    assert sorted(backend.removed) == sorted(removed)
    assert len(backend.created) == 3


def test_start_keeps_what_the_store_remembers_in_service_over_the_configured_image():
    async def scenario():
        backend, store = LocalBackend(), MemoryStore()
        first = new_pool(backend, store)
        await first.start()
        v2 = (await first.deploy(spec("v2"))).performer_id
        await first.shutdown()
        second = new_pool(backend, store)  # still configured with v1
        await second.start()
        kept = second.current(AVS).performer_id
        await second.shutdown()
        third = new_pool(backend, MemoryStore())  # a store that remembers nothing
        await third.start()
        try:
            return backend, v2, kept, await version_of(third)
        finally:
            await third.shutdown()
            await backend.destroy()

    backend, v2, kept, version_with_fresh_store = run(scenario)
    assert kept == v2
    assert version_with_fresh_store == b"v1"  # back to the configured image
    assert len(backend.created) == 3 and backend.removed[-1] == v2


def test_start_deploys_what_is_missing_and_reports_avss_without_an_image():
    async def scenario():
        backend = LocalBackend(fail_ready={"broken"})
        pool = new_pool(backend, configured={AVS: spec("v1"), OTHER_AVS: None})
        problems = await pool.start()
        broken = new_pool(LocalBackend(fail_ready={"broken"}), configured={AVS: spec("broken")})
        broken_problems = await broken.start()
        try:
            return backend, problems, broken_problems, await version_of(pool)
        finally:
            await pool.shutdown()
            await broken.shutdown()
            await backend.destroy()

    backend, problems, broken_problems, version = run(scenario)
    assert problems == {OTHER_AVS.lower(): "no image configured; waiting for DeployArtifact"}
    assert "failed to start (image broken)" in broken_problems[AVS.lower()]
    assert version == b"v1" and len(backend.created) == 1


def test_shutdown_with_delete_removes_every_performer():
    async def scenario():
        backend, store = LocalBackend(), MemoryStore()
        pool = new_pool(backend, store)
        await pool.start()
        await pool.shutdown(delete=True)
        return backend, store

    backend, store = run(scenario)
    assert backend.removed == backend.created and backend.performers == {}
    assert store.performers() == []


# --- Docker mode: restarts -------------------------------------------------------------------


def test_a_performer_failing_three_health_checks_is_restarted_when_the_backend_can():
    async def scenario():
        backend = RestartableLocalBackend()
        pool = new_pool(backend, health_interval=0.05)
        await pool.start()
        live = pool.current(AVS)
        await backend.performers[live.performer_id].server.set_serving(False)
        await wait_for_async(
            lambda: backend.restarts and live.monitor.application_healthy,
            timeout=5,
            what="the restarted performer to pass its health check",
        )
        try:
            return backend.restarts, live.performer_id, live.monitor.application_healthy
        finally:
            await pool.shutdown()
            await backend.destroy()

    restarts, performer_id, healthy_again = run(scenario)
    assert restarts == [performer_id]
    assert healthy_again


def test_list_answers_while_a_performer_is_retired_during_its_health_reads():
    """ListPerformers read the state after awaiting the backend; a blue-green switch in between
    (the listed performer now retiring) made it fail with KeyError (seen in the e2e test)."""

    class SlowHealthBackend(LocalBackend):
        async def resource_healthy(self, performer_id: str) -> bool:
            reading.set()
            await release.wait()
            return await super().resource_healthy(performer_id)

    reading, release = asyncio.Event(), asyncio.Event()

    async def scenario():
        backend = SlowHealthBackend()
        pool = new_pool(backend)
        await pool.start()
        try:
            listing = asyncio.ensure_future(pool.list())
            await reading.wait()
            current = pool.current(AVS)
            current.state = State.RETIRING  # what a promotion of its successor does meanwhile
            release.set()
            return current.performer_id, await listing
        finally:
            await pool.shutdown(delete=True)
            await backend.destroy()

    performer_id, listed = run(scenario)
    assert [(info.performer_id, info.status) for info in listed] == [(performer_id, "InService")]
