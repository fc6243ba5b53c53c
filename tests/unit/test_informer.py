"""The informer's handling of watch events: cache updates, handler calls, bookmarks, 410 Gone.
(List+watch against a real API server is exercised by every operator cluster test.)"""

from __future__ import annotations

import json
import threading
import tracemalloc
from types import SimpleNamespace

import pytest
import urllib3

from hourglass_operator.informer import GoneError, Informer


def obj(name: str, rv: str) -> dict:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv}}


@pytest.fixture
def informer() -> tuple[Informer, list]:
    calls: list = []
    handler = lambda kind, old, new: calls.append((kind, old and old["metadata"]["resourceVersion"],  # noqa: E731
                                                   new and new["metadata"]["resourceVersion"]))  # fmt: skip
    return Informer(None, "/api/v1/pods", handler, stop=threading.Event()), calls


def test_events_update_the_cache_and_call_the_handler(informer):
    inf, calls = informer
    assert inf._dispatch({"type": "ADDED", "object": obj("a", "5")}, "1") == "5"
    assert inf._dispatch({"type": "MODIFIED", "object": obj("a", "7")}, "5") == "7"
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "7"
    assert inf._dispatch({"type": "DELETED", "object": obj("a", "9")}, "7") == "9"
    assert inf.get("ns/a") is None
    assert calls == [("ADDED", None, "5"), ("MODIFIED", "5", "7"), ("DELETED", "7", None)]


def test_bookmarks_only_advance_the_resource_version(informer):
    inf, calls = informer
    assert inf._dispatch({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}}, "1") == "42"
    assert calls == [] and inf.list() == []


def test_gone_means_list_again(informer):
    inf, _ = informer
    with pytest.raises(GoneError):
        inf._dispatch({"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}, "1")


def test_update_keeps_the_newer_object(informer):
    inf, _ = informer
    inf._dispatch({"type": "ADDED", "object": obj("a", "10")}, "1")
    inf.update(obj("a", "8"))
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "10"
    inf.update(obj("a", "12"))
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "12"


def api_pod(name: str) -> dict:
    """A Pod as the API server returns it for a Performer (the operator's spec, kwok's status)."""
    probe = {"grpc": {"port": 8080, "service": ""}, "failureThreshold": 3, "periodSeconds": 10,
             "successThreshold": 1, "timeoutSeconds": 5}  # fmt: skip
    condition = {"lastProbeTime": None, "lastTransitionTime": "2026-12-04T22:11:23Z", "status": "True"}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": f"performer-{name}", "namespace": "ns", "resourceVersion": "426", "generation": 1,
            "uid": f"e6df16c3-8332-418f-910b-{name:0>12}", "creationTimestamp": "2026-12-04T22:11:23Z",
            "annotations": {"hourglass.eigenlayer.io/spec-hash": "50b88031c0064c3c8dfe7dbdf0324645" * 2},
            "labels": {"app": "hourglass-performer", "app.kubernetes.io/managed-by": "hourglass-operator",
                       "hourglass.eigenlayer.io/avs": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                       "hourglass.eigenlayer.io/performer": name},
            "ownerReferences": [{"apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer",
                                 "name": name, "uid": f"469585bc-6612-474d-b0ec-{name:0>12}",
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "hourglass-operator", "operation": "Update", "apiVersion": "v1",
                               "fieldsType": "FieldsV1",
                               "fieldsV1": {f"f:{k}": {} for k in ("metadata", "spec", "status") * 20}}],
        },
        "spec": {
            "containers": [{
                "name": "performer", "image": "ghcr.io/example/performer:v1.0.0",
                "imagePullPolicy": "IfNotPresent", "livenessProbe": probe, "readinessProbe": probe,
                "ports": [{"containerPort": 8080, "name": "grpc", "protocol": "TCP"}], "resources": {},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            }],
            "automountServiceAccountToken": False, "dnsPolicy": "ClusterFirst", "enableServiceLinks": False,
            "nodeName": "kwok-general-b", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {"runAsGroup": 65532, "runAsNonRoot": True, "runAsUser": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "tolerations": [{"effect": "NoExecute", "key": f"node.kubernetes.io/{key}", "operator": "Exists",
                             "tolerationSeconds": 300} for key in ("not-ready", "unreachable")],
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.0.0.2", "qosClass": "BestEffort",
            "startTime": "2026-12-04T22:11:23Z",
            "conditions": [{**condition, "type": kind} for kind in
                           ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": "performer", "ready": True, "restartCount": 0, "started": True,
                                   "image": "ghcr.io/example/performer:v1.0.0", "imageID": "",
                                   "state": {"running": {"startedAt": "2026-12-04T22:11:24Z"}}}],
        },
    }  # fmt: skip


def test_a_write_of_an_object_whose_deletion_the_watch_delivered_does_not_bring_it_back(informer):
    """The operator removes a Performer's finalizer (which deletes it) and records the answer; the
    watch may deliver the DELETED event in between. No later event would remove it again: a Performer
    that stayed would count as Terminating forever (HourglassPerformersStuckTerminating)."""
    inf, _ = informer
    inf._dispatch({"type": "ADDED", "object": obj("a", "10")}, "1")
    inf._dispatch({"type": "DELETED", "object": obj("a", "12")}, "10")
    inf.update(obj("a", "11"))  # the answer of the write that deleted it
    assert inf.get("ns/a") is None and inf.list() == []
    inf.update(obj("b", "3"))  # nor does a write add an object the watch never delivered
    assert inf.list() == []


