"""A configuration `validate` accepts runs: the values that used to pass the checks and then fail at
run time (or be silently ignored, or land somewhere else) are refused by `validate` as by `run`, or
now work. The rules of the file itself are in `test_config.py`; what it points to on the machine is in
`test_validate_like_run.py`."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from hourglass_executor import cli
from hourglass_executor.chain import jsonrpc
from hourglass_executor.chain.jsonrpc import BACKOFF_MAX, JsonRpcClient, RpcError
from hourglass_executor.config import validate_config
from hourglass_executor.performers.docker import container_env
from hourglass_executor.performers.kubernetes import access
from hourglass_executor.performers.kubernetes.access import AccessError, check_access
from hourglass_executor.server import startup
from hourglass_executor.server.components import configured_specs
from hourglass_executor.store import StoreError, check_store, open_store
from hourglass_executor.store.sqlite import check_file

from tests.support.aggregator import chain_document
from tests.support.executor_harness import config_data

pytestmark = pytest.mark.unit


def base(tmp_path: Path, **top: Any) -> dict[str, Any]:
    """A configuration with nothing wrong on this machine (docker mode, a static chain file)."""
    chain_file = tmp_path / "chain.json"
    chain_file.write_text(json.dumps(chain_document()))
    return config_data(chain={"type": "static", "file": str(chain_file)}, **top)


# --- chain.retries: the back-off ------------------------------------------------------------------


def test_a_thousand_retries_back_off_at_most_backoff_max_without_overflowing(monkeypatch):
    """2 ** 1024 is beyond a float: the 1025th retry's back-off raised OverflowError."""
    delays: list[float] = []

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    async def refused(requests: Any) -> list[Any]:
        raise jsonrpc._TransportError("connection refused")

    async def scenario() -> str:
        client = JsonRpcClient("http://127.0.0.1:1/", timeout=3600.0, retries=1100, cache_size=1)
        client._post = refused  # type: ignore[method-assign]
        monkeypatch.setattr(jsonrpc.asyncio, "sleep", no_wait)
        try:
            with pytest.raises(RpcError) as caught:
                await client.chain_id()
        finally:
            monkeypatch.undo()
            await client.close()
        return str(caught.value)

    assert asyncio.run(scenario()) == "connection refused (1101 attempts)"
    assert len(delays) == 1100 and delays[:3] == [0.05, 0.1, 0.2] and max(delays) == BACKOFF_MAX


# --- storage: a path starting with ~ --------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "relative"),
    [
        ({"type": "sqlite", "sqlite": {"path": "~/store/executor.sqlite3"}}, "store/executor.sqlite3"),
        ({"type": "badger", "badger": {"dir": "~/badger"}}, "badger/hourglass-executor.sqlite3"),
    ],
    ids=["sqlite.path", "badger.dir"],
)
def test_a_store_path_starting_with_a_tilde_is_in_the_home_directory(
    storage, relative, tmp_path, monkeypatch
):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    config = validate_config(base(tmp_path, storage=storage))
    assert config.storage.sqlite_path() == home / relative
    check_store(config.storage)
    open_store(config.storage).close()
    assert (home / relative).is_file()
    assert list(work.iterdir()) == []  # no ./~ directory


# --- storage: an existing file this process cannot write -------------------------------------------


def _denied(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """os.access as for a user who may not write `denied` (tests run as root, who may)."""
    real = os.access

    def access_(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == denied and mode & os.W_OK:
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr("hourglass_executor.store.sqlite.os.access", access_)


@pytest.mark.parametrize("denied", ["executor.sqlite3", "executor.sqlite3-wal", "executor.sqlite3-shm"])
def test_an_existing_store_file_that_cannot_be_written_is_refused(denied, tmp_path, monkeypatch):
    store = tmp_path / "executor.sqlite3"
    open_store(
        validate_config(base(tmp_path, storage={"type": "sqlite", "sqlite": {"path": str(store)}})).storage
    )
    for name in ("executor.sqlite3-wal", "executor.sqlite3-shm"):
        (tmp_path / name).touch()
    check_file(store)  # writable: accepted
    _denied(monkeypatch, tmp_path / denied)
    with pytest.raises(StoreError) as caught:
        check_file(store)
    assert str(caught.value) == f"{store}: cannot open the store: cannot read and write {tmp_path / denied}"


def test_an_executor_store_of_version_0_with_the_right_tables_is_accepted(tmp_path):
    store = tmp_path / "executor.sqlite3"
    open_store(
        validate_config(base(tmp_path, storage={"type": "sqlite", "sqlite": {"path": str(store)}})).storage
    )
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA user_version = 0")
    db.close()
    check_file(store)


# --- ports: one validate can tell run may not use ----------------------------------------------


def test_validate_reports_a_port_that_needs_privileges_in_runs_words(tmp_path, monkeypatch):
    """Tests run as root, who may bind port 443: the probe's answer is given here."""
    problems = {
        443: OSError(errno.EACCES, os.strerror(errno.EACCES)),
        9443: OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE)),
    }
    probed: list[tuple[str, int]] = []

    def probe(host: str, port: int) -> OSError | None:
        probed.append((host, port))
        return problems.get(port)

    monkeypatch.setattr(startup, "bind_problem", probe)
    config = validate_config(base(tmp_path, grpcPort=443, managementServerGrpcPort=9443, metricsPort=9092))
    assert asyncio.run(startup.check(config)) == [
        "grpcPort: cannot listen on [::]:443: Permission denied (ports below 1024 need privileges; "
        "choose a port of 1024 or above)"
    ]
    assert probed == [("[::]", 443), ("[::]", 9443), ("[::]", 9092)]


