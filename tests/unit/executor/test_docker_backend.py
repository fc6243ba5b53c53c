"""The Docker performer backend, against a fake Docker engine spoken to through the Docker SDK."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import docker
import pytest
from hourglass_executor.performers.base import BackendError, EnvVar, NotReadyError, PerformerSpec
from hourglass_executor.performers.docker import (
    AVS_LABEL,
    OWNER_LABEL,
    PERFORMER_LABEL,
    VERSION_LABEL,
    DockerBackend,
    container_env,
    split_reference,
)
from hourglass_executor.performers.docker_supervisor import RestartPolicy

from tests.support.fake_docker import FakeDocker
from tests.support.waiting import wait_for_async

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
H6 = hashlib.sha256(AVS.lower().encode()).hexdigest()[:6]
REPOSITORY = "ghcr.io/example/performer"
TAG = "v1.0.0"
DIGEST = "sha256:" + "ab" * 32
NOW = 1_700_000_000
OWNER = "0x1111111111111111111111111111111111111111"
FAST = RestartPolicy(check_interval=0.05)


def spec(**overrides: Any) -> PerformerSpec:
    return PerformerSpec(**{"avs_address": AVS, "repository": REPOSITORY, "tag": TAG, **overrides})


class Sleeps:
    """Back-off sleeps: recorded, not waited for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> Iterator[FakeDocker]:
    with FakeDocker() as engine:
        engine.registry.update({f"{REPOSITORY}:{TAG}", f"{REPOSITORY}@{DIGEST}"})
        yield engine


@pytest.fixture
def client(fake) -> Iterator[docker.DockerClient]:
    sdk = docker.DockerClient(base_url=fake.base_url)
    yield sdk
    sdk.close()


@pytest.fixture
def run(client) -> Callable[..., Any]:
    """Runs `scenario(backend, sleeps, events)` with a fresh backend (closed afterwards)."""

    def runner(
        scenario: Callable[..., Awaitable[None]], owner: str = OWNER, **options: Any
    ) -> tuple[Sleeps, list[tuple[str, str]]]:
        sleeps, events = Sleeps(), []

        async def main() -> None:
            backend = DockerBackend(
                owner,
                client=client,
                clock=lambda: NOW,
                policy=options.pop("policy", FAST),
                listener=lambda pid, event: events.append((pid, event)),
                poll_interval=0.02,
                stop_timeout=1,
                event_retry_interval=0.05,
                backoff_sleep=sleeps,
                **options,
            )
            try:
                await scenario(backend, sleeps, events)
            finally:
                await backend.close()

        asyncio.run(main())
        return sleeps, events

    return runner


def the_container(fake: FakeDocker, performer_id: str) -> dict[str, Any]:
    [container] = fake.with_label(PERFORMER_LABEL, performer_id)
    return container


def host_port(container: dict[str, Any]) -> str:
    return container["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]


# --- creating ---------------------------------------------------------------------------------


def test_create_runs_a_container_like_upstream_container_mode(fake, run):
    env = (EnvVar("AVS_MODE", "fast"), EnvVar("API_TOKEN", "s3cret"))

    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec(env=env))
        assert re.fullmatch(
            rf"performer-{AVS}-[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}",
            deployment.performer_id,
        )
        container = the_container(fake, deployment.performer_id)
        name = f"avs-performer-{H6}-{NOW}"
        assert container["Name"] == "/" + name
        assert container["Config"]["Hostname"] == name
        assert container["Config"]["Image"] == f"{REPOSITORY}:{TAG}"
        assert container["Config"]["Env"] == ["AVS_MODE=fast", "API_TOKEN=s3cret"]
        assert container["Config"]["Labels"] == {
            OWNER_LABEL: OWNER,
            PERFORMER_LABEL: deployment.performer_id,
            AVS_LABEL: AVS,
            VERSION_LABEL: TAG,
        }
        assert container["Config"]["ExposedPorts"] == {"8080/tcp": {}}
        assert container["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": ""}]}
        assert container["HostConfig"]["AutoRemove"] is True
        assert deployment.endpoint == f"localhost:{host_port(container)}"
        assert deployment.resource_id == container["Id"]
        assert deployment.details["container_name"] == name
        assert deployment.ready is False

        ready = await backend.wait_ready(deployment, timeout=5)
        assert ready is deployment and deployment.ready is True
        assert await backend.resource_healthy(deployment.performer_id) is True

    run(scenario)
    assert fake.count("POST", r"/images/create") == 1  # it was not present locally


