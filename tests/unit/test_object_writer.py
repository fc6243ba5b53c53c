"""The performer_apply module's logic (plugins/module_utils/object_writer.py) against a fake API:
one result per object in order, a failing object does not fail the others, deletions waited for
within the timeout, replacement after the old object is gone, restoring a drifted object in place
(keeping what the API server allocated) or by recreating it, and dry runs."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    ObjectWriter,
    identity,
    restored,
    slim,
)

from tests.support.fake_kube_api import FakeKubeApi
from tests.support.performers import with_changes

POD_PATH = "/api/v1/namespaces/ns/pods/performer-a"
SERVICE_PATH = "/api/v1/namespaces/ns/services/performer-a"


def pod(name: str = "performer-a", image: str = "img:1") -> dict:
    meta = {"name": name, "namespace": "ns", "labels": {"a": "1"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "performer", "image": image}]}}  # fmt: skip


def service(**spec: object) -> dict:
    meta = {"name": "performer-a", "namespace": "ns", "labels": {"a": "1"}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"selector": {"a": "1"}, "ports": [{"port": 9090}], **spec}}  # fmt: skip


class Clock:
    """A fake monotonic clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def writer(api: FakeKubeApi, clock: Clock | None = None, **options: object) -> ObjectWriter:
    clock = clock or Clock()
    return ObjectWriter(api, field_manager="fm", clock=clock, sleep=clock.sleep, **options)


def test_apply_is_a_forced_server_side_apply_with_one_result_per_object_in_order():
    api = FakeKubeApi()
    objects = [pod(f"performer-{n}") for n in "abc"]
    results = writer(api).write(objects, "present")
    assert [r["object"]["name"] for r in results] == ["performer-a", "performer-b", "performer-c"]
    assert all(r["changed"] and r["result"]["metadata"]["resourceVersion"] for r in results)
    assert sorted(api.calls) == [("PATCH", f"/api/v1/namespaces/ns/pods/performer-{n}") for n in "abc"]


def test_create_posts_the_object_and_applies_one_that_exists_meanwhile():
    api = FakeKubeApi({SERVICE_PATH: service(clusterIP="10.0.0.7")})
    created, existing = writer(api).write([pod(), service(type="ClusterIP")], "created")
    assert created["changed"] and created["result"]["metadata"]["resourceVersion"]
    assert api.objects[POD_PATH]["spec"] == pod()["spec"]
    assert existing["changed"] and api.objects[SERVICE_PATH]["spec"]["type"] == "ClusterIP"
    assert sorted(api.calls) == [
        ("PATCH", SERVICE_PATH),  # the create answered 409 AlreadyExists: applied instead
        ("POST", "/api/v1/namespaces/ns/pods"),
        ("POST", "/api/v1/namespaces/ns/services"),
    ]
    queries = [query for method, _, query in api.queries if method == "POST"]
    assert queries == [{"fieldManager": "fm"}] * 2


def test_with_create_by_apply_creations_are_server_side_applies():
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    results = writer(api, create_by_apply=True).write([service(), pod(image="img:2")], "created")
    assert all(r["changed"] for r in results)
    assert sorted(api.calls) == [("PATCH", POD_PATH), ("PATCH", SERVICE_PATH)]
    api.calls.clear()
    [replaced] = writer(api, create_by_apply=True).write([pod(image="img:3")], "replaced")
    assert replaced["changed"] and [m for m, _ in api.calls] == ["POST", "DELETE", "GET", "PATCH"]


def test_a_create_that_fails_otherwise_is_reported_and_a_dry_run_creates_nothing():
    api = FakeKubeApi()
    api.fail("POST", "/api/v1/namespaces/ns/pods", 403, "pods is forbidden")
    [result] = writer(api).write([pod()], "created")
    assert result["error"] == {"msg": "403 pods is forbidden", "status": 403} and not result["changed"]
    [result] = writer(api, check_mode=True).write([pod()], "created")
    assert result["changed"] and POD_PATH not in api.objects
    assert api.queries[-1] == ("POST", "/api/v1/namespaces/ns/pods", {"fieldManager": "fm", "dryRun": "All"})


