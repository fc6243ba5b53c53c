"""Two pool decisions an operator's stake depends on: a deadline that the caller's remaining time set
(shorter than the executor's own task timeout) does not open the performer's circuit, while one the
executor's own timeout set still does; and after a restart with a persistent store, a performer
DeployArtifact put in service that does not become ready is replaced by a new performer of the same
spec, never silently by the configured image, and when that fails too the AVS is reported and the
old performer and its record are kept for the next start."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import grpc
import pytest
from hourglass_executor.performers.base import Deployment, EnvVar, NotReadyError, PerformerSpec
from hourglass_executor.performers.circuit import CLOSED, OPEN
from hourglass_executor.performers.client import PerformerCallError
from hourglass_executor.performers.pool import PerformerPool, PerformerUnavailableError, PoolSettings
from hourglass_executor.store import Store
from hourglass_executor.store.memory import MemoryStore
from hourglass_executor.store.sqlite import SqliteStore

from tests.support.aggregator import AVS, new_task_id
from tests.support.executor_harness import REPOSITORY
from tests.support.local_backend import LocalBackend, running_versions

pytestmark = pytest.mark.unit

VERSION = json.dumps({"op": "version"}).encode()
SLOW = json.dumps({"op": "sleep", "ms": 10_000}).encode()  # outlasts every deadline below
CONFIGURED_ENV = (EnvVar("RPC_URL", value="http://rpc.example"),)
CONFIGURED_ACCOUNT = "performer-default"


def spec(tag: str, **fields: object) -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository=REPOSITORY, tag=tag, **fields)


def configured() -> PerformerSpec:
    return spec("v1", env=CONFIGURED_ENV, service_account_name=CONFIGURED_ACCOUNT)


def deployed_by_artifact() -> PerformerSpec:
    """What DeployArtifact builds: the configured env with the request's on top, its own account."""
    return spec(
        "v2", env=(*CONFIGURED_ENV, EnvVar("MODE", value="fast")), service_account_name="performer-v2"
    )


def new_pool(backend: LocalBackend, store: Store) -> PerformerPool:
    return PerformerPool(backend, store, {AVS: configured()}, settings=PoolSettings(health_timeout=1))


async def version_of(pool: PerformerPool) -> bytes:
    return await pool.run_task(AVS, new_task_id(), VERSION, timeout=5)


# --- the circuit breaker and whose deadline expired ---------------------------------------------


async def expire_five(pool: PerformerPool, **task_timeout: float | None) -> list[BaseException]:
    """Five slow tasks at once, each cut by a 0.3 s deadline (the breaker's threshold is five)."""
    calls = (pool.run_task(AVS, new_task_id(), SLOW, timeout=0.3, **task_timeout) for _ in range(5))
    return await asyncio.gather(*calls, return_exceptions=True)


def assert_deadlines(errors: list[BaseException]) -> None:
    assert [type(e) for e in errors] == [PerformerCallError] * 5
    assert {e.code for e in errors} == {grpc.StatusCode.DEADLINE_EXCEEDED}  # type: ignore[attr-defined]


def test_deadlines_the_callers_remaining_time_set_leave_the_circuit_closed():
    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend, MemoryStore())
        await pool.start()
        try:
            errors = await expire_five(pool, task_timeout=10)
            breaker = pool.current(AVS).breaker
            state, failures = breaker.state, breaker.consecutive_failures
            answer = await pool.run_task(AVS, new_task_id(), VERSION, timeout=10, task_timeout=10)
            return errors, state, failures, answer
        finally:
            await pool.shutdown()
            await backend.destroy()

    errors, state, failures, answer = asyncio.run(scenario())
    assert_deadlines(errors)
    assert (state, failures) == (CLOSED, 0)
    assert answer == b"v1"


@pytest.mark.parametrize("task_timeout", [{"task_timeout": 0.3}, {}], ids=["given", "default"])
def test_deadlines_the_executors_own_task_timeout_set_open_the_circuit(task_timeout):
    async def scenario():
        backend = LocalBackend()
        pool = new_pool(backend, MemoryStore())
        await pool.start()
        try:
            errors = await expire_five(pool, **task_timeout)
            state = pool.current(AVS).breaker.state
            with pytest.raises(PerformerUnavailableError, match="circuit open"):
                await pool.run_task(AVS, new_task_id(), VERSION, timeout=10, **task_timeout)
            return errors, state
        finally:
            await pool.shutdown()
            await backend.destroy()

    errors, state = asyncio.run(scenario())
    assert_deadlines(errors)
    assert state == OPEN


# --- a restart whose DeployArtifact performer is not ready -----------------------------------------


