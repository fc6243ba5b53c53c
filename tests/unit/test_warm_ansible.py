"""The warm Ansible (hourglass_operator/warm_ansible.py and its client): real ansible-playbook runs
forked from a real warm server (preloading this collection, as the operator's does), checked for what
ansible-runner relies on: the exit code and output of the run, a configuration that differs from the
one Ansible was imported with (a cold run then), a run whose client is killed (the run dies with it,
its task's command included), a run the server cannot fork (that run fails, the server goes on), and
no server at all (a cold run); and what the server preloads."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hourglass_operator.warm_ansible import FINDER_CONFIGURED, SOCKET_ENV
from tests.support.paths import REPO
from tests.support.waiting import wait_for

pytestmark = pytest.mark.unit

CLIENT = [sys.executable, "-m", "hourglass_operator.warm_ansible_client", "-i", "localhost,"]
ENVIRONMENT = {
    **os.environ,
    "ANSIBLE_LOCALHOST_WARNING": "false",
    "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
}
PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ greeting | default('hello') }}"
    - ansible.builtin.fail:
        msg: asked to fail
      when: fail | default(false) | bool
"""


SERVERS: dict[str, int] = {}  # socket path -> process id


@pytest.fixture
def server(tmp_path):
    socket_path = str(tmp_path / "s")
    command = [sys.executable, "-m", "hourglass_operator.warm_ansible", socket_path, "hourglass.operator"]
    process = subprocess.Popen(command)
    SERVERS[socket_path] = process.pid
    wait_for(lambda: os.path.exists(socket_path), what="the warm server's socket", timeout=30)
    yield socket_path
    process.terminate()
    process.wait(10)


def server_process_id(socket_path: str) -> int:
    return SERVERS[socket_path]