@pytest.mark.parametrize("state", ["created", "present", "replaced"])
def test_a_create_refused_because_the_namespace_is_being_deleted_says_so(state):
    api = FakeKubeApi()
    terminating = "unable to create new content in namespace ns because it is being terminated"
    for method, path in (("POST", "/api/v1/namespaces/ns/pods"), ("PATCH", POD_PATH)):
        # twice: a replacement's dry run of the new pod is refused too, and goes ahead
        api.fail(method, path, 403, terminating, causes=("NamespaceTerminating",), times=2)
    [result] = writer(api).write([pod()], state)
    assert result["error"] == {"msg": f"403 {terminating}", "status": 403, "namespace_terminating": True}
    # Only that cause says so: another 403 (RBAC, a policy) is a failure like any other.
    api = FakeKubeApi()
    api.fail("POST", "/api/v1/namespaces/ns/pods", 403, "pods is forbidden", causes=("FieldValueForbidden",))
    [result] = writer(api).write([pod()], "created")
    assert "namespace_terminating" not in result["error"]


def test_one_failing_object_is_reported_without_failing_the_others():
    api = FakeKubeApi()
    api.fail("PATCH", POD_PATH, 422, "spec.containers: Required value")
    results = writer(api).write([pod(), service()], "present")
    assert results[0]["error"] == {"msg": "422 spec.containers: Required value", "status": 422}
    assert not results[0]["changed"] and results[1]["changed"]
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"}}
    [result] = writer(api).write([bad], "present")
    assert result["error"]["msg"] == "unsupported kind apps/v1/Deployment"


def test_an_unknown_state_is_refused_naming_the_choices():
    choices = "created, present, absent, replaced, updated, lost"
    with pytest.raises(ValueError, match=f"state: 'gone' is not one of {choices}"):
        writer(FakeKubeApi()).write([pod()], "gone")


def test_delete_counts_a_missing_object_as_deleted_and_waits_within_the_timeout():
    api = FakeKubeApi({POD_PATH: pod()})
    [missing, deleted] = writer(api, wait=True, wait_timeout=5).write([service(), pod()], "absent")
    assert (missing["changed"], deleted["changed"]) == (False, True) and "pending" not in deleted

    api = FakeKubeApi({POD_PATH: pod()})
    api.linger[POD_PATH] = 1000  # a pod with a long grace period
    clock = Clock()
    [result] = writer(api, clock, wait=True, wait_timeout=5).write([pod()], "absent")
    assert result["pending"] is True and 5 < clock.now < 6


def test_delete_without_wait_never_polls_and_reports_what_is_still_terminating_as_pending():
    api = FakeKubeApi({POD_PATH: pod(), SERVICE_PATH: service()})
    api.linger[POD_PATH] = 1000  # the pod has a grace period; the service goes at once
    [terminating, gone] = writer(api, wait=False).write([pod(), service()], "absent")
    assert terminating["pending"] is True and terminating["changed"]
    assert "pending" not in gone and gone["changed"]
    assert [m for m, _ in api.calls] == ["DELETE", "DELETE"]


def test_replace_deletes_waits_until_gone_then_creates_and_reports_pending_when_not_gone():
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.linger[POD_PATH] = 3
    [result] = writer(api, wait_timeout=10).write([pod(image="img:2")], "replaced")
    assert result["changed"] and "pending" not in result
    assert api.objects[POD_PATH]["spec"]["containers"][0]["image"] == "img:2"
    assert [m for m, _ in api.calls] == ["POST", "DELETE", "GET", "GET", "GET", "GET", "POST"]
    assert api.queries[0][2]["dryRun"] == "All"  # the new pod, checked before the old one goes

    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.linger[POD_PATH] = 1000
    [result] = writer(api, wait_timeout=1).write([pod(image="img:2")], "replaced")
    assert result == {"changed": True, "pending": True, "result": {}, "object": result["object"]}
    assert [m for m, _ in api.calls if m not in ("DELETE", "GET")] == ["POST"]  # the dry run only


def test_a_replacement_stops_waiting_as_soon_as_it_is_told_to_and_reports_the_pod_pending():
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.linger[POD_PATH] = 1000
    looks = iter([False, False, True])  # told at the third look
    clock = Clock()
    [result] = writer(api, clock, wait_timeout=600, stop_waiting=lambda: next(looks)).write(
        [pod(image="img:2")], "replaced"
    )
    assert result["pending"] is True and "error" not in result
    assert [m for m, _ in api.calls] == ["POST", "DELETE", "GET", "GET", "GET"] and clock.now < 1

    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.linger[POD_PATH] = 1  # gone at the second look; told all along, the writer looks once
    told = writer(api, wait_timeout=600, stop_waiting=lambda: True)
    [result] = told.write([pod(image="img:2")], "replaced")
    assert result["pending"] is True and [m for m, _ in api.calls] == ["POST", "DELETE", "GET"]
    assert POD_PATH not in api.objects  # the new pod is left to the run the deletion triggers


