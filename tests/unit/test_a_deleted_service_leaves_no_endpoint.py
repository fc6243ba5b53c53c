"""A finalizer run that deleted the Performer's Service writes a status without its gRPC endpoint."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import compute_status

from tests.support.fake_kube_api import FakeKubeApi
from tests.unit.test_status_writer import (
    NOW,
    STATUS_PATH,
    applied,
    item,
    live_service,
    performer,
    ready_pod,
    registered,
    writer,
)

pytestmark = pytest.mark.unit


def status_patches(api: FakeKubeApi) -> list[dict]:
    return [body["status"] for method, path, body in api.bodies if method == "PATCH" and path == STATUS_PATH]


def test_the_status_of_a_finalizer_run_that_deleted_the_service_has_no_endpoint() -> None:
    ready = compute_status(performer(), ready_pod(), now=NOW)
    assert ready["grpcEndpoint"] == "performer-p.ns.svc.cluster.local"
    api = FakeKubeApi()
    plan_entry = {"error": None, "children_gone": False, "children_deleted": 1}
    deleted = registered(applied("Service", {}))
    [result] = writer(api, plan_entry, deleted=deleted, state="absent").write(
        [item(performer(ready, deleting=True), None, live_service())]
    )
    assert result["phase"] == "Terminating" and result["children_gone"] is True
    [patch] = status_patches(api)
    assert patch["grpcEndpoint"] == ""
