"""The executor end to end on the real control plane: aggregator → executor process → performer.

The operator process reconciles the Performers the executor (a process, kubernetes mode) creates;
pods run nothing under kwok, so each Performer is served by a local echo performer process per
image version (tests.support.local_performers, the executor's endpoint resolver). A test aggregator
signs every task and verifies every result's signatures.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time

import grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc

from tests.support.aggregator import AVS, EXECUTOR, STRANGER, TestAggregator, with_fields
from tests.support.api import exists
from tests.support.executor_process import PERFORMER_REPOSITORY, ExecutorProcess, kubernetes_config
from tests.support.local_performers import echo, hold, release, running
from tests.support.management import ManagementClient
from tests.support.performers import GROUP, PLURAL, VERSION, list_performers
from tests.support.waiting import wait_for, wait_for_async

NAME_RE = re.compile(r"performer-[0-9a-f]{6}-[0-9a-f]{8}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
OWNER_ID = "executor-" + hashlib.sha256(EXECUTOR.address.lower().encode()).hexdigest()[:8]
OTHER_AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def names(custom, namespace: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in list_performers(custom, namespace))


def performer_exists(custom, namespace: str, name: str) -> bool:
    return exists(custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)


VERSION_OP = json.dumps({"op": "version"}).encode()


class Client:
    """The aggregator's and the operator's view of one executor process."""

    def __init__(self, executor: ExecutorProcess, aggregator: TestAggregator) -> None:
        self.task_channel = grpc.aio.insecure_channel(f"127.0.0.1:{executor.task_port}")
        self.management_channel = grpc.aio.insecure_channel(f"127.0.0.1:{executor.management_port}")
        self.tasks = executor_pb2_grpc.ExecutorServiceStub(self.task_channel)
        self.management = ManagementClient(self.management_channel)
        self.aggregator = aggregator

    async def run(self, payload: bytes, **fields) -> executor_pb2.TaskResult:
        """Submits a signed task and returns its verified result."""
        submission = self.aggregator.submission(payload, **fields)
        result = await self.tasks.SubmitTask(submission, timeout=30)
        self.aggregator.verify(submission, result)
        return result

    async def code_of(self, submission: executor_pb2.TaskSubmission) -> str:
        try:
            await self.tasks.SubmitTask(submission, timeout=30)
        except grpc.aio.AioRpcError as error:
            return error.code().name
        return "OK"

    async def close(self) -> None:
        await self.task_channel.close()
        await self.management_channel.close()


def session(executor: ExecutorProcess, aggregator: TestAggregator, scenario):
    async def main():
        client = Client(executor, aggregator)
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


def start_executor(executors, cluster, namespace, tmp_path) -> ExecutorProcess:
    executor = executors(kubernetes_config(tmp_path, cluster.kubeconfig, namespace))
    executor.wait_serving(timeout=150)
    return executor


def test_tasks_flow_through_a_blue_green_switch_and_a_removal(
    cluster, custom, namespace, executors, performers_dir, aggregator, tmp_path
):
    executor = start_executor(executors, cluster, namespace, tmp_path)

    # Start-up deployed the configured performer as an upstream executor names and labels it.
    [v1] = list_performers(custom, namespace)
    v1_name = v1["metadata"]["name"]
    assert NAME_RE.fullmatch(v1_name)
    assert v1_name.startswith(f"performer-{hashlib.sha256(AVS.lower().encode()).hexdigest()[:6]}-")
    assert v1["metadata"]["labels"] == {
        "app": "hourglass-performer",
        "hourglass.eigenlayer.io/avs": AVS,
        "hourglass.eigenlayer.io/performer": v1_name,
        "hourglass.eigenlayer.io/executor": OWNER_ID,
    }
    assert v1["spec"]["image"] == f"{PERFORMER_REPOSITORY}:v1" and v1["spec"]["version"] == "v1"
    assert v1["spec"]["config"]["environment"]["LOG_LEVEL"] == "debug"
    assert v1["status"]["ready"] is True

    async def scenario(client: Client):
        before = [await client.run(echo(f"before-{i}")) for i in range(5)]
        version_before = (await client.run(VERSION_OP)).output
        outcomes: list[tuple[executor_pb2.TaskSubmission, object]] = []
        stop = asyncio.Event()

        async def traffic(lane: int) -> None:
            count = 0
            while not stop.is_set():
                submission = client.aggregator.submission(echo(f"lane{lane}-{count}"))
                count += 1
                try:
                    outcomes.append((submission, await client.tasks.SubmitTask(submission, timeout=30)))
                except grpc.aio.AioRpcError as error:
                    outcomes.append((submission, error))
                await asyncio.sleep(0.02)

        lanes = [asyncio.create_task(traffic(lane)) for lane in range(4)]
        # The switch starts with traffic flowing: some tasks answered on v1 already.
        await wait_for_async(lambda: len(outcomes) >= 20, timeout=60, what="traffic to flow on v1")
        # v2's performer process starts only when released: until then its health check fails, so the
        # deploy stays staged for as long as the test looks.
        hold("v2", performers_dir)
        deploying = asyncio.create_task(
            client.management.deploy(avs_address=AVS, registry_url=f"{PERFORMER_REPOSITORY}:v2", timeout=240)
        )
        during = []  # every listing with both performers (a retiring one is not listed: only while staged)

        async def both_listed() -> bool:
            entries = await client.management.list()
            if len(entries) == 2:
                during.append(sorted((e.performer_id, e.status) for e in entries))
            return len(entries) == 2

        await wait_for_async(both_listed, timeout=120, interval=0.1, what="v2 to be listed next to v1")
        release("v2", performers_dir)

        async def deployed() -> bool:  # listing as it goes, until the deploy answers
            await both_listed()
            return deploying.done()

        await wait_for_async(deployed, timeout=240, interval=0.1, what="the deploy of v2 to answer")
        response = await deploying
        switched = len(outcomes)  # and keeps flowing after it: tasks answered once v2 alone serves
        await wait_for_async(lambda: len(outcomes) >= switched + 20, timeout=60, what="traffic on v2")
        stop.set()
        await asyncio.gather(*lanes)
        version_after = (await client.run(VERSION_OP)).output
        after = await client.management.list(AVS)
        return before, version_before, outcomes, during, response, version_after, after

    before, version_before, outcomes, during, response, version_after, after = session(
        executor, aggregator, scenario
    )
    assert [r.output for r in before] == [f"before-{i}".encode() for i in range(5)]
    assert version_before == b"v1"

    # Tasks kept flowing during the switch: none failed, none ran twice, every signature verifies.
    failures = [(s.task_id, o) for s, o in outcomes if not isinstance(o, executor_pb2.TaskResult)]
    assert failures == []
    assert len(outcomes) > 50
    assert len({s.task_id for s, _ in outcomes}) == len(outcomes)
    for submission, result in outcomes:
        aggregator.verify(submission, result)
        assert result.output == json.loads(submission.payload)["data"].encode()

    # While the new performer was staged, both were listed; once it served, the old one no longer was.
    v2_name = response.deployment_id
    assert response.success and NAME_RE.fullmatch(v2_name) and v2_name != v1_name
    staged = sorted([(v1_name, "InService"), (v2_name, "Staged")])
    assert during and all(listing == staged for listing in during), during

    # Afterwards: v2 serves, v1's Performer was deleted after the drain, nothing else exists.
    assert version_after == b"v2"
    assert names(custom, namespace) == [v2_name]
    assert not performer_exists(custom, namespace, v1_name)
    [v2] = list_performers(custom, namespace)
    assert v2["spec"]["image"] == f"{PERFORMER_REPOSITORY}:v2" and v2["status"]["ready"] is True
    [entry] = after
    assert (entry.performer_id, entry.status, entry.avs_address) == (v2_name, "InService", AVS.lower())
    assert (entry.artifact_registry, entry.artifact_tag, entry.artifact_digest) == (
        PERFORMER_REPOSITORY,
        "v2",
        "",
    )
    assert entry.resource_healthy and entry.application_healthy
    assert RFC3339.fullmatch(entry.last_health_check)
    assert entry.container_id == v2["metadata"]["uid"]
    assert set(running(performers_dir)) == {"v1", "v2"}  # two performer processes, one per version
    switched = [e for e in executor.log_entries() if e.get("msg") == "performer in service"]
    assert switched[-1]["replaces"] == v1_name and switched[-1]["performer_id"] == v2_name

    # RemovePerformer takes it out of service and deletes its Performer; tasks are then UNAVAILABLE.
    async def remove(client: Client):
        removed = await client.management.remove(v2_name)
        code = await client.code_of(client.aggregator.submission(echo("nobody")))
        return removed, code, await client.management.list()

    removed, code, listing = session(executor, aggregator, remove)
    assert removed.success
    assert code == "UNAVAILABLE"
    assert listing == []
    assert names(custom, namespace) == []


def test_bad_requests_get_the_contracts_status_codes(
    cluster, custom, namespace, executors, aggregator, tmp_path
):
    executor = start_executor(executors, cluster, namespace, tmp_path)
    performer_names = names(custom, namespace)

    async def scenario(client: Client):
        good = client.aggregator.submission(echo("good"))
        codes = {
            "malformed task id": await client.code_of(with_fields(good, task_id="0x" + "ab" * 31)),
            "task id without 0x": await client.code_of(with_fields(good, task_id="ab" * 33)),
            "wrong executor address": await client.code_of(
                client.aggregator.submission(echo("x"), executor_address=STRANGER.address)
            ),
            "bad aggregator signature": await client.code_of(
                client.aggregator.submission(echo("x"), signer=STRANGER)
            ),
            "AVS not served": await client.code_of(client.aggregator.submission(echo("x"), avs=OTHER_AVS)),
            "good": await client.code_of(good),
            "replayed task id": await client.code_of(good),  # answered again from the store
            "another task under a seen id": await client.code_of(
                client.aggregator.submission(echo("other"), task_id=good.task_id)
            ),
        }
        stub = client.management.stub
        for name, call in (
            ("list without auth", stub.ListPerformers(executor_pb2.ListPerformersRequest(), timeout=10)),
            (
                "deploy without auth",
                stub.DeployArtifact(executor_pb2.DeployArtifactRequest(avs_address=AVS), timeout=10),
            ),
            (
                "remove without auth",
                stub.RemovePerformer(executor_pb2.RemovePerformerRequest(performer_id="x"), timeout=10),
            ),
        ):
            try:
                await call
                codes[name] = "OK"
            except grpc.aio.AioRpcError as error:
                codes[name] = error.code().name
        try:
            await client.management.deploy(avs_address=OTHER_AVS, registry_url=f"{PERFORMER_REPOSITORY}:v9")
            codes["deploy for an unknown AVS"] = "OK"
        except grpc.aio.AioRpcError as error:
            codes["deploy for an unknown AVS"] = error.code().name
        try:
            await client.management.auth(STRANGER.address)
            codes["token for another address"] = "OK"
        except grpc.aio.AioRpcError as error:
            codes["token for another address"] = error.code().name
        return codes

    assert session(executor, aggregator, scenario) == {
        "malformed task id": "INVALID_ARGUMENT",
        "task id without 0x": "INVALID_ARGUMENT",
        "wrong executor address": "PERMISSION_DENIED",
        "bad aggregator signature": "UNAUTHENTICATED",
        "AVS not served": "NOT_FOUND",
        "good": "OK",
        "replayed task id": "OK",
        "another task under a seen id": "ALREADY_EXISTS",
        "list without auth": "UNAUTHENTICATED",
        "deploy without auth": "UNAUTHENTICATED",
        "remove without auth": "UNAUTHENTICATED",
        "deploy for an unknown AVS": "NOT_FOUND",
        "token for another address": "PERMISSION_DENIED",
    }
    assert names(custom, namespace) == performer_names  # nothing was created for the unknown AVS


def test_after_kill_9_a_restarted_executor_adopts_its_performer(
    cluster, custom, namespace, executors, aggregator, tmp_path
):
    config = kubernetes_config(tmp_path, cluster.kubeconfig, namespace)
    first = executors(config)
    first.wait_serving(timeout=150)
    [name] = names(custom, namespace)

    async def before_kill(client: Client):
        submission = client.aggregator.submission(echo("before the crash"))
        result = await client.tasks.SubmitTask(submission, timeout=30)
        client.aggregator.verify(submission, result)
        return submission

    done_before = session(first, aggregator, before_kill)
    first.kill()
    assert names(custom, namespace) == [name]

    started = time.monotonic()
    second = executors(config)
    second.wait_serving(timeout=150)
    restart_took = time.monotonic() - started

    async def after_restart(client: Client):
        result = await client.run(echo("after the restart"))
        replayed = await client.tasks.SubmitTask(done_before, timeout=30)
        client.aggregator.verify(done_before, replayed)
        return result, replayed, await client.management.list()

    result, replayed, listing = session(second, aggregator, after_restart)
    assert result.output == b"after the restart"
    # The SQLite store kept the task and its result across the crash: the retry gets it.
    assert replayed.output == b"before the crash"
    assert [(e.performer_id, e.status) for e in listing] == [(name, "InService")]
    assert names(custom, namespace) == [name]  # adopted: no new Performer, none leaked
    adopted = [e for e in second.log_entries() if e.get("msg") == "adopted performer"]
    assert [e["performer_id"] for e in adopted] == [name]
    assert not [e for e in second.log_entries() if e.get("msg") == "deploying performer"]
    assert restart_took < 30  # no new Performer to wait for

    # A graceful stop keeps the Performer (kubernetes.deletePerformersOnShutdown is false).
    assert second.stop() == 0
    wait_for(lambda: names(custom, namespace) == [name], timeout=5, what="the Performer to stay")