def test_the_cache_drops_managed_fields_without_touching_the_callers_object(informer):
    inf, _ = informer
    inf._dispatch({"type": "ADDED", "object": api_pod("a")}, "1")
    assert inf.get("ns/performer-a")["metadata"].keys() >= {"name", "labels", "ownerReferences"}
    assert "managedFields" not in inf.get("ns/performer-a")["metadata"]
    written = api_pod("a")
    written["metadata"]["resourceVersion"] = "427"
    inf.update(written)  # what a write returned: the caller may still use it
    assert "managedFields" in written["metadata"]
    assert inf.get("ns/performer-a")["metadata"]["resourceVersion"] == "427"
    assert "managedFields" not in inf.get("ns/performer-a")["metadata"]


def test_what_a_caller_does_with_an_object_leaves_the_cache_as_it_was(informer):
    inf, _ = informer
    inf._dispatch({"type": "ADDED", "object": api_pod("a")}, "1")
    got = inf.get("ns/performer-a")
    got["status"]["phase"] = "Failed"
    inf.list()[0]["metadata"]["labels"].clear()
    unmanaged = {k: v for k, v in api_pod("a")["metadata"].items() if k != "managedFields"}
    assert inf.get("ns/performer-a") == {**api_pod("a"), "metadata": unmanaged}
    assert "ns/performer-a" in inf and "ns/performer-b" not in inf


def test_a_cached_pod_costs_a_fraction_of_its_decoded_size(informer):
    """The caches hold every Performer's Performer, Pod and Service for the operator's life: at 1000
    Performers, decoded dicts were 28 MB of the operator's memory; pickled, they are about 5 MB."""
    inf, _ = informer
    count = 200
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):  # decoded from the watch's JSON, as the informer gets them
            inf._dispatch({"type": "ADDED", "object": json.loads(json.dumps(api_pod(f"p{i}")))}, "1")
        per_pod = (tracemalloc.get_traced_memory()[0] - before) / count
        decoded = [json.loads(json.dumps(api_pod(f"q{i}"))) for i in range(count)]
        for pod in decoded:  # as the cache had them before: decoded, without managedFields
            del pod["metadata"]["managedFields"]
        per_decoded = (tracemalloc.get_traced_memory()[0] - before) / count - per_pod
    finally:
        tracemalloc.stop()
    assert len(decoded) == count and len(inf.list()) == count
    assert per_pod < per_decoded / 3, f"{per_pod:.0f} bytes a cached pod, {per_decoded:.0f} decoded"


class Stream:
    """A watch response: its events, then the end of the stream or a broken connection."""

    def __init__(self, events: list[dict], broken: bool = False) -> None:
        self.events, self.broken = events, broken

    def stream(self, *_args, **_kwargs):
        for event in self.events:
            yield (json.dumps(event) + "\n").encode()
        if self.broken:
            raise urllib3.exceptions.ProtocolError("Connection broken: ConnectionResetError(104)")

    def release_conn(self) -> None:
        pass


def test_a_watch_that_breaks_off_resumes_after_the_last_event_it_handled(informer, monkeypatch):
    """A reset connection in the middle of a watch: the next watch starts from the last event (here
    a bookmark) and not from where the broken one began, which would replay events the cache has."""
    inf, calls = informer
    items = [obj("a", "9"), obj("b", "9")]
    listed = {"kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": items}
    first = [
        {"type": "MODIFIED", "object": obj("a", "11")},
        {"type": "DELETED", "object": obj("b", "12")},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
    ]
    watched_from: list[str] = []

    def request(params: dict, timeout: float):
        if params.get("watch") != "true":
            return SimpleNamespace(data=json.dumps(listed).encode())
        watched_from.append(params["resourceVersion"])
        if len(watched_from) == 1:
            return Stream(first, broken=True)
        inf._stop.set()
        return Stream([])

    monkeypatch.setattr(inf, "_request", request)
    monkeypatch.setattr(inf._stop, "wait", lambda timeout: False)  # no back-off to sit through
    inf._run()
    assert watched_from == ["10", "20"]
    assert calls == [
        ("ADDED", None, "9"), ("ADDED", None, "9"), ("MODIFIED", "9", "11"), ("DELETED", "9", None)
    ]  # fmt: skip


def test_a_deletion_of_an_object_not_cached_reaches_the_handler_with_the_deleted_object(informer):
    """A replayed deletion (the watch resumed from before it): the handler gets what was deleted, not
    None, which each handler would have failed on, over and over while the same events came again."""
    inf, calls = informer
    assert inf._dispatch({"type": "DELETED", "object": obj("gone", "12")}, "10") == "12"
    assert calls == [("DELETED", "12", None)] and inf.get("ns/gone") is None


def test_an_event_older_than_what_this_process_wrote_and_recorded_changes_nothing(informer):
    """Two status writes of this process, recorded as written (`update`): the watch's event of the
    first, arriving after the second, would take the cache back to it, and the handler would take
    this process's own earlier write for another client's change."""
    inf, calls = informer
    inf._dispatch({"type": "ADDED", "object": obj("a", "10")}, "1")
    inf.update(obj("a", "12"))  # the answer of the second write
    assert inf._dispatch({"type": "MODIFIED", "object": obj("a", "11")}, "10") == "11"
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "12"
    assert inf._dispatch({"type": "MODIFIED", "object": obj("a", "13")}, "11") == "13"
    assert calls == [("ADDED", None, "10"), ("MODIFIED", "12", "13")]
