"""performer_status is changed when it patched a status; its invocation names the batch by key only."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    write_settings,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    BATCH_SIZED,
    write_statuses,
)
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import WRITE_STEPS

from tests.support.fake_kube_server import FakeKubeServer
from tests.unit.test_status_writer import entry, item, live_service, performer, ready_pod

pytestmark = pytest.mark.unit


class PatchesStatuses(FakeKubeServer):
    """A fake API server that takes every status patch (and has nothing else)."""

    def _answer(self, method: str, path: str, body: object) -> tuple[int, object]:
        if method == "PATCH" and path.endswith("/status"):
            self.requests.append((method, path))
            return 200, {"metadata": {"name": "p", "namespace": "ns", "resourceVersion": "8"}, **body}
        return super()._answer(method, path, body)


def params(batch: list[dict]) -> dict:
    return {"batch": batch, "plan": {"ns/p": entry()}, "observed": {}, "state": "present",
            "field_manager": "hourglass-operator", "cluster_domain": "cluster.local",
            "unschedulable_timeout": 300, "results_file": None, "kubeconfig": None, "context": None,
            **{step: {} for step in WRITE_STEPS}}  # fmt: skip


def test_a_patched_status_changes_the_task_and_the_invocation_names_the_batch_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PatchesStatuses() as server:
        connection = tmp_path / "connection.json"
        write_settings(str(connection), {"host": server.url})
        monkeypatch.setenv(CONNECTION_ENV, str(connection))
        result = write_statuses(params([item(performer(), ready_pod(), live_service())]), check_mode=False)
    [status] = result["results"]
    assert status["patched"] is True and result["changed"] is True
    module_args = result["invocation"]["module_args"]
    assert module_args["batch"] == ["ns/p"]
    assert not (set(BATCH_SIZED) - {"batch"}) & set(module_args)
    assert module_args["cluster_domain"] == "cluster.local"
