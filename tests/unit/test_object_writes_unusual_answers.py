"""The performer_apply module's writes where the API server answers unusually: a child deleted that
is already gone is no error (a finalizer run would otherwise fail on what it wanted), a pod whose
DELETE failed but which is found terminating is not said to serve on, a replacement whose dry run
clashes only on its generated name goes ahead, and an update refused for another reason than a
conflict is reported at once, not sent again."""

from __future__ import annotations

import pytest

from tests.support.fake_kube_api import FakeKubeApi
from tests.unit.test_object_writer import POD_PATH, SERVICE_PATH, pod, service, writer

pytestmark = pytest.mark.unit


def test_deleting_a_child_that_is_already_gone_is_no_error():
    for wait in (False, True):
        api = FakeKubeApi()
        [result] = writer(api, wait=wait).write([pod()], "absent")
        assert result == {"changed": False, "result": {}, "object": result["object"]}


def test_a_pod_whose_delete_failed_but_which_is_found_terminating_is_not_said_to_be_kept():
    """The DELETE was carried out (its answer an etcd timeout's 500): the pod is going, so the
    Performer is not reported serving on it."""
    terminating = pod(image="img:1")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    api = FakeKubeApi({POD_PATH: terminating})
    api.fail("DELETE", POD_PATH, 500, "etcdserver: request timed out")
    [result] = writer(api).write([pod(image="img:2")], "replaced")
    assert result["error"]["msg"] == "500 etcdserver: request timed out"
    assert "kept_pod" not in result["error"]
    assert [m for m, _ in api.calls] == ["POST", "DELETE", "GET"]


def test_a_replacement_whose_dry_run_clashes_only_on_its_generated_name_goes_ahead():
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.fail("POST", "/api/v1/namespaces/ns/pods", 409, 'pods "performer-a-x7k2q" already exists')
    [result] = writer(api).write([pod(image="img:2")], "replaced")
    assert result["changed"] and "error" not in result
    assert api.objects[POD_PATH]["spec"]["containers"][0]["image"] == "img:2"


def test_an_update_refused_otherwise_than_for_a_conflict_is_reported_without_another_try():
    api = FakeKubeApi({SERVICE_PATH: service(clusterIP="10.0.0.7", externalIPs=["1.2.3.4"])})
    api.fail("PUT", SERVICE_PATH, 403, "services is forbidden", times=10)
    [result] = writer(api).write([service()], "updated")
    assert result["error"] == {"msg": "403 services is forbidden", "status": 403}
    assert [m for m, _ in api.calls] == ["GET", "PUT"]
