"""performer_reconcile end to end: rollout slots, check-mode changes, work-waiting file, lost_pod_after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    write_settings,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import reconcile_performers

from tests.support.fake_kube_server import FakeKubeServer
from tests.unit.test_batch_plan_reads_rollouts_and_observations_from_each_item import (
    RECONCILED,
    rendered_before,
)
from tests.unit.test_performer_batch_plan import SETTINGS, TEMPLATES, item

pytestmark = pytest.mark.unit


class TakesEveryWrite(FakeKubeServer):
    """A fake API server that takes every write of a Pod, Service, status or Event, and has no pod to
    read (a deleted one is gone at once)."""

    def _answer(self, method: str, path: str, body: object) -> tuple[int, object]:
        if method in ("POST", "PATCH", "DELETE") and path.startswith(("/api/v1/", "/apis/hourglass")):
            self.requests.append((method, path))
            written = body if isinstance(body, dict) else {}
            return (201 if method == "POST" else 200), {**written, "metadata": {
                **(written.get("metadata") or {}), "uid": "u1", "resourceVersion": "7"}}  # fmt: skip
        return super()._answer(method, path, body)


def params(batch: list[dict], **options: object) -> dict:
    return {"batch": batch, "batch_file": None, "settings": SETTINGS, "templates": None, "observed": {},
            "state": "present", "field_manager": "hourglass-operator", "cluster_domain": "cluster.local",
            "unschedulable_timeout": 300, "results_file": None, "kubeconfig": None, "context": None,
            "wait": False, "wait_timeout": 5, "work_waiting_file": None, "create_by_apply": False,
            "ended_pod_min_age": 10, "ended_pod_max_age": 300, "lost_pod_after": 30, "rollout_slots": None,
            **options}  # fmt: skip


class PodTerminatesSlowly(TakesEveryWrite):
    """A fake API server whose deleted pods take their time to go."""

    def _answer(self, method: str, path: str, body: object) -> tuple[int, object]:
        if method == "GET" and "/pods/" in path:
            self.requests.append((method, path))
            return 200, {
                "metadata": {"name": path.rsplit("/", 1)[1], "deletionTimestamp": "2026-11-22T10:00:00Z"}
            }
        return super()._answer(method, path, body)


def reconcile(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch: list[dict],
    check_mode: bool = False,
    server_type: type = TakesEveryWrite,
    **options: object,
) -> dict:
    with server_type() as server:
        connection = tmp_path / "connection.json"
        write_settings(str(connection), {"host": server.url})
        monkeypatch.setenv(CONNECTION_ENV, str(connection))
        result = reconcile_performers(params(batch, **options), check_mode=check_mode)
    return {**result, "requests": server.requests}


def test_the_rollout_slots_given_pace_the_replacements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [rendered_before(name, RECONCILED) for name in ("a", "b")]
    result = reconcile(tmp_path, monkeypatch, batch, rollout_slots=1)
    assert [r.get("rollout") for r in result["results"]] == ["started", "waiting"]
    assert len(result["replaced"]["result"]["results"]) == 1


def test_a_check_mode_run_that_would_create_the_children_is_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = reconcile(tmp_path, monkeypatch, [item("a")], check_mode=True)
    [status] = result["results"]
    assert status["patched"] is False  # a dry run writes no status
    assert result["created"]["changed"] is True and result["changed"] is True


def test_a_replacement_stops_waiting_for_the_old_pod_once_other_work_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = tmp_path / "work-waiting"
    waiting.touch()
    batch = [rendered_before("a", RECONCILED)]
    result = reconcile(tmp_path, monkeypatch, batch, server_type=PodTerminatesSlowly, wait_timeout=10,
                       work_waiting_file=str(waiting))  # fmt: skip
    [replaced] = result["replaced"]["result"]["results"]
    assert replaced["pending"] is True  # its replacement comes with the run its deletion triggers
    looks = [path for method, path in result["requests"] if method == "GET" and path.endswith("/performer-a")]
    assert len(looks) == 1  # looked once, then left to the next run


def test_a_terminating_pod_is_looked_at_again_when_it_is_lost_pod_after_past_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [rendered] = performer_render([item("a")], SETTINGS, TEMPLATES)
    pod = rendered["pod"]
    deadline = (datetime.now(UTC) - timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")  # 10 s past it
    pod["metadata"].update(uid="uid-1", deletionTimestamp=deadline)
    pod["spec"]["nodeName"] = "node-a"
    batch = [item("a", observed={"pod": pod, "service": rendered["service"]})]
    [result] = reconcile(tmp_path, monkeypatch, batch, lost_pod_after=30, ended_pod_max_age=300)["results"]
    assert 20 <= result["recheck_after"] <= 22  # 30 s past the deadline, and a second
