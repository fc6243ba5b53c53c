"""What a run's environment tells Ansible: the content root's ansible.cfg, the operator's own Python as
the modules' interpreter (the one with the collection's dependencies; a discovered system Python has
none), and the file holding the loop's API connection (private to the owner) that the modules use
instead of importing the Kubernetes client."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import CONNECTION_ENV

from hourglass_operator import runner

pytestmark = pytest.mark.unit


def test_a_run_gets_the_content_roots_configuration_this_python_and_the_loops_connection(
    tmp_path: Path, monkeypatch
):
    seen: dict = {}

    def fake_run(**kwargs):
        envvars = kwargs["envvars"]
        connection = Path(envvars[CONNECTION_ENV])
        seen.update(envvars=envvars, connection=json.loads(connection.read_text()),
                    mode=stat.S_IMODE(os.stat(connection).st_mode))  # fmt: skip
        return SimpleNamespace(status="successful", rc=0, events=[])

    monkeypatch.setattr(runner.ansible_runner, "run", fake_run)
    settings = {"host": "https://10.0.0.1", "authorization": "Bearer token"}
    batch_runner = runner.AnsibleBatchRunner(
        tmp_path / "content", tmp_path / "work", connection=lambda: settings
    )
    result = batch_runner.run(
        {}, role=None, playbook=Path("/p.yml"), cancel=threading.Event(), reconcile_id="r"
    )
    assert result.ok
    envvars = seen["envvars"]
    assert envvars["ANSIBLE_CONFIG"] == str((tmp_path / "content" / "ansible.cfg").resolve())
    assert envvars["ANSIBLE_PYTHON_INTERPRETER"] == sys.executable
    assert Path(envvars[CONNECTION_ENV]).parent == tmp_path / "work" / "runs" / "r"
    assert (seen["connection"], seen["mode"]) == (settings, 0o600)