def test_a_present_image_is_not_pulled(fake, run):
    fake.images.add(f"{REPOSITORY}:{TAG}")
    fake.registry.clear()

    async def scenario(backend, sleeps, events):
        await backend.create(spec())

    run(scenario)
    assert fake.count("POST", r"/images/create") == 0
    assert fake.count("GET", r"/images/.+/json") == 1


def test_a_digest_pins_the_image(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec(digest=DIGEST))
        assert the_container(fake, deployment.performer_id)["Config"]["Image"] == f"{REPOSITORY}@{DIGEST}"

    run(scenario)
    assert f"{REPOSITORY}@{DIGEST}" in fake.images
    assert f"{REPOSITORY}:{TAG}" not in fake.images


def test_an_image_that_cannot_be_pulled_is_a_backend_error(fake, run):
    fake.registry.clear()

    async def scenario(backend, sleeps, events):
        with pytest.raises(
            BackendError, match=f"image {REPOSITORY}:{TAG} is not present and cannot be pulled"
        ):
            await backend.create(spec())

    run(scenario)
    assert fake.containers == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (EnvVar("DB_PASSWORD", secret_key_ref=("db", "password")), "kubernetes env references"),
        (EnvVar("MODE", config_map_key_ref=("settings", "mode")), "kubernetes env references"),
        (EnvVar("FROM_ENV"), "valueFromEnv must be resolved"),
    ],
)
def test_env_a_container_cannot_have_is_refused_before_anything_runs(fake, run, env, message):
    async def scenario(backend, sleeps, events):
        with pytest.raises(BackendError, match=f"env {env.name}: .*{message}"):
            await backend.create(spec(env=(EnvVar("OK", "1"), env)))

    run(scenario)
    assert fake.containers == {}
    assert fake.count("POST", r"/containers/create") == 0


def test_error_messages_name_env_variables_but_never_their_values():
    with pytest.raises(BackendError) as raised:
        container_env([EnvVar("A=B", "hunter2")])
    assert "hunter2" not in str(raised.value)


def test_two_performers_of_one_avs_in_one_second_get_distinct_names(fake, run):
    async def scenario(backend, sleeps, events):
        first = await backend.create(spec())
        second = await backend.create(spec(tag="v2"))
        assert first.details["container_name"] == f"avs-performer-{H6}-{NOW}"
        assert second.details["container_name"] == f"avs-performer-{H6}-{NOW + 1}"
        assert first.endpoint != second.endpoint

    fake.registry.add(f"{REPOSITORY}:v2")
    run(scenario)


def test_with_a_network_the_performer_is_dialled_by_hostname(fake, run):
    async def scenario(backend, sleeps, events):
        first = await backend.create(spec())
        second = await backend.create(spec())
        for deployment in (first, second):
            container = the_container(fake, deployment.performer_id)
            name = container["Name"].lstrip("/")
            assert deployment.endpoint == f"{name}:8080"
            assert container["HostConfig"]["NetworkMode"] == "performers"
            assert "performers" in container["NetworkSettings"]["Networks"]
            assert host_port(container)  # still published

    run(scenario, network_name="performers")
    assert [n["Name"] for n in fake.networks.values()].count("performers") == 1
    assert fake.count("POST", r"/networks/create") == 1
    assert fake.count("GET", r"/networks/performers") == 1


def test_an_existing_network_is_used_as_is(fake, run):
    fake._add_network("performers")

    async def scenario(backend, sleeps, events):
        await backend.create(spec())

    run(scenario, network_name="performers")
    assert fake.count("POST", r"/networks/create") == 0


def test_image_references_split_for_pulling():
    assert split_reference("ghcr.io/a/b:v1") == ("ghcr.io/a/b", "v1")
    assert split_reference("localhost:5000/b:v1") == ("localhost:5000/b", "v1")
    assert split_reference("localhost:5000/b") == ("localhost:5000/b", "latest")
    assert split_reference(f"b@{DIGEST}") == ("b", DIGEST)


# --- adopting and removing ----------------------------------------------------------------------


