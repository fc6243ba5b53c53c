"""The performer_status module's logic (plugins/module_utils/status_writer.py) against a fake API:
which status each Performer of a batch gets from what the run created, applied, replaced and
deleted, that it is patched (merge patch on the status subresource) only when it changed, the
Events of its transitions and of drift, the errors it reports, whether a deleted Performer's
children are gone, and the baseline that hands the Performer to the status fast path."""

from __future__ import annotations

import json

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    ObjectWriter,
    as_registered,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import compute_status
from ansible_collections.hourglass.operator.plugins.module_utils.retry_backoff import retry_max
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    ResultsFile,
    StatusWriter,
    batch_keys,
    record_events,
)

from tests.support.fake_kube_api import FakeKubeApi

NOW = "2026-11-22T10:00:00Z"
STATUS_PATH = "/apis/hourglass.eigenlayer.io/v1alpha1/namespaces/ns/performers/p/status"
POD_PATH = "/api/v1/namespaces/ns/pods/performer-p"
EVENTS_PATH = "/api/v1/namespaces/ns/events"
LABELS = contract.child_labels("p", "0xabc")


def performer(status: dict | None = None, deleting: bool = False) -> dict:
    meta = {"name": "p", "namespace": "ns", "uid": "u1", "generation": 2, "resourceVersion": "5"}
    if deleting:
        meta["deletionTimestamp"] = NOW
    return {"apiVersion": contract.API_VERSION, "kind": contract.KIND, "metadata": meta,
            "status": status or {}}  # fmt: skip


def ready_pod() -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "performer-p", "namespace": "ns",
            "labels": LABELS, "resourceVersion": "9"}, "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip


def live_service() -> dict:
    meta = {"name": "performer-p", "namespace": "ns", "resourceVersion": "42"}
    return {"kind": "Service", "metadata": meta}


def item(cr: dict, pod: dict | None = None, service: dict | None = None) -> dict:
    return {"_hourglass_eigenlayer_io_performer": cr, "_hourglass_observed": {"pod": pod, "service": service}}


def registered(*results: dict) -> dict:
    return {"changed": True, "result": {"results": list(results)}}


def applied(kind: str, result: dict | None = None, error: str | None = None) -> dict:
    entry = {"object": {"kind": kind, "namespace": "ns", "name": "performer-p"}, "changed": not error}
    if error:
        entry["error"] = {"msg": error}
    else:
        entry["result"] = result or {}
    return entry


def entry(**fields: object) -> dict:
    return {"error": None, "upgrading": False, "upgraded_at": None, "pod_action": "keep", "spec_hash": "h1",
            "pod_labels": LABELS, **fields}  # fmt: skip


def writer(api: FakeKubeApi, plan_entry: dict | None = None, **options: object) -> StatusWriter:
    plan = {"ns/p": plan_entry if plan_entry is not None else entry()}
    return StatusWriter(api, plan=plan, now=NOW, **options)


def events(api: FakeKubeApi) -> list[tuple[str, str]]:
    return [(body["type"], body["reason"]) for method, path, body in api.bodies if path == EVENTS_PATH]


@pytest.mark.parametrize("step", ["created", "applied"])  # as the plan creates them, or as applied
def test_a_pod_created_in_this_run_is_read_again_and_its_status_patched_with_a_ready_event(step):
    api = FakeKubeApi({POD_PATH: ready_pod()})
    pod_result = applied(
        "Pod", {"metadata": {"name": "performer-p", "resourceVersion": "7"}, "status": {"phase": "Pending"}}
    )
    service_result = applied("Service", live_service())
    written = {step: registered(pod_result, service_result)}
    [result] = writer(api, entry(pod_action="create"), **written).write([item(performer())])
    assert [result[k] for k in ("phase", "ready", "error", "patched")] == ["Running", True, None, True]
    # What the pod is now, not what the write returned; from the API server's cache, at least as new
    # as the write.
    assert ("GET", POD_PATH, {"resourceVersion": "7"}) in api.queries
    [patch] = [body for method, path, body in api.bodies if method == "PATCH"]
    assert patch["status"]["grpcEndpoint"] == "performer-p.ns.svc.cluster.local"
    assert patch["status"]["readyTime"] == NOW
    assert events(api) == [("Normal", "Ready")]
    assert result["baseline"] == {
        "spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
        "cluster_domain": "cluster.local", "unschedulable_timeout": 300.0,
    }  # fmt: skip