def children_of(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def client(tmp_path: Path, socket_path: str | None, *args: str, **env: str) -> subprocess.Popen:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    environment = {**ENVIRONMENT, **env}
    environment.pop(SOCKET_ENV, None)
    if socket_path:
        environment[SOCKET_ENV] = socket_path
    command = [*CLIENT, *args, str(playbook)]
    output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    return subprocess.Popen(command, cwd=tmp_path, env=environment, **output)


def finished(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


def test_a_warm_run_has_the_exit_code_and_output_of_the_playbook(tmp_path, server):
    code, output = finished(client(tmp_path, server, "-e", "greeting=warm-hello"))
    assert code == 0 and "warm-hello" in output
    assert FINDER_CONFIGURED not in output  # the run's own loader set-up finds the preloaded one quietly
    code, output = finished(client(tmp_path, server, "-e", "fail=true"))
    assert code == 2 and "asked to fail" in output


PRELOAD_CHECK = """
import json
import sys
from ansible.plugins.loader import MODULE_CACHE
from hourglass_operator.warm_ansible import preload

preload(["hourglass.operator"])
print(json.dumps(sorted(name for name, cached in MODULE_CACHE.items() if cached)))
print("ansible_collections.hourglass.operator.plugins.action.performer_apply" in sys.modules)
print("ansible_collections.hourglass.operator.plugins.filter.performer_render" in sys.modules)
print("ansible_collections.hourglass.operator.plugins.modules.performer_apply" in sys.modules)
from ansible_collections.hourglass.operator.plugins.module_utils import performer_render
environment = performer_render._environment(str(performer_render.TEMPLATES))
print(json.dumps(sorted(name for _, name in environment.cache.keys())))
from ansible import constants
defined = constants.config.has_configuration_definition
print(json.dumps([defined("callback", name) for name in ("default", "minimal")]))
print(any("awx_display" in name for name in sys.modules))
"""


def test_the_server_preloads_what_every_run_loads_and_the_role_templates_but_no_module():
    import ansible_runner

    runner_callbacks = Path(ansible_runner.__file__).parent / "display_callback" / "callback"
    env = {  # as ansible-runner configures a run
        **ENVIRONMENT,
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "ANSIBLE_CALLBACK_PLUGINS": str(runner_callbacks),
    }
    ran = subprocess.run([sys.executable, "-c", PRELOAD_CHECK], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    cached, action, filter_, module, templates, callback_settings, runners_callback = ran.stdout.splitlines()
    loaded = {"ActionModule", "CallbackModule", "Connection", "InventoryModule", "StrategyModule"}
    assert loaded <= set(json.loads(cached))
    # The built-in callbacks with their settings; not ansible-runner's, which reads the run's directory.
    assert json.loads(callback_settings) == [True, True] and runners_callback == "False"
    assert (action, filter_, module) == ("True", "True", "False")
    role_templates = REPO / "roles" / "performer" / "templates"
    compiled = sorted(str(path.relative_to(role_templates)) for path in role_templates.rglob("*.j2"))
    assert json.loads(templates) == compiled


def test_a_run_configured_differently_from_the_warm_import_runs_cold_with_its_configuration(tmp_path, server):
    assert finished(client(tmp_path, server))[0] == 0  # the server imports Ansible with this configuration
    code, output = finished(client(tmp_path, server, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal"))
    assert code == 0 and "localhost | SUCCESS =>" in output  # the minimal callback's format, not the default
    assert "TASK [" not in output


def test_killing_the_client_kills_its_run(tmp_path, server):
    """As ansible-runner cancelling a run kills ansible-playbook: the forked run dies with its client,
    with every process it started (the task's command, under a worker in a session of its own)."""
    server_pid = server_process_id(server)
    marker = f"{uuid.uuid4().int % 1000}.{os.getpid()}"
    sleep_task = f"    - ansible.builtin.command: sleep {marker}\n"
    playbook = tmp_path / "sleep.yml"
    playbook.write_text(
        PLAY.replace("    - ansible.builtin.fail:", sleep_task + "    - ansible.builtin.fail:")
    )

    def sleeping() -> list[str]:
        return [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).endswith(f"sleep {marker}")]

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen(
        [*CLIENT, str(playbook)], cwd=tmp_path, env={**ENVIRONMENT, SOCKET_ENV: server}, **quiet
    )
    try:
        wait_for(sleeping, what="the run's module to start its command", timeout=120)
        [run] = children_of(server_pid)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        wait_for(
            lambda: not Path(f"/proc/{run}").exists() or _state(run) == "Z", what="the run to die", timeout=30
        )
        wait_for(lambda: not children_of(server_pid), what="the server to reap the run", timeout=30)
        wait_for(
            lambda: not [p for p in sleeping() if _state(int(p)) not in "ZX"],
            what="the task's command to die",
        )
    finally:
        for pid in sleeping():  # only if the test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


FAILING_FORK = """
import os
import sys

from hourglass_operator import warm_ansible

fork, failed = os.fork, []


def fork_failing_once():
    if not failed:
        failed.append(True)
        raise BlockingIOError(11, "Resource temporarily unavailable")
    return fork()


os.fork = fork_failing_once
sys.exit(warm_ansible.main(sys.argv[1:]))
"""


def test_a_run_the_server_cannot_fork_fails_and_the_server_serves_the_next(tmp_path):
    socket_path = str(tmp_path / "s")
    process = subprocess.Popen([sys.executable, "-c", FAILING_FORK, socket_path])
    try:
        wait_for(lambda: os.path.exists(socket_path), what="the warm server's socket", timeout=30)
        code, output = finished(client(tmp_path, socket_path, "-e", "greeting=not-forked"))
        assert code == 250 and "could not fork the run: [Errno 11]" in output
        assert process.poll() is None
        code, output = finished(client(tmp_path, socket_path, "-e", "greeting=served-after-it"))
        assert code == 0 and "served-after-it" in output
        assert process.poll() is None and children_of(process.pid) == []  # nothing of the runs is left
    finally:
        process.terminate()
        process.wait(10)


def test_without_a_server_the_client_runs_a_cold_ansible_playbook(tmp_path):
    code, output = finished(client(tmp_path, str(tmp_path / "nobody-listens"), "-e", "greeting=cold-hello"))
    assert code == 0 and "cold-hello" in output
    code, output = finished(client(tmp_path, None, "-e", "greeting=cold-again"))
    assert code == 0 and "cold-again" in output


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""