@dataclasses.dataclass
class StuckBackend(LocalBackend):
    """A LocalBackend where the performers in `stuck` never become ready (others of the same image
    do), and which, unless `reads_env_back`, reads an owned performer's spec back without env or
    service account, as the Docker backend does."""

    stuck: set[str] = dataclasses.field(default_factory=set)
    reads_env_back: bool = True

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        if deployment.performer_id in self.stuck:
            raise NotReadyError(f"performer {deployment.performer_id} did not become ready in time")
        return await super().wait_ready(deployment, timeout)

    async def owned(self) -> list[Deployment]:
        owned = await super().owned()
        if self.reads_env_back:
            return owned
        return [
            dataclasses.replace(d, spec=dataclasses.replace(d.spec, env=(), service_account_name=None))
            for d in owned
        ]


async def serve_v2_then_stop(backend: LocalBackend, path: Path) -> str:
    """An executor configured with v1 is moved to v2 by DeployArtifact and shuts down (its performers
    keep running); returns the v2 performer's id."""
    store = SqliteStore(path)
    first = new_pool(backend, store)
    await first.start()
    v2 = (await first.deploy(deployed_by_artifact())).performer_id
    await first.shutdown()
    store.close()
    return v2


def records(path: Path) -> list[tuple[str, str, str]]:
    store = SqliteStore(path)
    try:
        return [(r.performer_id, r.status, r.image) for r in store.performers()]
    finally:
        store.close()


@pytest.mark.parametrize("reads_env_back", [True, False], ids=["kubernetes-like", "docker-like"])
def test_a_remembered_performer_that_is_not_ready_is_replaced_by_one_of_its_own_spec(
    tmp_path, reads_env_back
):
    path = tmp_path / "executor.sqlite3"

    async def scenario():
        backend = StuckBackend(reads_env_back=reads_env_back)
        old_v2 = await serve_v2_then_stop(backend, path)
        backend.stuck.add(old_v2)
        store = SqliteStore(path)
        second = new_pool(backend, store)
        problems = await second.start()
        try:
            new_v2 = second.current(AVS).performer_id
            return old_v2, new_v2, problems, await version_of(second), backend
        finally:
            await second.shutdown()
            store.close()
            await backend.destroy()

    old_v2, new_v2, problems, answer, backend = asyncio.run(scenario())
    assert problems == {}
    assert answer == b"v2"
    assert new_v2 != old_v2 and old_v2 in backend.removed
    assert running_versions(backend) == ["v2"]  # no v1 was deployed at the restart
    assert records(path) == [(new_v2, "in_service", f"{REPOSITORY}:v2")]
    replacement = backend.history[new_v2].deployment.spec
    if reads_env_back:
        assert replacement == deployed_by_artifact()
    else:  # what the backend does not read back comes from the configuration
        assert (replacement.image, replacement.env, replacement.service_account_name) == (
            f"{REPOSITORY}:v2",
            CONFIGURED_ENV,
            CONFIGURED_ACCOUNT,
        )


def test_when_no_performer_of_the_remembered_image_starts_the_avs_is_reported_and_the_next_start_retries(
    tmp_path,
):
    path = tmp_path / "executor.sqlite3"

    async def restart(backend: LocalBackend) -> tuple[dict[str, str], str | None, bytes | None]:
        store = SqliteStore(path)
        pool = new_pool(backend, store)
        problems = await pool.start()
        try:
            current = pool.current(AVS)
            answer = await version_of(pool) if current is not None else None
            return problems, current.performer_id if current is not None else None, answer
        finally:
            await pool.shutdown()
            store.close()

    async def scenario():
        backend = StuckBackend()
        old_v2 = await serve_v2_then_stop(backend, path)
        backend.fail_ready = {"v2"}  # neither the old v2 nor a new one becomes ready
        failed = await restart(backend)
        after_failure = (records(path), running_versions(backend), list(backend.performers))
        backend.fail_ready = set()  # whatever stopped v2 is fixed
        retried = await restart(backend)
        await backend.destroy()
        return old_v2, failed, after_failure, retried

    old_v2, (problems, current, _), (kept_records, running, ids), retried = asyncio.run(scenario())
    assert current is None  # nothing serves rather than the replaced v1
    problem = problems[AVS.lower()]
    assert f"{REPOSITORY}:v2" in problem and "configured image was not deployed" in problem
    assert running == ["v2"] and ids == [old_v2]  # the new v2 was removed, the old one kept
    assert kept_records == [(old_v2, "in_service", f"{REPOSITORY}:v2")]
    assert retried == ({}, old_v2, b"v2")  # the next start adopts it