def test_an_unchanged_status_is_not_patched_and_a_dry_run_patches_nothing():
    current = compute_status(performer(), ready_pod(), now=NOW)
    api = FakeKubeApi()
    [result] = writer(api).write([item(performer(current), ready_pod(), live_service())])
    assert result["patched"] is False and api.calls == []
    [result] = writer(api, check_mode=True).write([item(performer(), ready_pod(), live_service())])
    assert result["patched"] is False and api.calls == []


def test_render_and_apply_errors_fail_the_reconciled_condition_and_give_no_baseline():
    api = FakeKubeApi()
    failed = registered(applied("Pod", error="422 bad"))
    [result] = writer(api, entry(error="rendering failed: x", pod_action="create"), applied=failed).write(
        [item(performer(), None, live_service())]
    )
    assert result["error"] == "rendering failed: x; 422 bad"
    assert result["phase"] == "Failed" and result["baseline"] is None
    assert ("Warning", "ReconcileFailed") in events(api)


def test_a_failed_status_patch_is_an_error_but_a_deleted_performer_is_not():
    api = FakeKubeApi()
    api.fail("PATCH", STATUS_PATH, 500)
    [result] = writer(api).write([item(performer(), ready_pod(), live_service())])
    assert result["error"] == "status update failed: 500 Internal Server Error" and not result["patched"]
    api = FakeKubeApi()
    api.fail("PATCH", STATUS_PATH, 404)
    [result] = writer(api).write([item(performer(), ready_pod(), live_service())])
    assert result["error"] is None and not result["patched"] and events(api) == []


@pytest.mark.parametrize(
    ("code", "message", "said"),
    [
        (403, 'performers.hourglass.eigenlayer.io "p" is forbidden: User "system:serviceaccount:op:op" '
              'cannot patch resource "performers/status"', None),
        (422, 'Performer.hourglass.eigenlayer.io "p" is invalid: status.phase: Unsupported value', None),
        (500, "etcdserver: request timed out", None),
        (500, "", "Internal Server Error"),  # no message: the reason phrase
    ],
)  # fmt: skip
def test_a_refused_status_patch_says_the_api_servers_message_in_the_error_and_a_warning_event(
    code, message, said
):
    """The status that would say it was not written: the error and a ReconcileFailed Event say why, and
    the runner loop's back-off still knows an etcd timeout for a failure that clears itself."""
    api = FakeKubeApi()
    api.fail("PATCH", STATUS_PATH, code, message)
    [result] = writer(api).write([item(performer(), ready_pod(), live_service())])
    error = f"status update failed: {code} {said or message}"
    assert result["error"] == error and not result["patched"]
    [event] = [body for method, path, body in api.bodies if path == EVENTS_PATH]
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "ReconcileFailed", error)
    assert retry_max(result["error"]) == (30.0 if "etcdserver" in message else None)


def test_a_refused_status_patch_after_a_failed_write_says_both_in_the_error_and_its_event():
    api = FakeKubeApi()
    api.fail("PATCH", STATUS_PATH, 500, "etcdserver: request timed out")
    failed = registered(applied("Pod", error="403 pods is forbidden"))
    [result] = writer(api, entry(pod_action="create"), applied=failed).write(
        [item(performer(), None, live_service())]
    )
    error = "403 pods is forbidden; status update failed: 500 etcdserver: request timed out"
    assert result["error"] == error
    assert [body["message"] for method, path, body in api.bodies if path == EVENTS_PATH] == [error]