def test_owned_adopts_this_executors_containers_only(fake, run):
    created: dict[str, str] = {}

    async def start_two(backend, sleeps, events):
        for tag in (TAG, "v2"):
            deployment = await backend.create(spec(tag=tag))
            created[deployment.performer_id] = deployment.endpoint

    async def start_foreign(backend, sleeps, events):
        await backend.create(spec())

    async def adopt(backend, sleeps, events):
        owned = await backend.owned()
        # Oldest first, which the pool's choice of the newest relies on; the engine lists the newest first.
        assert [d.performer_id for d in owned] == list(created)
        adopted = {d.performer_id: d for d in owned}
        assert {pid: d.endpoint for pid, d in adopted.items()} == created
        for deployment in adopted.values():
            assert deployment.ready is True
            assert deployment.spec.avs_address == AVS
            assert deployment.spec.repository == REPOSITORY
            assert deployment.spec.env == ()
        assert {d.spec.tag for d in adopted.values()} == {TAG, "v2"}
        # adopted performers are supervised: a killed one comes back
        performer_id = next(iter(adopted))
        old = the_container(fake, performer_id)["Id"]
        fake.kill(old)
        await wait_for_async(lambda: fake.with_label(PERFORMER_LABEL, performer_id) != [], timeout=5)
        assert the_container(fake, performer_id)["Id"] != old
        assert adopted[performer_id].endpoint == created[performer_id]

    fake.registry.add(f"{REPOSITORY}:v2")
    run(start_two)
    run(start_foreign, owner="another-executor")
    run(adopt)
    assert len(fake.with_label(OWNER_LABEL, "another-executor")) == 1


