"""The example echo/keccak256 performer: results, known keccak256 vectors, rejected payloads, its
command line, and one task end to end through PerformerClient."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from hourglass_executor.examples import echo_performer
from hourglass_executor.examples.echo_performer import EchoWorker
from hourglass_executor.performers.client import PerformerCallError, PerformerClient
from hourglass_executor.sdk import PerformerServer, TaskRejected

TASK_ID = b"0x" + b"ef" * 32
KECCAK_EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
KECCAK_ABC = "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


def run_task(payload: dict | bytes) -> bytes:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    worker = EchoWorker()
    asyncio.run(worker.validate_task(TASK_ID, raw))
    return asyncio.run(worker.handle_task(TASK_ID, raw))


def test_echo_returns_the_data():
    assert run_task({"op": "echo", "data": "héllo"}) == "héllo".encode()
    assert run_task({"op": "echo"}) == b""


@pytest.mark.parametrize(("data", "digest"), [("", KECCAK_EMPTY), ("abc", KECCAK_ABC)])
def test_keccak256_known_vectors(data, digest):
    assert run_task({"op": "keccak256", "data": data}).hex() == digest


def test_version_reports_the_version_environment_variable(monkeypatch):
    monkeypatch.setenv("VERSION", "v2")
    assert run_task({"op": "version"}) == b"v2"
    monkeypatch.delenv("VERSION")
    assert run_task({"op": "version"}) == b""


def test_a_task_log_records_each_task_that_ran_not_the_rejected_ones(tmp_path):
    log = tmp_path / "tasks.log"
    worker = EchoWorker(str(log))
    good = json.dumps({"op": "echo", "data": "x"}).encode()
    asyncio.run(worker.handle_task(TASK_ID, good))
    asyncio.run(worker.handle_task(b"0x" + b"01" * 32, good))
    with pytest.raises(TaskRejected):
        asyncio.run(worker.handle_task(b"0x" + b"02" * 32, b"not json"))
    assert log.read_bytes().splitlines() == [TASK_ID, b"0x" + b"01" * 32]


def test_sleep_waits_then_echoes():
    assert run_task({"op": "sleep", "data": "late", "ms": 20}) == b"late"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty payload"),
        (b"\xff\xfe", "not JSON"),
        (b"echo this", "not JSON"),
        (b'["echo"]', "JSON object"),
        (b'{"data": "x"}', "op must be"),
        (b'{"op": "sha256", "data": "x"}', "op must be"),
        (b'{"op": "echo", "data": 5}', "data must be"),
        (b'{"op": "sleep", "data": "x"}', "ms must be"),
        (b'{"op": "sleep", "ms": -1}', "ms must be"),
        (b'{"op": "sleep", "ms": 60001}', "ms must be"),
        (b'{"op": "sleep", "ms": 1.5}', "ms must be"),
        (b'{"op": "sleep", "ms": true}', "ms must be"),
    ],
)
def test_bad_payloads_are_rejected(payload, reason):
    with pytest.raises(TaskRejected, match=reason):
        asyncio.run(EchoWorker().validate_task(TASK_ID, payload))


def test_port_comes_from_the_flag_then_grpc_port_then_8080(monkeypatch):
    calls = []
    monkeypatch.setattr(echo_performer, "run", lambda worker, port, host: calls.append((port, host)))
    monkeypatch.delenv("GRPC_PORT", raising=False)
    echo_performer.main([])
    monkeypatch.setenv("GRPC_PORT", "9191")
    echo_performer.main([])
    echo_performer.main(["--port", "7000", "--host", "127.0.0.1"])
    assert calls == [(8080, "0.0.0.0"), (9191, "0.0.0.0"), (7000, "127.0.0.1")]


def test_end_to_end_through_the_executor_client():
    async def scenario():
        server = PerformerServer(EchoWorker(), 0, "127.0.0.1")
        await server.start()
        try:
            async with PerformerClient(f"127.0.0.1:{server.bound_port}") as client:
                digest = await client.execute_task(TASK_ID, b'{"op": "keccak256", "data": "abc"}', timeout=1)
                with pytest.raises(PerformerCallError) as rejected:
                    await client.execute_task(TASK_ID, b"", timeout=1)
        finally:
            await server.stop(0)
        return digest, rejected.value

    digest, rejected = asyncio.run(scenario())
    assert digest.hex() == KECCAK_ABC
    assert (rejected.code, rejected.message) == (grpc.StatusCode.INVALID_ARGUMENT, "empty payload")
