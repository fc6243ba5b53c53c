"""performer_apply with a plan reports the task changed when any one of its lists changed something."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    write_settings,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import apply_objects

from tests.support.fake_kube_server import FakeKubeServer

pytestmark = pytest.mark.unit

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "performer-a", "namespace": "ns"}}
GONE = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "performer-b", "namespace": "ns"}}


class CreatesPods(FakeKubeServer):
    """A fake API server that creates the pods posted to it (and has no other)."""

    def _answer(self, method: str, path: str, body: object) -> tuple[int, object]:
        if method == "POST" and path == "/api/v1/namespaces/ns/pods":
            self.requests.append((method, path))
            return 201, {**body, "metadata": {**body["metadata"], "uid": "u1", "resourceVersion": "7"}}
        return super()._answer(method, path, body)


def test_a_plan_whose_delete_found_nothing_but_whose_create_wrote_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"objects": None, "plan": {"create": [POD], "delete": [GONE]}, "state": "present",
              "field_manager": "hourglass-operator", "wait": False, "wait_timeout": 5,
              "create_by_apply": False, "kubeconfig": None, "context": None}  # fmt: skip
    with CreatesPods() as server:
        connection = tmp_path / "connection.json"
        write_settings(str(connection), {"host": server.url})
        monkeypatch.setenv(CONNECTION_ENV, str(connection))
        result = apply_objects(params, check_mode=False)
    steps = {key: step for key, step in result.items() if key != "changed"}
    assert [key for key, step in steps.items() if step["changed"]] == ["created"]
    [deleted] = steps["deleted"]["result"]["results"]
    assert deleted["changed"] is False  # a 404: already gone
    assert result["changed"] is True