def test_a_replaced_pod_makes_the_performer_upgrading_and_drift_is_reported():
    api = FakeKubeApi()
    drift = {"pod": ["spec.containers[performer].image: have x, want y"], "service": ["spec.ports: ..."]}
    plan_entry = entry(pod_action="replace", upgrading=False, drift=drift)
    [result] = writer(api, plan_entry).write([item(performer(), ready_pod(), live_service())])
    assert result["phase"] == "Pending" and result["baseline"] is None  # the old pod is going
    assert ("Warning", "PodDrifted") in events(api) and ("Warning", "ServiceDrifted") in events(api)

    api = FakeKubeApi()
    plan_entry = entry(pod_action="replace", upgrading=True, upgraded_at=NOW)
    [result] = writer(api, plan_entry).write([item(performer(), ready_pod(), live_service())])
    assert result["phase"] == "Upgrading"
    assert ("Normal", "Upgrading") in events(api)


@pytest.mark.parametrize(("status", "stalled"), [(422, True), (403, False)])
def test_a_replacement_pod_refused_before_the_old_one_went_leaves_the_performer_serving(status, stalled):
    """A spec edit whose new pod the API server refuses (object_writer checks it before deleting the
    old one): the Performer is ready on the old pod, not Upgrading, and says why its spec is not in
    effect; an invalid pod is an error only another spec can fix (Stalled)."""
    api = FakeKubeApi()
    message = f"{status} refused (the new pod was refused: the pod it would replace is left in place)"
    error = {"msg": message, "status": status, "kept_pod": True, "invalid": status == 422}
    refused = {**applied("Pod"), "changed": False, "error": error}
    del refused["result"]
    plan_entry = entry(pod_action="replace", upgrading=True, upgraded_at=NOW)
    [result] = writer(api, plan_entry, replaced=registered(refused)).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert (result["phase"], result["ready"], result["error"], result["stalled"]) == (
        "Running", True, message, stalled
    )  # fmt: skip
    patch = next(body for method, path, body in api.bodies if method == "PATCH")
    assert "lastUpgrade" not in patch["status"]
    reconciled = next(c for c in patch["status"]["conditions"] if c["type"] == "Reconciled")
    assert (reconciled["status"], reconciled["message"]) == ("False", message)
    assert ("Normal", "Upgrading") not in events(api)


def raising_on(api: FakeKubeApi, method: str, error: Exception) -> object:
    """`api`, but the first call of `method` raises `error` (no answer: a connection reset)."""
    raised: list[Exception] = []

    def call(verb: str, path: str, **options: object) -> tuple:
        if verb == method and not raised:
            raised.append(error)
            raise error
        return api(verb, path, **options)

    return call


@pytest.mark.parametrize(
    ("method", "refusal"),
    [
        ("DELETE", (403, 'pods "performer-p" is forbidden: User "op" cannot delete resource "pods"')),
        ("DELETE", (500, 'Internal error occurred: failed calling webhook "w.example.com": EOF')),
        ("DELETE", ConnectionResetError(104, "Connection reset by peer")),
        ("POST", ConnectionResetError(104, "Connection reset by peer")),  # the new pod's dry run
    ],
)
def test_a_replacement_whose_old_pod_was_not_deleted_leaves_the_performer_serving_on_it(method, refusal):
    """The old pod's DELETE refused or not answered (or the dry run before it): the pod is there,
    Running and Ready, so the status says so, with the error, and no upgrade began."""
    api = FakeKubeApi({POD_PATH: ready_pod()})
    if isinstance(refusal, Exception):
        call = raising_on(api, method, refusal)
    else:
        api.fail(method, POD_PATH, *refusal)
        call = api
    new_pod = {**ready_pod(), "spec": {"containers": [{"name": "performer", "image": "img:2"}]}}
    [replaced] = ObjectWriter(call, field_manager="fm").write([new_pod], "replaced")
    assert POD_PATH in api.objects
    plan_entry = entry(pod_action="replace", upgrading=True, upgraded_at=NOW)
    previous = compute_status(performer(), ready_pod(), now="2026-11-22T09:00:00Z")
    [result] = writer(api, plan_entry, replaced=as_registered([replaced], "replaced")).write(
        [item(performer(previous), ready_pod(), live_service())]
    )
    error = replaced["error"]["msg"]
    assert [result[k] for k in ("phase", "ready", "error", "stalled")] == ["Running", True, error, False]
    patch = next(body for method, path, body in api.bodies if path == STATUS_PATH)
    assert "lastUpgrade" not in patch["status"]
    conditions = {c["type"]: (c["status"], c["message"]) for c in patch["status"]["conditions"]}
    assert conditions["Ready"][0] == conditions["Scheduled"][0] == "True"
    assert conditions["Reconciled"] == ("False", error)
    assert events(api) == [("Warning", "ReconcileFailed")]