def test_remove_stops_and_deletes_the_container(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        container_id = deployment.resource_id
        await backend.remove(deployment.performer_id)
        assert fake.find(container_id) is None
        assert await backend.resource_healthy(deployment.performer_id) is False
        await backend.remove(deployment.performer_id)  # already gone: fine
        await backend.remove("performer-unknown")
        assert await backend.owned() == []
        await asyncio.sleep(0.15)  # a few supervision rounds: nothing is recreated
        assert fake.containers == {}
        assert sleeps.delays == []

    run(scenario)
    assert fake.count("POST", r"/containers/[^/]+/stop") == 1


# --- supervision --------------------------------------------------------------------------------


def test_a_killed_performer_is_recreated_with_backoff_then_given_up(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec(env=(EnvVar("A", "1"),)))
        pid = deployment.performer_id
        first = the_container(fake, pid)
        first_port = host_port(first)
        for restart in range(1, 6):
            old = the_container(fake, pid)
            fake.kill(old["Id"], oom=restart == 3)
            await wait_for_async(lambda restart=restart: len(events) == restart, timeout=5)
            new = the_container(fake, pid)
            assert new["Id"] != old["Id"] and new["State"]["Running"]
            assert new["Name"] == first["Name"] and new["Config"]["Hostname"] == first["Config"]["Hostname"]
            assert new["Config"]["Env"] == ["A=1"]
            assert host_port(new) == first_port  # same endpoint as before
            assert deployment.resource_id == new["Id"]
            assert backend.restarts(pid) == restart
        fake.kill(the_container(fake, pid)["Id"])
        await wait_for_async(lambda: (pid, "failed") in events, timeout=5)
        assert fake.with_label(PERFORMER_LABEL, pid) == []
        assert await backend.resource_healthy(pid) is False
        with pytest.raises(NotReadyError, match="gave up"):
            await backend.wait_ready(deployment, timeout=1)
        with pytest.raises(BackendError, match="keeps failing"):
            await backend.restart(pid)
        assert events == [(pid, "restarted")] * 5 + [(pid, "failed")]

    sleeps, _ = run(scenario)
    assert sleeps.delays == [2, 4, 8, 16, 30]


def test_a_container_gone_without_an_event_is_found_by_the_periodic_check(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        old = deployment.resource_id
        fake.vanish(old)
        await wait_for_async(lambda: (deployment.performer_id, "restarted") in events, timeout=5)
        assert the_container(fake, deployment.performer_id)["Id"] != old

    sleeps, _ = run(scenario)
    assert sleeps.delays == [2]


def test_restart_on_request_replaces_a_running_container(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        old, endpoint = deployment.resource_id, deployment.endpoint
        restarted = await backend.restart(deployment.performer_id)
        assert restarted is deployment
        assert deployment.resource_id != old and fake.find(old) is None
        assert the_container(fake, deployment.performer_id)["State"]["Running"]
        assert deployment.endpoint == endpoint
        assert backend.restarts(deployment.performer_id) == 1
        with pytest.raises(BackendError, match="not managed"):
            await backend.restart("performer-unknown")

    sleeps, events = run(scenario)
    assert sleeps.delays == [2]
    assert [event for _, event in events] == ["restarted"]


def test_a_restarted_performer_whose_port_was_taken_gets_a_new_endpoint(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        old_port = host_port(the_container(fake, deployment.performer_id))
        fake.reserved_ports.add(old_port)  # another process grabs the port once it is free
        fake.kill(deployment.resource_id)
        await wait_for_async(lambda: (deployment.performer_id, "restarted") in events, timeout=5)
        new_port = host_port(the_container(fake, deployment.performer_id))
        assert new_port != old_port
        assert deployment.endpoint == f"localhost:{new_port}"

    run(scenario)


def test_listeners_added_later_hear_of_restarts_once_the_deployment_is_updated(fake, run):
    """The pool adds its listener to a backend built without one (as the executor builds it); a
    listener hears "restarted" only once the deployment has the new container and endpoint."""

    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        old_port = host_port(the_container(fake, deployment.performer_id))
        heard: list[tuple[str, str, str]] = []
        backend.add_listener(lambda pid, event: heard.append((pid, event, deployment.endpoint)))
        fake.reserved_ports.add(old_port)
        fake.kill(deployment.resource_id)
        await wait_for_async(lambda: heard, timeout=5, what="the added listener")
        new_port = host_port(the_container(fake, deployment.performer_id))
        assert heard == [(deployment.performer_id, "restarted", f"localhost:{new_port}")]
        assert (deployment.performer_id, "restarted") in events  # the constructor's listener too

    run(scenario)


def test_the_restart_count_resets_after_a_stable_period(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        fake.kill(deployment.resource_id)
        await wait_for_async(lambda: events != [], timeout=5)
        await wait_for_async(lambda: backend.restarts(deployment.performer_id) == 0, timeout=5)

    run(scenario, policy=RestartPolicy(check_interval=0.05, stable_after=0.0))


def test_wait_ready_fails_when_the_container_does_not_run_in_time(fake, run):
    async def scenario(backend, sleeps, events):
        deployment = await backend.create(spec())
        fake.vanish(deployment.resource_id)  # no event, and no periodic check within the timeout
        with pytest.raises(NotReadyError, match=r"not running after 0.2 s \(container state: removed\)"):
            await backend.wait_ready(deployment, timeout=0.2)

    run(scenario, policy=RestartPolicy(check_interval=60))


def test_restart_policy_backoff_doubles_up_to_the_maximum():
    policy = RestartPolicy()
    assert [policy.backoff(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert (policy.max_restarts, policy.check_interval) == (5, 5.0)


def test_a_container_holding_the_name_for_another_performer_is_not_removed_by_a_restart(fake, run, caplog):
    """Restarting frees the performer's container name first, but only by removing a container that
    is that performer's: one holding the name with another performer's label is left alone, and the
    restart fails with a BackendError naming it (the supervisor then gives up)."""
    restarted: dict[str, str] = {}

    async def scenario(backend, sleeps, events) -> None:
        deployment = await backend.create(spec())
        restarted.update(name=deployment.details["container_name"], performer=deployment.performer_id)
        container = fake.find(deployment.resource_id)
        assert container is not None
        with fake.lock:  # the name is now held by a container of another performer
            container["Config"]["Labels"][PERFORMER_LABEL] = "performer-someone-else"
        with pytest.raises(BackendError, match="keeps failing"):
            await backend.restart(deployment.performer_id)

    with caplog.at_level(logging.WARNING):
        run(scenario)
    [other] = fake.with_label(PERFORMER_LABEL, "performer-someone-else")
    assert other["Name"] == "/" + restarted["name"] and other["State"]["Running"]
    assert fake.with_label(PERFORMER_LABEL, restarted["performer"]) == []
    refused = (
        f"container {restarted['name']} exists and does not belong to performer {restarted['performer']}"
    )
    failures = [m for m in (r.getMessage() for r in caplog.records) if " failed: " in m]
    assert len(failures) == 5 and all(refused in m for m in failures)
