"""The running executor: graceful stop (in-flight tasks finish within the grace, new calls are
refused), pruning the store, health NOT_SERVING until the pool started, one or two servers,
SIGTERM, start-up errors that name the configuration key, and the JSON log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.config import validate_config
from hourglass_executor.logs import JsonLinesFormatter
from hourglass_executor.server import app, components
from hourglass_executor.server.app import MANAGEMENT_SERVICE, TASK_SERVICE, Executor
from hourglass_executor.server.components import StartupError
from hourglass_executor.server.task_service import TaskService
from hourglass_executor.store import Outcome
from hourglass_executor.store.group_commit import WriterClosedError
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import AVS, TestAggregator, chain_document
from tests.support.clock import ManualClock
from tests.support.executor_harness import (
    config_data,
    executor_config,
    running_executor,
    static_chain,
    task_stub,
)
from tests.support.local_backend import LocalBackend
from tests.support.ports import free_port
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.unit

AGGREGATOR = TestAggregator(static_chain())
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def sleep_task(ms: int, data: str = "") -> executor_pb2.TaskSubmission:
    return AGGREGATOR.submission(json.dumps({"op": "sleep", "ms": ms, "data": data}).encode())


async def health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return (await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)).status


def test_stop_lets_an_in_flight_task_finish_and_refuses_new_ones():
    slow = sleep_task(600, "finished")

    async def scenario():
        backend = LocalBackend()
        async with running_executor(executor_config(shutdownTimeout="5s"), backend) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                in_flight = asyncio.ensure_future(stub.SubmitTask(slow, timeout=5))
                await wait_for_async(lambda: backend.tasks_started(), timeout=5, what="the task to run")
                loop = asyncio.get_running_loop()
                began = loop.time()
                stopping = asyncio.create_task(executor.stop())

                async def refused() -> grpc.StatusCode | None:
                    """A new task's answer once the stop refuses it. One sent before just runs; one
                    that races the start of the stop may be CANCELLED by gRPC: try another."""
                    try:
                        await stub.SubmitTask(sleep_task(0), timeout=2)
                    except grpc.aio.AioRpcError as error:
                        return None if error.code() is grpc.StatusCode.CANCELLED else error.code()
                    return None

                code = await wait_for_async(refused, timeout=2, what="a new task to be refused")
                result = await in_flight
                await stopping
                return result, code, loop.time() - began

    result, refused, stop_took = asyncio.run(scenario())
    AGGREGATOR.verify(slow, result)
    assert result.output == b"finished"
    assert refused is grpc.StatusCode.UNAVAILABLE
    assert 0.3 < stop_took < 3


def test_stop_cancels_tasks_still_running_after_the_grace_and_records_them_interrupted():
    slow = sleep_task(5000)
    store = MemoryStore()

    async def scenario():
        backend, config = LocalBackend(), executor_config(shutdownTimeout="200ms")
        async with running_executor(config, backend, store=store) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                in_flight = asyncio.ensure_future(stub.SubmitTask(slow, timeout=10))
                await wait_for_async(lambda: backend.tasks_started(), timeout=5, what="the task to run")
                loop = asyncio.get_running_loop()
                began = loop.time()
                await executor.stop()
                took = loop.time() - began
                with pytest.raises(grpc.aio.AioRpcError) as cancelled:
                    await in_flight
                return took, cancelled.value.code()

    took, code = asyncio.run(scenario())
    assert took < 2
    assert code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert store.task_status(slow.task_id) == "interrupted"  # a retry gets DATA_LOSS


class SlowClaimStore(MemoryStore):
    """A memory store whose claims are committed once `commit` is set or the store closes (as the
    SQLite store's close commits the writes queued before it); a write made after `close` fails, as
    the SQLite store's does. `events` tells what happened, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.claiming = asyncio.Event()
        self.commit = asyncio.Event()
        self.events: list[str] = []

    async def claim_task_async(self, task_id: str, avs: str, fingerprint: bytes | None = None) -> bool:
        self._check_open("claim")
        self.claiming.set()
        await self.commit.wait()
        self.events.append("claimed")
        return self.claim_task(task_id, avs, fingerprint)

    async def release_task_async(self, task_id: str) -> bool:
        self._check_open("release")
        self.events.append("released")
        return self.release_task(task_id)

    async def complete_task_async(self, task_id: str, status: Outcome, **fields: Any) -> bool:
        self._check_open(status)
        self.events.append(status)
        return self.complete_task(task_id, status, **fields)

    def close(self) -> None:
        self.events.append("closed")
        self.commit.set()

    def _check_open(self, write: str) -> None:
        if "closed" in self.events:
            self.events.append(f"{write} refused")
            raise WriterClosedError("the store is closed")


def test_stop_closes_the_store_once_a_task_cancelled_while_claiming_gave_its_claim_back(monkeypatch):
    """The grace ends while the task's claim is being written: the handler is cancelled, and its
    clean-up gives the claim back once the write is done (the task never reached a performer).
    `server.stop` returns before that clean-up ran; the store must not close before it (a claim
    left 'claimed' answers DATA_LOSS to every retry after a restart)."""
    task = sleep_task(0)
    settling = asyncio.Event()
    settled = TaskService.settled

    async def watched_settled(self: TaskService) -> None:
        settling.set()
        await settled(self)

    monkeypatch.setattr(TaskService, "settled", watched_settled)

    async def scenario():
        store = SlowClaimStore()
        backend = LocalBackend()
        config = executor_config(shutdownTimeout="100ms")
        async with running_executor(config, backend, store=store) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                in_flight = asyncio.ensure_future(stub.SubmitTask(task, timeout=10))
                await asyncio.wait_for(store.claiming.wait(), 5)
                stopping = asyncio.create_task(executor.stop())
                # The claim is committed once the stop waits for the cancelled tasks (or, without
                # that wait, when the stop closes the store).
                waiting = asyncio.create_task(settling.wait())
                await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                store.commit.set()
                await asyncio.wait_for(stopping, 10)
                with pytest.raises(grpc.aio.AioRpcError) as cut:
                    await in_flight
                await wait_for_async(
                    lambda: {"released", "release refused"} & set(store.events),
                    timeout=5,
                    what="the clean-up to give the claim back",
                )
        return cut.value.code(), store.events, store.task_status(task.task_id), backend.tasks_started()

    code, events, status, started = asyncio.run(scenario())
    assert code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert started == []
    assert events == ["claimed", "released", "closed"]
    assert status is None  # given back: a retry runs the task


def test_task_ids_older_than_the_retention_are_pruned_at_start_and_then_regularly(monkeypatch):
    clock = ManualClock()
    store = MemoryStore(retention=3600, clock=clock)
    for index in range(2500):  # more than one batch
        store.claim_task(f"old-{index}", AVS)
    clock.now += 3600.5
    store.claim_task("recent", AVS)
    monkeypatch.setattr(app, "PRUNE_INTERVAL", 0.05)

    async def until_forgotten(task_id: str) -> None:
        await wait_for_async(lambda: store.task_status(task_id) is None, what=f"{task_id} to be pruned")

    async def scenario():
        async with running_executor(executor_config(), store=store):
            await until_forgotten("old-2499")  # the prune at start
            at_start = (
                [store.task_status(f"old-{index}") for index in range(2500)],
                store.task_status("recent"),
            )
            clock.now += 3601
            await until_forgotten("recent")  # a later prune
            return at_start

    old, recent = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert set(old) == {None} and recent == "claimed"


def test_health_is_not_serving_until_the_pool_started_and_while_stopping():
    async def scenario():
        backend = LocalBackend(ready_gate=asyncio.Event())  # the pool's performer waits for the test
        executor = Executor(
            executor_config(),
            backend=backend,
            chain=static_chain(),
            store=MemoryStore(),
            host="127.0.0.1",
        )
        await executor.start_servers()
        port = executor.task_port
        starting = asyncio.create_task(executor.start_pool())
        # The pool is starting: its performer exists and is not ready until the gate opens.
        await wait_for_async(lambda: backend.performers, timeout=5, what="the pool to create its performer")
        before = [
            await health(port),
            await health(port, TASK_SERVICE),
            await health(port, MANAGEMENT_SERVICE),
        ]
        assert not starting.done()
        backend.ready_gate.set()
        await starting
        after = [await health(port), await health(port, TASK_SERVICE), await health(port, MANAGEMENT_SERVICE)]
        await executor.stop()
        await backend.destroy()
        return before, after

    before, after = asyncio.run(scenario())
    assert before == [NOT_SERVING] * 3
    assert after == [SERVING] * 3


def test_the_management_service_gets_its_own_server_when_its_port_differs():
    async def scenario():
        config = executor_config(managementServerGrpcPort=free_port())
        async with running_executor(config) as executor:
            assert executor.task_port != executor.management_port
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{executor.task_port}") as task_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{executor.management_port}") as management_channel,
            ):
                wrong_place = executor_pb2_grpc.ExecutorManagementServiceStub(task_channel)
                with pytest.raises(grpc.aio.AioRpcError) as missing:
                    await wrong_place.ListPerformers(executor_pb2.ListPerformersRequest(), timeout=2)
                right_place = executor_pb2_grpc.ExecutorManagementServiceStub(management_channel)
                listed = await right_place.ListPerformers(executor_pb2.ListPerformersRequest(), timeout=2)
                return missing.value.code(), len(listed.performers), await health(executor.management_port)

    assert asyncio.run(scenario()) == (grpc.StatusCode.UNIMPLEMENTED, 1, SERVING)