def test_a_service_restore_that_changed_nothing_is_no_repair():
    # A mutating admission policy sets the Service's session affinity on every write: the plan sees
    # it differ from the rendered one, the restore writes nothing (the API server answers it
    # unchanged), and no client changed it: no ServiceDrifted Warning, no repair counted.
    drift = {"service": ['spec.sessionAffinity: have "ClientIP", want "None"']}
    kept = applied("Service", live_service())
    kept["changed"] = False
    for restore, reported in ((kept, []), (applied("Service", live_service()), ["ServiceDrifted"])):
        api = FakeKubeApi()
        [result] = writer(api, entry(drift=drift), updated=registered(restore)).write(
            [item(performer(), ready_pod(), live_service())]
        )
        assert result["repairs"] == reported and result["error"] is None
        assert [reason for _, reason in events(api) if reason == "ServiceDrifted"] == reported


def test_a_restore_that_changed_nothing_leaves_a_memo_so_that_the_next_run_does_not_restore_again():
    drift = {"service": ['spec.sessionAffinity: have "ClientIP", want "None"']}
    kept = applied("Service", live_service())
    kept["changed"] = False
    [result] = writer(FakeKubeApi(), entry(drift=drift), updated=registered(kept)).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert result["memo"] == {"service_admitted": {"resourceVersion": "42", "drift": drift["service"]}}

    admitted = result["memo"]["service_admitted"]  # the next run's plan found the same: no restore
    [result] = writer(FakeKubeApi(), entry(service_admitted=admitted)).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert result["memo"] == {"service_admitted": admitted} and result["repairs"] == []

    restored = applied("Service", live_service())  # another client's change, restored: no memo
    [result] = writer(FakeKubeApi(), entry(drift=drift), updated=registered(restored)).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert "memo" not in result and result["repairs"] == ["ServiceDrifted"]


def test_children_adopted_are_said_in_a_normal_event_and_counted_as_a_repair():
    api = FakeKubeApi()
    [result] = writer(api, entry(pod_action="adopt", adopted=["Pod", "Service"])).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert result["repairs"] == ["Adopted"] and result["error"] is None
    [(kind, message)] = [(body["type"], body["message"]) for method, path, body in api.bodies
                         if path == EVENTS_PATH and body["reason"] == "Adopted"]  # fmt: skip
    assert kind == "Normal"
    assert message.startswith("adopted the performer pod and the Service of its name, which no object owned")


def test_a_finalizer_run_reports_whether_the_children_are_gone():
    deleted = registered(applied("Pod", {}), applied("Service", {}))
    plan_entry = {"error": None, "children_gone": False, "children_deleted": 2}
    [result] = writer(FakeKubeApi(), plan_entry, deleted=deleted, state="absent").write(
        [item(performer(deleting=True))]
    )
    assert result["phase"] == "Terminating" and result["children_gone"] is True

    pending = registered({**applied("Pod", {}), "pending": True}, applied("Service", {}))
    [result] = writer(FakeKubeApi(), plan_entry, deleted=pending, state="absent").write(
        [item(performer(deleting=True))]
    )
    assert result["children_gone"] is False
    nothing_left = {"error": None, "children_gone": True, "children_deleted": 0}
    [result] = writer(FakeKubeApi(), nothing_left, state="absent").write([item(performer(deleting=True))])
    assert result["children_gone"] is True