@pytest.mark.parametrize(("looks", "told"), [(3, 1), (0, 0)])
def test_a_replacement_that_waits_says_so_once_and_one_that_need_not_never_does(looks: int, told: int):
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.linger[POD_PATH] = looks
    waits: list[int] = []
    result = writer(api).write_one(pod(image="img:2"), "replaced", lambda: waits.append(len(api.calls)))
    assert result["changed"] and "pending" not in result
    assert waits == [3] * told  # after the dry run, the DELETE and the first look


@pytest.mark.parametrize(
    ("status", "message", "invalid"),
    [
        (422, 'Pod "performer-a-x7k2q" is invalid: spec.containers[0].resources.claims[0]: Not found', True),
        (403, 'pods "performer-a-x7k2q" is forbidden: no PriorityClass with name avs-hgih was found', False),
        (500, "etcdserver: request timed out", False),
    ],
)
def test_a_replacement_pod_the_api_server_refuses_leaves_the_old_pod_in_place(status, message, invalid):
    """A spec edit whose pod cannot be created: the old pod is not deleted, so the Performer keeps
    serving on it, and the error says so (an invalid pod: only another spec can fix it)."""
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.fail("POST", "/api/v1/namespaces/ns/pods", status, message)
    [result] = writer(api).write([pod(image="img:2")], "replaced")
    assert api.calls == [("POST", "/api/v1/namespaces/ns/pods")]
    assert api.objects[POD_PATH]["spec"]["containers"][0]["image"] == "img:1"
    [(_, _, probe)] = api.bodies
    assert probe["metadata"]["generateName"] == "performer-a-" and "name" not in probe["metadata"]
    assert api.queries[0][2]["dryRun"] == "All"
    error = result["error"]
    assert error["msg"] == (
        f"{status} {message} (the new pod was refused: the pod it would replace is left in place)"
    )
    assert error["kept_pod"] is True and error.get("invalid", False) is invalid


def raising_on(api: FakeKubeApi, method: str, error: Exception) -> object:
    """`api`, but every call of `method` raises `error` (no answer: a connection reset)."""

    def call(verb: str, path: str, **options: object) -> tuple:
        if verb == method:
            api.calls.append((verb, path))
            raise error
        return api(verb, path, **options)

    return call


RESET = ConnectionResetError(104, "Connection reset by peer")


@pytest.mark.parametrize(
    ("method", "refusal", "said"),
    [
        ("DELETE", (403, 'pods "performer-a" is forbidden'), '403 pods "performer-a" is forbidden'),
        ("DELETE", (500, 'failed calling webhook "w.io"'), '500 failed calling webhook "w.io"'),
        ("DELETE", (409, ""), "409 HTTP 409"),
        ("DELETE", RESET, "[Errno 104] Connection reset by peer"),
        ("POST", RESET, "[Errno 104] Connection reset by peer"),  # the new pod's dry run
    ],
)
def test_a_replacement_failing_before_the_old_pod_is_deleted_says_the_old_pod_is_kept(method, refusal, said):
    """The old pod's DELETE refused or not answered, or the new pod's dry run not answered: the old pod
    is still there, serving, and the error says so (the status module reports the pod, not Upgrading)."""
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    if isinstance(refusal, Exception):
        call = raising_on(api, method, refusal)
    else:
        api.fail(method, POD_PATH, *refusal)
        call = api
    [result] = writer(call).write([pod(image="img:2")], "replaced")
    assert api.objects[POD_PATH]["spec"]["containers"][0]["image"] == "img:1"
    assert result["error"]["msg"] == said and result["error"]["kept_pod"] is True
    assert "invalid" not in result["error"] and not result["changed"]
    called = ["POST"] if method == "POST" else ["POST", "DELETE", "GET"]  # the GET: still there?
    assert [m for m, _ in api.calls] == called  # no wait, no create


def test_a_deletion_carried_out_without_its_answer_does_not_say_the_old_pod_is_kept():
    """A DELETE the API server carried out but did not answer (a read timeout): the pod is going, so
    the Performer is not reported serving on it."""
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})

    def call(verb: str, path: str, **options: object) -> tuple:
        if verb == "DELETE":
            api(verb, path, **options)
            raise TimeoutError("timed out")
        return api(verb, path, **options)

    [result] = writer(call).write([pod(image="img:2")], "replaced")
    assert POD_PATH not in api.objects
    assert result["error"] == {"msg": "timed out"} and not result["changed"]


def test_a_service_recreate_whose_deletion_is_refused_keeps_no_pod():
    api = FakeKubeApi({SERVICE_PATH: service(clusterIP="None")})
    api.fail("DELETE", SERVICE_PATH, 403, "forbidden")
    [result] = writer(api).write([service()], "updated")
    assert result["error"] == {"msg": "403 forbidden", "status": 403}


