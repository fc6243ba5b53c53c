"""The warm Ansible server's life as the runner sees it: a server that died is started again for the
next run (a run is not left to go cold for the rest of the operator's life), its socket is the
operator's alone (whoever can connect runs playbooks with the operator's credentials), it ends when
the operator does, a request larger than one read (a big environment: a pod's service links in a
namespace of many Services) is read whole, a client's exit code says which signal ended a run as a
shell would, and a run that differs from the adopted configuration only
in its per-run entries (its artifact and cache directories, its API connection file) runs warm, in
its client's working directory."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hourglass_operator import runner, warm_ansible_client
from hourglass_operator.warm_ansible import HEADER, SOCKET_ENV, receive_request
from tests.support.paths import REPO
from tests.support.waiting import wait_for
from tests.unit.test_warm_ansible import CLIENT, ENVIRONMENT, _state, finished, server  # noqa: F401

pytestmark = pytest.mark.unit

# What differs from run to run: ansible-runner's artifact and fact-cache directories, the run's API
# connection file (runner.py).
PER_RUN_ENTRIES = ("AWX_ISOLATED_DATA_DIR", "ANSIBLE_CACHE_PLUGIN_CONNECTION", "HOURGLASS_KUBE_CONNECTION")
# What the run's process (a fork of the warm server, or a cold ansible-playbook) was started as.
WHO_RUNS = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "run by {{ lookup('file', '/proc/self/cmdline') | replace('\\u0000', ' ') }}"
"""


def _run(tmp_path: Path, socket_path: str, **env: str) -> tuple[int, str]:
    playbook = tmp_path / "who.yml"
    playbook.write_text(WHO_RUNS)
    environment = {**ENVIRONMENT, **env, SOCKET_ENV: socket_path}
    # By a path relative to the client's working directory, which the run must have too.
    process = subprocess.Popen([*CLIENT, playbook.name], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    return finished(process)


def test_a_warm_server_that_died_is_started_again_for_the_next_run(tmp_path: Path):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=True)
    try:
        _client, socket_path = batch_runner._warm_command()
        first = batch_runner._warm_server
        assert first is not None
        first.kill()
        first.wait(10)
        _client, again = batch_runner._warm_command()
        second = batch_runner._warm_server
        assert second is not None and second is not first and second.poll() is None
        assert again == socket_path and Path(socket_path).is_socket()
    finally:
        batch_runner.close()


def test_the_warm_servers_socket_is_the_operators_alone(tmp_path: Path):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=True)
    try:
        _client, socket_path = batch_runner._warm_command()
        assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(Path(socket_path).parent).st_mode) == 0o700
    finally:
        batch_runner.close()


def test_the_warm_server_ends_when_the_operator_does(tmp_path: Path):
    """An operator killed outright (SIGKILL, OOM) leaves no server behind serving nobody."""
    socket_path = str(tmp_path / "s")
    operator = subprocess.Popen(
        [sys.executable, "-c", "import signal, subprocess, sys\n"
         "server = subprocess.Popen([sys.executable, '-m', 'hourglass_operator.warm_ansible', sys.argv[1]])\n"
         "print(server.pid, flush=True)\nsignal.pause()  # until the test kills it\n", socket_path],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    server_pid = int(operator.stdout.readline())
    try:
        wait_for(lambda: os.path.exists(socket_path), what="the warm server's socket", timeout=30)
        operator.kill()
        operator.wait(10)
        wait_for(lambda: _state(server_pid) in ("", "Z"), what="the warm server to end", timeout=30)
    finally:
        operator.kill()
        operator.wait(10)
        operator.stdout.close()
        with contextlib.suppress(ProcessLookupError):
            if _state(server_pid) not in ("", "Z"):
                os.kill(server_pid, signal.SIGKILL)


def test_a_request_larger_than_one_read_is_read_whole(tmp_path: Path, server):  # noqa: F811
    big = {f"BIG_{i}": "x" * 100_000 for i in range(12)}  # 1.2 MB: more than a socket buffer holds
    code, output = _run(tmp_path, server, **big)
    assert code == 0, output
    assert "run by " in output and "hourglass_operator.warm_ansible" in output, output


def test_a_run_differing_only_in_its_per_run_entries_runs_warm(tmp_path: Path, server):  # noqa: F811
    for run in ("first", "second"):  # the first one's configuration is the one the server adopts
        code, output = _run(
            tmp_path, server, **{name: str(tmp_path / run / name) for name in PER_RUN_ENTRIES}
        )
        assert code == 0, output
        assert "hourglass_operator.warm_ansible" in output, f"the {run} run ran cold:\n{output}"


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the client, a process of its own, exits at once
def test_a_run_ended_by_a_signal_exits_as_a_shell_reports_it(tmp_path: Path, monkeypatch):
    """128 + the signal (137 for SIGKILL, the OOM killer's), the code ansible-runner then reports."""
    socket_path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)

    accepted: list[socket.socket] = []

    def answer() -> None:  # as the server answers once the run ended (the connection stays open)
        conn, _ = listener.accept()
        accepted.append(conn)
        conn.recv(1 << 20)
        conn.sendall(b'{"exit": -9}\n')

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    try:
        assert warm_ansible_client.main(["play.yml"]) == 137
    finally:
        thread.join(10)
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.mark.parametrize(
    "sent",
    [b"\0", HEADER.pack(1000) + b'{"argv": ', HEADER.pack(5) + b"nojs"],
    ids=["short", "cut-short", "not-json"],
)
def test_a_request_that_cannot_be_read_gives_back_the_clients_descriptors(sent: bytes):
    """A client killed mid-send: the server closes the stdout it was handed, so whoever reads the
    client's output sees its end instead of a pipe the long-lived server holds open for ever."""
    read_end, write_end = os.pipe()
    server_side, client_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        socket.send_fds(client_side, [sent], [write_end] * 3)
        client_side.close()
        os.close(write_end)  # the client's own copy: only those handed to the server are left
        with pytest.raises(ValueError):
            receive_request(server_side)
        # Nothing was written: readable now means every copy of the write end is closed (its end).
        assert select.select([read_end], [], [], 0)[0] == [read_end]
        assert os.read(read_end, 1) == b""
    finally:
        server_side.close()
        os.close(read_end)