def test_results_go_to_the_file_one_json_line_each_as_each_is_known_and_the_batch_is_reported_by_key(
    tmp_path,
):
    path = tmp_path / "results.jsonl"
    in_the_file_when_reported = []

    def report(result: dict) -> None:
        results_file.append(result)
        names = [json.loads(line)["name"] for line in path.read_text().splitlines()]
        in_the_file_when_reported.append(result["name"] in names)

    with ResultsFile(str(path)) as results_file:
        crs = [performer() for _ in range(3)]
        for cr, name in zip(crs, "pqr", strict=True):
            cr["metadata"]["name"] = name
        batch = [item(cr, ready_pod(), live_service()) for cr in crs]
        results = writer(FakeKubeApi()).write(batch, on_result=report)
    assert in_the_file_when_reported == [True, True, True]  # each line is there as soon as its result
    assert sorted(json.loads(line)["name"] for line in path.read_text().splitlines()) == ["p", "q", "r"]
    assert [r["name"] for r in results] == ["p", "q", "r"]  # returned in the batch's order
    assert batch_keys([item(performer())]) == ["ns/p"]


def test_a_render_error_is_reported_stalled_and_an_apply_error_is_not():
    api = FakeKubeApi()
    render_error = 'spec.hardwareRequirements.gpuType: unknown GPU type "x"'
    [result] = writer(api, {"error": render_error}).write([item(performer())])
    assert (result["error"], result["stalled"]) == (render_error, True)
    patch = next(body for method, path, body in api.bodies if method == "PATCH")
    assert patch["status"]["grpcEndpoint"] == ""  # no Service
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert ("Warning", "Stalled") in events(api)
    failed = registered(applied("Pod", error="500 boom"))
    [result] = writer(FakeKubeApi(), entry(pod_action="create"), applied=failed).write(
        [item(performer(), None, live_service())]
    )
    assert (result["error"], result["stalled"]) == ("500 boom", False)


def failing_since(since: str) -> dict:
    """A Performer status whose Reconciled condition has been False since `since`."""
    status = compute_status(performer(), None, now=since, error="500 boom")
    assert next(c for c in status["conditions"] if c["type"] == "Reconciled")["status"] == "False"
    return status


@pytest.mark.parametrize(
    ("since", "error", "retry_after"),
    [
        (None, "500 boom", 1.0),  # it just began failing
        ("2026-11-22T09:59:52Z", "500 boom", 8.0),  # as long as it has been failing
        ("2026-11-22T09:00:00Z", "500 boom", 300.0),
        ("2026-11-22T09:00:00Z", 'failed calling webhook "x": connection refused', 30.0),
    ],
)
def test_a_failed_reconcile_says_when_to_retry_as_long_as_it_has_been_failing(since, error, retry_after):
    """ansible-operator's requeue (roles/performer/tasks/finish.yml) for an error retrying may fix."""
    cr = performer(failing_since(since) if since else None)
    failed = registered(applied("Pod", error=error))
    [result] = writer(FakeKubeApi(), entry(pod_action="create"), applied=failed).write(
        [item(cr, None, live_service())]
    )
    assert result["error"] == error and result["retry_after"] == retry_after


def test_no_retry_is_said_for_success_a_stall_a_deletion_or_a_status_that_was_not_written():
    [succeeded] = writer(FakeKubeApi()).write([item(performer(), ready_pod(), live_service())])
    [stalled] = writer(FakeKubeApi(), {"error": 'unknown GPU type "x"'}).write([item(performer())])
    deleting = writer(FakeKubeApi(), entry(children_gone=False), state="absent", deleted=registered())
    [deletion] = deleting.write([item(performer(deleting=True), ready_pod(), live_service())])
    api = FakeKubeApi()
    api.fail("PATCH", STATUS_PATH, 500)
    [unwritten] = writer(api).write([item(performer(), ready_pod(), live_service())])
    assert stalled["error"] and unwritten["error"]
    assert [r.get("retry_after") for r in (succeeded, stalled, deletion, unwritten)] == [None] * 4