@pytest.mark.parametrize(
    "message",
    [
        'pods "performer-a-x7k2q" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1',
        'admission webhook "audit.example.com" does not support dry run',
    ],
)
def test_a_replacement_refused_only_in_its_dry_run_goes_ahead(message):
    """A quota the old pod fills, or a webhook that cannot be asked in a dry run: the real create,
    once the old pod is gone, may succeed."""
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    api.fail("POST", "/api/v1/namespaces/ns/pods", 403, message)
    [result] = writer(api).write([pod(image="img:2")], "replaced")
    assert result["changed"] and "error" not in result
    assert api.objects[POD_PATH]["spec"]["containers"][0]["image"] == "img:2"


def test_update_restores_a_drifted_service_in_place_keeping_its_cluster_ip():
    live = service(clusterIP="10.0.0.7", clusterIPs=["10.0.0.7"], externalIPs=["1.2.3.4"])
    live["metadata"].update(resourceVersion="7", annotations={"other": "x"}, labels={"a": "0", "b": "2"})
    api = FakeKubeApi({SERVICE_PATH: live})
    [result] = writer(api).write([service()], "updated")
    assert result["changed"] and "recreated" not in result
    written = api.objects[SERVICE_PATH]
    assert written["spec"] == {**service()["spec"], "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"]}
    assert written["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert written["metadata"]["annotations"] == {"other": "x"}
    assert [m for m, _ in api.calls] == ["GET", "PUT"]


def test_an_update_that_admission_makes_into_the_live_object_again_changes_nothing():
    """A mutating admission policy sets every Service's session affinity: restoring the rendered one
    gives the live one again, which the API server does not write (same resourceVersion)."""
    live = service(clusterIP="10.0.0.7", sessionAffinity="ClientIP")
    live["metadata"]["resourceVersion"] = "7"
    api = FakeKubeApi({SERVICE_PATH: live})
    api.admit = lambda path, body: with_changes(body, {"spec": {"sessionAffinity": "ClientIP"}})
    [result] = writer(api).write([service()], "updated")
    assert result["changed"] is False and result["result"]["metadata"]["resourceVersion"] == "7"
    assert [m for m, _ in api.calls] == ["GET", "PUT"]
    # Another client's change on top of it is restored, and is a change.
    api.objects[SERVICE_PATH]["spec"]["ports"] = [{"port": 9999}]
    [result] = writer(api).write([service()], "updated")
    assert result["changed"] is True and api.objects[SERVICE_PATH]["spec"]["ports"] == [{"port": 9090}]


def test_update_retries_a_conflict_and_recreates_what_cannot_change_in_place():
    api = FakeKubeApi({SERVICE_PATH: service(clusterIP="10.0.0.7", externalIPs=["1.2.3.4"])})
    api.fail("PUT", SERVICE_PATH, 409, "the object has been modified")
    [result] = writer(api).write([service()], "updated")
    assert result["changed"] and [m for m, _ in api.calls] == ["GET", "PUT", "GET", "PUT"]

    api = FakeKubeApi({SERVICE_PATH: service(clusterIP="None")})  # headless: no cluster IP in place
    [result] = writer(api).write([service()], "updated")
    assert result["recreated"] is True and [m for m, _ in api.calls] == ["GET", "DELETE", "GET", "POST"]

    api = FakeKubeApi({SERVICE_PATH: service(clusterIP="10.0.0.7")})
    api.fail("PUT", SERVICE_PATH, 422, "spec.ipFamilies: field is immutable")
    [result] = writer(api).write([service()], "updated")
    assert result["recreated"] is True

    api = FakeKubeApi()
    [result] = writer(api).write([service()], "updated")  # missing: created
    assert result["changed"] and [m for m, _ in api.calls] == ["GET", "POST"]


def test_a_dry_run_applies_with_dry_run_all_and_never_waits_for_a_deletion():
    api = FakeKubeApi({POD_PATH: pod(image="img:1")})
    [result] = writer(api, check_mode=True).write([pod(image="img:2")], "replaced")
    assert result["changed"] and api.calls == [("PATCH", POD_PATH)]
    assert api.objects[POD_PATH]["spec"]["containers"][0]["image"] == "img:1"


def test_restored_and_slim_keep_what_the_status_module_needs():
    current = {**service(clusterIP="10.0.0.7"), "status": {"x": 1}}
    current["metadata"]["managedFields"] = [{}]
    body = restored(current, service(type="ClusterIP"))
    assert "status" not in body and "managedFields" not in body["metadata"]
    assert body["spec"]["clusterIP"] == "10.0.0.7" and body["spec"]["type"] == "ClusterIP"
    live = {**pod(), "status": {"phase": "Running"}}
    live["spec"]["nodeName"] = "n1"
    assert slim(live) == {"apiVersion": "v1", "kind": "Pod", "metadata": pod()["metadata"],
                          "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}  # fmt: skip
    assert slim(None) == {}


NODE_PATH = "/api/v1/nodes/node-a"
LOST = {"apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": "node-a"},
        "metadata": {"name": "performer-a", "namespace": "ns", "uid": "u1"}}  # fmt: skip


def node(ready: str) -> dict:
    return {"kind": "Node", "metadata": {"name": "node-a"},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": ready}]}}  # fmt: skip


def terminating_pod(uid: str = "u1") -> dict:
    obj = pod()
    obj["metadata"].update(uid=uid, deletionTimestamp="2026-01-01T00:00:00Z")
    return obj


@pytest.mark.parametrize("ready", ["Unknown", "False", None])  # None: the Node object is gone
def test_a_lost_pod_is_deleted_at_once_guarded_by_its_uid_when_its_node_is_not_ready(ready: str | None):
    api = FakeKubeApi({POD_PATH: terminating_pod(), **({NODE_PATH: node(ready)} if ready else {})})
    [result] = writer(api).write([LOST], "lost")
    assert result["changed"] and "error" not in result
    assert POD_PATH not in api.objects
    assert api.calls == [("GET", NODE_PATH), ("DELETE", POD_PATH)]
    assert api.bodies[-1][2] == {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                 "preconditions": {"uid": "u1"}}  # fmt: skip


def test_a_lost_pod_on_a_ready_node_is_left_to_its_kubelet():
    api = FakeKubeApi({POD_PATH: terminating_pod(), NODE_PATH: node("True")})
    [result] = writer(api).write([LOST], "lost")
    assert result == {"changed": False, "result": {}, "node_ready": True, "object": identity(LOST)}
    assert api.calls == [("GET", NODE_PATH)] and POD_PATH in api.objects


def test_a_newer_pod_of_the_same_name_is_never_force_deleted():
    api = FakeKubeApi({POD_PATH: terminating_pod(uid="u2"), NODE_PATH: node("Unknown")})
    [result] = writer(api).write([LOST], "lost")
    assert result["changed"] is False and "error" not in result
    assert POD_PATH in api.objects


def test_a_node_the_operator_may_not_read_is_reported_and_the_pod_left_alone():
    api = FakeKubeApi({POD_PATH: terminating_pod()})
    api.fail(
        "GET", NODE_PATH, 403, 'nodes "node-a" is forbidden: User "system:serviceaccount:x:y" cannot get'
    )
    [result] = writer(api).write([LOST], "lost")
    assert result["error"]["msg"].startswith(
        '403 cannot read the pod\'s node node-a: nodes "node-a" is forbidden'
    )
    assert api.calls == [("GET", NODE_PATH)] and POD_PATH in api.objects


def test_a_dry_run_force_deletes_nothing():
    api = FakeKubeApi({POD_PATH: terminating_pod(), NODE_PATH: node("Unknown")})
    [result] = writer(api, check_mode=True).write([LOST], "lost")
    assert result["changed"] and POD_PATH in api.objects
    assert api.queries[-1] == ("DELETE", POD_PATH, {"dryRun": "All"})


def test_a_lost_pod_that_another_controllers_finalizer_keeps_is_reported_not_counted_as_deleted():
    held = terminating_pod()
    held["kind"] = "Pod"
    held["metadata"]["finalizers"] = ["example.com/audit"]
    api = FakeKubeApi({POD_PATH: held, NODE_PATH: node("Unknown")})
    api.linger[POD_PATH] = 1  # the API server answers with the pod, kept by its finalizer
    [result] = writer(api).write([LOST], "lost")
    assert result["changed"] is False
    assert result["error"]["msg"] == "the pod's finalizers example.com/audit keep it"


def test_the_lost_pods_of_one_node_read_it_once():
    other = "/api/v1/namespaces/ns/pods/performer-b"
    lost_b = {**LOST, "metadata": {**LOST["metadata"], "name": "performer-b", "uid": "u2"}}
    api = FakeKubeApi(
        {POD_PATH: terminating_pod(), other: terminating_pod(uid="u2"), NODE_PATH: node("Unknown")}
    )
    results = writer(api).write([LOST, lost_b], "lost")
    assert [r["changed"] for r in results] == [True, True]
    assert api.calls.count(("GET", NODE_PATH)) == 1