@pytest.mark.parametrize(
    ("authentication", "host", "warned"),
    [(False, "0.0.0.0", True), (False, "[::]", True), (True, "0.0.0.0", False), (False, "127.0.0.1", False)],
)
def test_a_management_api_without_authentication_open_beyond_this_machine_is_warned_of(
    caplog: pytest.LogCaptureFixture, authentication: bool, host: str, warned: bool
):
    async def scenario():
        config = executor_config(authentication={"enabled": authentication})
        executor = Executor(
            config, backend=LocalBackend(), chain=static_chain(), store=MemoryStore(), host=host
        )
        try:
            await executor.start_servers()
        finally:
            await executor.stop()

    with caplog.at_level(logging.WARNING, logger="hourglass_executor.server.app"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if "the management API has no authentication" in r.getMessage()]
    assert len(warnings) == warned


def test_serve_stops_gracefully_on_sigterm():
    async def scenario():
        backend = LocalBackend()
        executor = Executor(
            executor_config(), backend=backend, chain=static_chain(), store=MemoryStore(), host="127.0.0.1"
        )
        serving = asyncio.create_task(executor.serve())

        async def serving_now() -> bool:
            return bool(executor._servers) and await health(executor.task_port) == SERVING

        await wait_for_async(serving_now, timeout=4, interval=0.02, what="the executor to serve")
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            return await asyncio.wait_for(serving, 10)
        finally:
            await backend.destroy()

    assert asyncio.run(scenario()) == 0


