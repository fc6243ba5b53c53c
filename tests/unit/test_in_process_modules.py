"""The action plugins of the collection's Kubernetes modules (plugins/plugin_utils/in_process.py): on
a local connection a real ansible-playbook runs the module's work inside its worker (no module process
is packaged or started) against a fake API server, with the module's own argument validation; on any
other connection the module itself runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible.plugins.action import ActionBase
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    write_settings,
)

from tests.support.fake_kube_server import FakeKubeServer

pytestmark = pytest.mark.unit

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns"}}
PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Delete a pod the server does not have
      hourglass.operator.performer_apply:
        objects: {objects}
        state: {state}
      register: deleted
    - name: Keep its results
      ansible.builtin.copy:
        content: "{{{{ deleted.result.results | to_json }}}}"
        dest: "{results}"
        mode: "0600"
"""


PLAN_PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write a plan
      hourglass.operator.performer_apply: {args}
      register: written
    - name: Keep what was written
      ansible.builtin.copy:
        content: "{{{{ written | to_json }}}}"
        dest: "{results}"
        mode: "0600"
"""


def play(
    tmp_path: Path, server: FakeKubeServer, state: str = "absent", playbook_text: str | None = None
) -> subprocess.CompletedProcess:
    connection = tmp_path / "connection.json"
    write_settings(str(connection), {"host": server.url})
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        playbook_text
        or PLAY.format(objects=json.dumps([POD]), state=state, results=tmp_path / "results.json")
    )
    env = {**os.environ, CONNECTION_ENV: str(connection), "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
           "ANSIBLE_LOCALHOST_WARNING": "false"}  # fmt: skip
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        "localhost,",
        "-vvv",
        str(playbook),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_on_a_local_connection_the_work_runs_in_the_worker_with_the_modules_result(tmp_path):
    with FakeKubeServer() as server:
        ran = play(tmp_path, server)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ("DELETE", "/api/v1/namespaces/ns/pods/performer-a") in server.requests
    [result] = json.loads((tmp_path / "results.json").read_text())
    assert result["changed"] is False and result["object"]["name"] == "performer-a"  # a 404: already gone
    assert "AnsiballZ_performer_apply" not in ran.stdout  # no module process was packaged or started


def test_arguments_are_validated_by_the_modules_argument_spec(tmp_path):
    with FakeKubeServer() as server:
        ran = play(tmp_path, server, state="vanished")
    assert ran.returncode == 2
    choices = "created, present, absent, replaced, updated, lost"
    assert f"value of state must be one of: {choices}, got: vanished" in ran.stdout
    assert server.requests == []


def test_a_plan_is_written_list_by_list_in_order_each_result_under_its_own_key(tmp_path):
    other = {**POD, "metadata": {"name": "performer-b", "namespace": "ns"}}
    args = {"plan": {"apply": [POD], "restore": [], "delete": [other]}, "wait": False}
    with FakeKubeServer() as server:
        ran = play(
            tmp_path,
            server,
            playbook_text=PLAN_PLAY.format(args=json.dumps(args), results=tmp_path / "results.json"),
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert server.requests == [
        ("PATCH", "/api/v1/namespaces/ns/pods/performer-a"),
        ("DELETE", "/api/v1/namespaces/ns/pods/performer-b"),
    ]
    written = json.loads((tmp_path / "results.json").read_text())
    [applied] = written["applied"]["result"]["results"]
    assert applied["object"]["name"] == "performer-a" and "error" in applied  # the fake has no pods
    [deleted] = written["deleted"]["result"]["results"]
    assert deleted["object"]["name"] == "performer-b" and deleted["changed"] is False
    assert written["updated"]["skipped"] and written["replaced"]["skipped"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"plan": {}, "objects": []}, "parameters are mutually exclusive: objects|plan"),
        ({"state": "present"}, "one of the following is required: objects, plan"),
    ],
)
def test_a_plan_or_objects_and_never_both(tmp_path, args, message):
    with FakeKubeServer() as server:
        ran = play(
            tmp_path,
            server,
            playbook_text=PLAN_PLAY.format(args=json.dumps(args), results=tmp_path / "results.json"),
        )
    assert ran.returncode == 2
    assert message in ran.stdout
    assert server.requests == []


def test_on_another_connection_the_module_runs_where_the_task_says(monkeypatch):
    # ActionBase.run's own checks need a whole play; here only the choice of where the work runs matters.
    from ansible_collections.hourglass.operator.plugins.action.performer_apply import ActionModule

    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    executed = []
    action = ActionModule.__new__(ActionModule)
    action._connection = SimpleNamespace(transport="ssh")
    action._task = SimpleNamespace(resolved_action="hourglass.operator.performer_apply", args={"objects": []})
    action._execute_module = lambda **options: executed.append(options) or {"changed": False, "ran": "module"}
    assert action.run(task_vars={}) == {"changed": False, "ran": "module"}
    assert executed[0]["module_name"] == "hourglass.operator.performer_apply"


def local_action(monkeypatch, args: dict, work):
    from ansible_collections.hourglass.operator.plugins.action.performer_apply import ActionModule

    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    monkeypatch.setattr(ActionModule, "work", staticmethod(work))
    action = ActionModule.__new__(ActionModule)
    action._connection = SimpleNamespace(transport="ansible.builtin.local")
    action._task = SimpleNamespace(args=args, check_mode=False)
    return action


def test_batch_sized_arguments_reach_the_work_as_they_are_and_the_rest_validated(monkeypatch):
    plan = {"apply": [POD], "delete": []}
    seen = {}
    action = local_action(monkeypatch, {"plan": plan, "wait_timeout": "7"}, lambda p, _: seen.update(p) or {})
    assert action.run(task_vars={}) == {}
    assert seen["plan"] is plan  # not a deep copy of the batch
    assert seen["wait_timeout"] == 7 and seen["field_manager"] == "hourglass-operator"  # converted, defaults


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"objects": ["not an object"]}, "Elements value for option 'objects'"),
        ({"objects": "performer-a"}, "Elements value for option 'objects'"),
        ({"plan": ["a", "list"]}, "'plan' is of type"),
    ],
)
def test_batch_sized_arguments_of_the_wrong_shape_are_still_refused_by_the_argument_spec(
    monkeypatch, args, message
):
    action = local_action(monkeypatch, args, lambda p, _: pytest.fail("the work ran"))
    result = action.run(task_vars={})
    assert result["failed"] and message in result["msg"]