def test_children_refused_by_a_terminating_namespace_make_the_performer_terminating_without_error():
    # The namespace controller deleted the pod and the Service, and no create can succeed there: the
    # Performer goes with its namespace, so nothing is retried (no error) and the status says so.
    def refused(kind: str) -> dict:
        result = applied(kind, error="403 unable to create new content in namespace ns")
        result["error"]["namespace_terminating"] = True
        return result

    was_ready = compute_status(performer(), ready_pod(), now=NOW)
    api = FakeKubeApi()
    created = registered(refused("Pod"), refused("Service"))
    [result] = writer(api, entry(pod_action="create"), created=created).write([item(performer(was_ready))])
    assert [result[k] for k in ("phase", "ready", "error", "stalled", "baseline", "recheck_after")] == [
        "Terminating",
        False,
        None,
        False,
        None,
        None,
    ]
    [patch] = [body for method, path, body in api.bodies if method == "PATCH"]
    conditions = {c["type"]: c for c in patch["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == "NamespaceTerminating"
    assert (
        conditions["Ready"]["message"]
        == "the Performer's namespace ns is being deleted, and the Performer with it"
    )
    assert conditions["Reconciled"]["status"] == "True" and conditions["Stalled"]["status"] == "False"
    # Another failure of the same run is still one.
    created = registered(refused("Pod"), applied("Service", error="500 boom"))
    [result] = writer(FakeKubeApi(), entry(pod_action="create"), created=created).write([item(performer())])
    assert (result["phase"], result["error"]) == ("Terminating", "500 boom")


def test_a_replaced_pod_that_ended_says_why_and_the_new_pod_is_reported():
    api = FakeKubeApi({POD_PATH: {**ready_pod(), "status": {"phase": "Pending"}}})
    ended = {**ready_pod(), "status": {"phase": "Failed", "reason": "Evicted"}}
    replaced = registered(applied("Pod", {"metadata": {"name": "performer-p", "resourceVersion": "11"}}))
    plan_entry = entry(pod_action="replace", pod_ended="Evicted: The node was low on resource: memory.")
    [result] = writer(api, plan_entry, replaced=replaced).write([item(performer(), ended, live_service())])
    assert (result["phase"], result["ready"], result["error"]) == ("Pending", False, None)
    assert result["baseline"] is not None and result["recheck_after"] is None
    assert result["repairs"] == ["PodReplaced"]  # what the loop counts (hourglass_repairs_total)
    [event] = [body for method, path, body in api.bodies if path == EVENTS_PATH]
    assert (event["type"], event["reason"]) == ("Warning", "PodReplaced")
    assert event["message"] == (
        "replaced the performer pod, which ended (Evicted: The node was low on resource: memory.)"
    )


def test_the_count_of_ended_pods_is_written_by_the_run_that_replaces_one_and_removed_once_ready():
    api = FakeKubeApi()
    ended = {**ready_pod(), "status": {"phase": "Failed", "reason": "OutOfcpu"}}
    plan_entry = entry(pod_action="replace", pod_ended="OutOfcpu", ended_pods=3)
    cr = performer({"phase": "Failed", "ready": False, "endedPods": 2})
    writer(api, plan_entry).write([item(cr, ended, live_service())])
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    assert patch["status"]["endedPods"] == 3

    api = FakeKubeApi()
    starting = compute_status(cr, {**ready_pod(), "status": {"phase": "Pending"}}, now=NOW)
    assert starting["endedPods"] == 2
    writer(api).write([item(performer(starting), ready_pod(), live_service())])
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    assert patch["status"]["ready"] is True
    assert "endedPods" in patch["status"] and patch["status"]["endedPods"] is None  # a merge patch removes it


def test_an_ended_pod_too_young_to_replace_is_looked_at_again_when_it_is_old_enough():
    ended = {**ready_pod(), "status": {"phase": "Failed", "reason": "OutOfcpu"}}
    api = FakeKubeApi()
    waiting = entry(replace_ended_pod_after=7.0, replace_ended_pod_at="2026-11-22T10:00:06Z")
    [result] = writer(api, waiting).write([item(performer(), ended, live_service())])
    assert (result["phase"], result["recheck_after"]) == ("Failed", 7.0)
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    ready = next(c for c in patch["status"]["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "the performer pod ended (OutOfcpu); it is replaced at 2026-11-22T10:00:06Z"
    unscheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "none"}
    unschedulable = {**ready_pod(), "spec": {}, "status": {"phase": "Pending", "conditions": [unscheduled]}}
    [result] = writer(FakeKubeApi(), entry(replace_ended_pod_after=400.0)).write(
        [item(performer(), unschedulable, live_service())]
    )
    assert result["recheck_after"] == 301.0  # the sooner of the two: the stall


def test_an_event_said_again_is_counted_on_the_first_and_another_is_its_own():
    api = FakeKubeApi()
    said = [("Warning", "PodReplaced", "replaced the performer pod, which ended (Evicted: low on memory)")]
    record_events(api, performer(), said, "hourglass-operator", NOW)
    record_events(api, performer(), said, "hourglass-operator", "2026-11-22T10:00:10Z")
    other = [("Warning", "PodReplaced", "replaced the performer pod, which ended (OutOfcpu: no cpu)")]
    record_events(api, performer(), other, "hourglass-operator", NOW)

    posted = [(path, body["metadata"]["name"]) for method, path, body in api.bodies if method == "POST"]
    first, again, another = (name for _, name in posted)
    assert first == again != another and first.startswith("p.")
    assert all(path == EVENTS_PATH for path, _ in posted)
    # The second POST was refused as AlreadyExists; the Event is read by an empty patch, then counted.
    assert [(m, p) for m, p in api.calls if p.startswith(EVENTS_PATH + "/")] == [
        ("PATCH", f"{EVENTS_PATH}/{first}"),
        ("PATCH", f"{EVENTS_PATH}/{first}"),
    ]
    read, patch = [body for method, _, body in api.bodies if method == "PATCH"]
    assert read == {} and patch["metadata"] == {"resourceVersion": "101"}  # no count lost to a race
    counted = api.objects[f"{EVENTS_PATH}/{first}"]
    assert (counted["count"], counted["firstTimestamp"], counted["lastTimestamp"]) == (
        2,
        NOW,
        "2026-11-22T10:00:10Z",
    )
    assert counted["message"] == said[0][2] and counted["involvedObject"]["uid"] == "u1"


def test_a_count_that_races_another_writer_is_read_and_written_again():
    api = FakeKubeApi()
    raced = []

    def call(method: str, path: str, **options: object) -> tuple[int, object]:
        if method == "PATCH" and options["body"] and not raced:  # another writer counted first
            raced.append(options["body"])
            return 409, {"message": "the object has been modified; please apply your changes again"}
        return api(method, path, **options)

    said = [("Normal", "Ready", "performer is ready at performer-p.ns.svc.cluster.local")]
    record_events(call, performer(), said, "hourglass-operator", NOW)
    record_events(call, performer(), said, "hourglass-operator", NOW)
    patches = [body for method, _, body in api.bodies if method == "PATCH"]
    assert len(raced) == 1 and [bool(body) for body in patches] == [False, False, True]  # read, read, count


def lost_pod() -> dict:
    pod = ready_pod()
    pod["metadata"] = {**pod["metadata"], "deletionTimestamp": "2026-11-22T09:59:00Z"}
    return pod


def test_a_pod_deleted_without_its_node_says_so_and_the_status_waits_for_the_new_pod():
    api = FakeKubeApi()
    plan_entry = entry(pod_action="wait", lost_pod_node="node-a", force_delete_pod_after=30.0)
    forced = registered(applied("Pod"))
    [result] = writer(api, plan_entry, forced=forced).write([item(performer(), lost_pod(), live_service())])
    assert (result["ready"], result["error"], result["recheck_after"]) == (False, None, 30.0)
    assert result["repairs"] == ["LostPodDeleted"]  # what the loop counts (hourglass_repairs_total)
    assert result["baseline"] is None  # the run its deletion triggers creates the pod
    [event] = [body for method, path, body in api.bodies if path == EVENTS_PATH and body["type"] == "Warning"]
    assert event["reason"] == "LostPodDeleted"
    assert event["message"].startswith(
        "deleted the performer pod without waiting for its node node-a, which is"
    )
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    ready = next(c for c in patch["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodNotCreated"


def test_a_pod_whose_node_is_ready_again_is_not_reported_deleted_and_is_looked_at_again():
    api = FakeKubeApi()
    plan_entry = entry(pod_action="wait", lost_pod_node="node-a", force_delete_pod_after=30.0)
    left = registered({**applied("Pod"), "changed": False, "node_ready": True})
    [result] = writer(api, plan_entry, forced=left).write([item(performer(), lost_pod(), live_service())])
    assert (result["repairs"], result["recheck_after"], result["error"]) == ([], 30.0, None)
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    ready = next(c for c in patch["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodTerminating"
    refused = registered(applied("Pod", error="403 cannot read the pod's node node-a: forbidden"))
    [result] = writer(FakeKubeApi(), plan_entry, forced=refused).write(
        [item(performer(), lost_pod(), live_service())]
    )
    assert result["error"] == "403 cannot read the pod's node node-a: forbidden" and result["repairs"] == []


def test_while_a_terminating_pod_is_not_overdue_the_status_says_when_it_goes_without_its_node():
    api = FakeKubeApi()
    waiting = entry(
        pod_action="wait", force_delete_pod_after=21.0, force_delete_pod_at="2026-11-22T10:00:20Z"
    )
    [result] = writer(api, waiting).write([item(performer(), lost_pod(), live_service())])
    assert result["recheck_after"] == 21.0
    [patch] = [body for method, path, body in api.bodies if path == STATUS_PATH]
    ready = next(c for c in patch["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == (
        "PodTerminating",
        "the performer pod is being deleted; should its node not confirm it, it is deleted without it at "
        "2026-11-22T10:00:20Z",
    )


def test_children_whose_adoption_failed_are_not_said_adopted():
    """The adoption's write was refused: the children are still no object's, and the failure is the
    run's error, not a Normal Adopted Event."""
    api = FakeKubeApi()
    refused = registered(applied("Pod", error="pods is forbidden"), applied("Service", live_service()))
    [result] = writer(api, entry(pod_action="adopt", adopted=["Pod", "Service"]), applied=refused).write(
        [item(performer(), ready_pod(), live_service())]
    )
    assert result["error"] and "forbidden" in result["error"]
    assert "Adopted" not in result["repairs"]
    assert [body for _, path, body in api.bodies if path == EVENTS_PATH and body["reason"] == "Adopted"] == []


def status_patches(api: FakeKubeApi) -> list[dict]:
    return [body for method, path, body in api.bodies if method == "PATCH" and path == STATUS_PATH]


def test_the_upgrading_status_is_written_once_when_the_wait_for_the_old_pod_begins():
    """Written with its Event as the wait begins, and kept in the item: asked again while the wait
    goes on (the same status), nothing more is written or said."""
    api = FakeKubeApi()
    statuses = writer(api, entry(pod_action="replace", upgrading=True, upgraded_at=NOW))
    waiting = item(performer(), ready_pod(), live_service())
    statuses.write_upgrading(waiting)
    assert [patch["status"]["phase"] for patch in status_patches(api)] == ["Upgrading"]
    assert events(api) == [("Normal", "Upgrading")]
    assert waiting["_hourglass_eigenlayer_io_performer"]["status"]["phase"] == "Upgrading"

    statuses.write_upgrading(waiting)
    assert len(status_patches(api)) == 1 and len(events(api)) == 1


def test_an_upgrading_status_the_api_server_refused_is_not_said_nor_kept():
    api = FakeKubeApi()
    api.fail("PATCH", STATUS_PATH, 500)
    waiting = item(performer(), ready_pod(), live_service())
    writer(api, entry(pod_action="replace", upgrading=True, upgraded_at=NOW)).write_upgrading(waiting)
    assert events(api) == [] and waiting["_hourglass_eigenlayer_io_performer"]["status"] == {}