# --- start-up errors -------------------------------------------------------------------------


def start_error(data: dict, environ: dict | None = None, **parts) -> str:
    async def scenario():
        executor = Executor(validate_config(data), environ=environ or {}, host="127.0.0.1", **parts)
        try:
            with pytest.raises(StartupError) as failed:
                await executor.start()
        finally:
            await executor.stop()
        return str(failed.value)

    return asyncio.run(scenario())


def test_the_rpc_chain_reader_is_built_from_the_network_defaults_and_the_explicit_contracts():
    from hourglass_executor.chain.networks import DEFAULT_CONTRACTS
    from hourglass_executor.chain.rpc import RpcChainReader

    task_mailbox = "0x" + "7a" * 20
    config = validate_config(
        config_data(chain={"contracts": {"taskMailbox": task_mailbox}, "timeout": "2s", "retries": 1})
    )
    reader = components.build_chain(config)
    assert isinstance(reader, RpcChainReader)
    assert reader._task_mailbox == task_mailbox
    assert reader._key_registrar == DEFAULT_CONTRACTS[31337]["keyRegistrar"].lower()
    assert (reader._rpc._timeout, reader._rpc._retries) == (2.0, 1)
    asyncio.run(reader.close())


def test_static_chain_file_problems_name_the_key(tmp_path):
    missing = tmp_path / "missing.yaml"
    assert start_error(config_data(chain={"type": "static", "file": str(missing)})) == (
        f"chain.file: cannot read {missing}: No such file or directory"
    )
    other_chain = tmp_path / "chain.yaml"
    other_chain.write_text(json.dumps({**chain_document(), "chainId": 1}))
    assert start_error(config_data(chain={"type": "static", "file": str(other_chain)})) == (
        "chain.file: chainId 1 differs from l1Chain.chainId 31337"
    )