def test_a_port_in_use_now_is_not_a_problem_of_the_configuration(tmp_path):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.bind(("::", 0))
        taken.listen()
        config = validate_config(base(tmp_path, grpcPort=taken.getsockname()[1]))
        assert asyncio.run(startup.check(config)) == []


def _privileged_ports_need_privileges() -> bool:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    return os.geteuid() != 0 and start > 443


@pytest.mark.skipif(not _privileged_ports_need_privileges(), reason="this process may bind port 443")
def test_validate_refuses_a_privileged_port_as_run_does(tmp_path, capsys):
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(base(tmp_path, grpcPort=443), sort_keys=False))
    assert cli.main(["validate", "--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines()[1].startswith("grpcPort: cannot listen on [::]:443: ")


# --- kubernetes mode: the variables the executor sets ---------------------------------------------


def test_docker_mode_passes_grpc_port_and_avs_address_as_given(tmp_path):
    """The Docker backend sets no variable of its own: the performer gets these as configured."""
    data = base(tmp_path)
    data["avsPerformers"][0]["envs"] = [
        {"name": "GRPC_PORT", "value": "8080"},
        {"name": "AVS_ADDRESS", "value": data["avsPerformers"][0]["avsAddress"]},
    ]
    config = validate_config(data)
    [spec] = configured_specs(config, {}).values()
    assert spec is not None
    assert container_env(spec.env) == [
        "GRPC_PORT=8080",
        f"AVS_ADDRESS={data['avsPerformers'][0]['avsAddress']}",
    ]


# --- the Kubernetes API server: why it cannot be reached -------------------------------------------


class _Discovery:
    """CustomObjectsApi's discovery: raises `error`, or serves the Performer resource."""

    error: BaseException | None = None

    def __init__(self, api: Any) -> None:
        pass

    async def get_api_resources(self, *args: Any, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        body = json.dumps({"resources": [{"name": "performers"}]}).encode()

        async def read() -> bytes:
            return body

        return SimpleNamespace(status=200, read=read, release=lambda: None, reason="OK")


class _Authorization:
    def __init__(self, api: Any) -> None:
        pass

    async def create_self_subject_access_review(self, *args: Any, **kwargs: Any) -> Any:
        raise TimeoutError


@pytest.mark.parametrize(
    ("discovery_error", "reason"),
    [
        (TimeoutError(), "no answer within kubernetes.connectionTimeout (0.25s)"),
        (ConnectionResetError(), "ConnectionResetError"),
        (None, "no answer within kubernetes.connectionTimeout (0.25s)"),  # the access reviews time out
    ],
    ids=["discovery-times-out", "error-without-a-message", "access-review-times-out"],
)
def test_an_unreachable_api_server_is_named_with_a_reason(discovery_error, reason, tmp_path, monkeypatch):
    monkeypatch.setattr(_Discovery, "error", discovery_error)
    monkeypatch.setattr(access, "CustomObjectsApi", _Discovery)
    monkeypatch.setattr(access, "AuthorizationV1Api", _Authorization)
    api = SimpleNamespace(configuration=SimpleNamespace(host="https://10.0.0.1:6443"))
    config = validate_config({**base(tmp_path), "kubernetes": {"namespace": "avs"}}).kubernetes
    assert config is not None

    async def scenario() -> str:
        with pytest.raises(AccessError) as caught:
            await check_access(api, config, 0.25)  # type: ignore[arg-type]
        return str(caught.value)

    assert asyncio.run(scenario()) == f"cannot reach the API server at https://10.0.0.1:6443: {reason}"
