"""What the performer_status module reports when one of the run's writes failed: a deletion that
failed keeps the finalizer (children not gone, the run failed, never stalled), a Service restore that
failed is said and tried again by the next run, a replacement pod that could not be created does not
count the ended pod twice, a Service whose deletion failed is still reported."""

from __future__ import annotations

import pytest

from tests.support.fake_kube_api import FakeKubeApi
from tests.unit.test_status_writer import (
    EVENTS_PATH,
    STATUS_PATH,
    applied,
    entry,
    events,
    item,
    live_service,
    performer,
    ready_pod,
    registered,
    writer,
)

pytestmark = pytest.mark.unit


def status_patch(api: FakeKubeApi) -> dict:
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    return patch["status"]


def test_a_finalizer_run_whose_deletion_failed_reports_the_children_not_gone_and_fails():
    """ansible-operator keeps the finalizer only while the run fails (roles/performer/tasks/finish.yml):
    no `retry_after` in place of the failure; the runner loop releases it only once they are gone."""
    deleted = registered(applied("Pod", {}), applied("Service", error="500 boom"))
    plan_entry = {"error": None, "children_gone": False, "children_deleted": 2}
    [result] = writer(FakeKubeApi(), plan_entry, deleted=deleted, state="absent").write(
        [item(performer(deleting=True), ready_pod(), live_service())]
    )
    assert result["error"] == "500 boom" and result["patched"] is True
    assert result["children_gone"] is False
    assert "retry_after" not in result


def test_a_finalizer_run_is_never_reported_stalled_whatever_its_plan_said():
    """A stalled resource is not retried until its spec changes: a deletion must be."""
    api = FakeKubeApi()
    render_error = 'spec.hardwareRequirements.gpuType: unknown GPU type "x"'
    plan_entry = {"error": render_error, "children_gone": False, "children_deleted": 1}
    deleting = writer(api, plan_entry, state="absent", deleted=registered())
    [result] = deleting.write([item(performer(deleting=True), ready_pod(), None)])
    assert result["error"] == render_error and result["stalled"] is False
    assert next(c for c in status_patch(api)["conditions"] if c["type"] == "Stalled")["status"] == "False"


def test_a_service_restore_that_failed_is_said_and_leaves_no_memo_so_that_the_next_run_restores_it():
    drift = {"service": ['spec.selector: have {"app": "x"}, want {"app": "hourglass-performer"}']}
    api = FakeKubeApi()
    failed = registered(applied("Service", error="500 boom"))
    [result] = writer(api, entry(drift=drift), updated=failed).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert result["error"] == "500 boom" and "memo" not in result
    assert result["repairs"] == ["ServiceDrifted"] and ("Warning", "ServiceDrifted") in events(api)
    [message] = [body["message"] for _, path, body in api.bodies if path == EVENTS_PATH
                 and body["reason"] == "ServiceDrifted"]  # fmt: skip
    assert message.startswith("could not restore the Service, changed by another client")


def test_a_replacement_of_an_ended_pod_that_failed_keeps_the_count_of_ended_pods():
    """The retry's plan counts the ended pod again: counting it in this run as well would count it twice."""
    api = FakeKubeApi()
    ended = {**ready_pod(), "status": {"phase": "Failed", "reason": "OutOfcpu"}}
    plan_entry = entry(pod_action="replace", pod_ended="OutOfcpu", ended_pods=3)
    cr = performer({"phase": "Failed", "ready": False, "endedPods": 2})
    [result] = writer(api, plan_entry, replaced=registered(applied("Pod", error="500 boom"))).write(
        [item(cr, ended, live_service())]
    )
    assert result["error"] == "500 boom"
    assert status_patch(api).get("endedPods") == 2


def test_a_service_whose_deletion_failed_is_still_reported_with_its_endpoint():
    deleted = registered(applied("Service", error="500 boom"))
    plan_entry = {"error": None, "children_gone": False, "children_deleted": 1}
    api = FakeKubeApi()
    [result] = writer(api, plan_entry, deleted=deleted, state="absent").write(
        [item(performer(deleting=True), None, live_service())]
    )
    assert result["children_gone"] is False
    assert status_patch(api)["grpcEndpoint"] == "performer-p.ns.svc.cluster.local"