def test_a_remote_signer_is_not_implemented_yet_and_a_missing_keystore_names_its_key():
    remote = config_data()
    remote["operator"]["signingKeys"] = {
        "ecdsa": {
            "remoteSigner": True,
            "remoteSignerConfig": {"url": "https://signer.example", "fromAddress": AVS, "publicKey": "0x04"},
        }
    }
    assert start_error(remote, chain=static_chain()) == (
        "operator.signingKeys.ecdsa.remoteSigner: remote signers are not implemented yet; "
        "configure privateKey or a keystore"
    )
    bls_only = config_data()
    bls_only["operator"]["signingKeys"] = {"bls": {"keystoreFile": "/keys/bls.json"}}
    assert start_error(bls_only, chain=static_chain()) == (
        "operator.signingKeys.bls.keystoreFile: cannot read /keys/bls.json: No such file or directory"
    )


def test_a_missing_value_from_env_and_a_port_in_use_stop_the_start():
    data = config_data()
    data["avsPerformers"][0]["envs"] = [{"name": "TOKEN", "valueFromEnv": "EXECUTOR_TOKEN"}]
    assert start_error(data, chain=static_chain(), backend=LocalBackend()) == (
        "avsPerformers[0].envs[0].valueFromEnv: EXECUTOR_TOKEN is not set in the executor's environment"
    )

    async def scenario():
        async with running_executor(executor_config()) as running:
            data = config_data(grpcPort=running.task_port)
            message = await asyncio.to_thread(start_error, data, chain=static_chain(), backend=LocalBackend())
            return running.task_port, message

    port, message = asyncio.run(scenario())
    assert message == (
        f"grpcPort: cannot listen on 127.0.0.1:{port}: Address already in use (another process listens "
        "there; stop it or choose another port)"
    )


def test_endpoint_resolver_and_kubeconfig_problems_name_the_key(tmp_path):
    data = config_data()
    data["avsPerformers"][0]["deploymentMode"] = "kubernetes"
    data["kubernetes"] = {
        "namespace": "avs",
        "kubeConfigPath": str(tmp_path / "kubeconfig"),
        "endpointResolver": "no_such_module.anywhere:resolve",
    }
    config = validate_config(data)
    with pytest.raises(
        StartupError, match=r"kubernetes\.endpointResolver: cannot import no_such_module\.anywhere"
    ):
        components.build_backend(config)
    data["kubernetes"]["endpointResolver"] = "json:no_such_function"
    with pytest.raises(
        StartupError, match=r"kubernetes\.endpointResolver: json has no callable no_such_function"
    ):
        components.build_backend(validate_config(data))
    del data["kubernetes"]["endpointResolver"]
    with pytest.raises(StartupError, match="kubernetes: cannot create the Kubernetes client"):
        components.build_backend(validate_config(data))
    resolver = components.load_resolver("tests.support.local_performers:resolve")
    assert callable(resolver)


# --- logs ------------------------------------------------------------------------------------


def test_log_lines_are_json_with_the_extra_fields():
    record = logging.LogRecord("hourglass_executor.x", logging.WARNING, __file__, 1, "task refused", (), None)
    record.task_id = "0x" + "ab" * 32
    record.code = "INTERNAL"
    line = json.loads(JsonLinesFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "hourglass_executor.x"
    assert line["msg"] == "task refused" and line["code"] == "INTERNAL"
    assert line["task_id"] == record.task_id
    assert line["time"].endswith("+00:00")
