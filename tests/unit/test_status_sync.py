"""The status fast path's guard: a status-only sync happens only while the Performer, its Pod and
its Service still match what the last full reconcile established; anything else escalates."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_status as status_rules

from hourglass_operator.status_sync import (
    SPEC_HASH,
    ApiError,
    Baseline,
    Outcome,
    StatusSync,
    _matches,
)
from tests.support.fake_rest import FakeRest
from tests.support.paths import REPO

pytestmark = pytest.mark.unit

LABELS = {"app": "hourglass-performer", "hourglass.eigenlayer.io/performer": "p"}
BASELINE = Baseline(
    uid="u1", generation=3, spec_hash="h1", pod_labels=LABELS, service_resource_version="42",
    cluster_domain="cluster.local",
)  # fmt: skip


def performer(**meta) -> dict:
    return {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1",
        "kind": "Performer",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "generation": 3, **meta},
        "spec": {"avsAddress": "0x" + "ab" * 20, "image": "img:1"},
    }


def pod(spec_hash: str = "h1", labels: dict | None = None, **meta) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"name": "performer-p", "namespace": "ns", "labels": LABELS if labels is None else labels,
                     "annotations": {SPEC_HASH: spec_hash}, **meta},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


def ended_pod() -> dict:
    return {**pod(), "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}}


def service(resource_version: str = "42", **meta) -> dict:
    return {"kind": "Service", "metadata": {"name": "performer-p", "namespace": "ns",
                                            "resourceVersion": resource_version, **meta}}  # fmt: skip


def test_an_unchanged_performer_with_its_pod_and_service_matches():
    assert _matches(BASELINE, performer(), pod(), service())


def test_extra_pod_labels_do_not_matter():
    assert _matches(BASELINE, performer(), pod(labels={**LABELS, "team": "x"}), service())


@pytest.mark.parametrize(
    "cr, child_pod, child_service",
    [
        (performer(generation=4), pod(), service()),  # spec edited since
        (performer(uid="u2"), pod(), service()),  # deleted and recreated under the same name
        (performer(deletionTimestamp="2026-11-23T00:00:00Z"), pod(), service()),
        (performer(), None, service()),  # pod deleted
        (performer(), pod(deletionTimestamp="2026-11-23T00:00:00Z"), service()),
        (performer(), ended_pod(), service()),  # evicted: only a run replaces it
        (performer(), pod(spec_hash="h0"), service()),  # someone else's pod, or an old one
        (performer(), pod(labels={"app": "hourglass-performer"}), service()),  # a label removed
        (performer(), pod(labels={**LABELS, "app": "other"}), service()),  # a label changed
        (performer(), pod(), None),  # service deleted
        (performer(), pod(), service("43")),  # service edited (selector, ports, ...)
        (performer(), pod(), service(deletionTimestamp="2026-11-23T00:00:00Z")),
    ],
    ids=[
        "generation", "uid", "performer-deleting", "no-pod", "pod-deleting", "pod-ended", "spec-hash",
        "label-removed", "label-changed", "no-service", "service-changed", "service-deleting",
    ],
)  # fmt: skip
def test_anything_else_needs_a_full_reconcile(cr, child_pod, child_service):
    assert not _matches(BASELINE, cr, child_pod, child_service)


def test_without_a_baseline_every_sync_escalates_and_record_none_forgets():
    sync = StatusSync(None, group="g", version="v", plural="performers")
    assert sync.sync(performer(), pod(), service()) == (Outcome.ESCALATE, None)
    reported = {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                "cluster_domain": "cluster.local"}  # fmt: skip
    sync.record(performer(), reported)
    current = performer(status={})
    status = status_rules.compute_status(current, pod(), cluster_domain="cluster.local")
    unchanged = copy.deepcopy(current)
    unchanged["status"] = status
    assert sync.sync(unchanged, pod(), service()) == (Outcome.UNCHANGED, None)
    sync.record(performer(), None)
    assert sync.sync(unchanged, pod(), service()) == (Outcome.ESCALATE, None)


def test_the_rules_are_the_collections_module_utils():
    assert str(REPO / "plugins" / "module_utils" / "performer_status.py") == str(
        __import__("pathlib").Path(status_rules.__file__).resolve()
    )
    assert status_rules.grpc_endpoint("p", "ns", "example.org") == "performer-p.ns.svc.example.org"


@pytest.mark.parametrize("answer, expected", [(404, (Outcome.UNCHANGED, None)), (500, ApiError)])
def test_a_status_patch_on_a_performer_gone_is_nothing_and_a_refused_one_is_retried(answer, expected):
    """A refusal propagates: the status worker retries it with back-off."""
    rest = FakeRest(lambda *_: (answer, {"message": "no"}))
    sync = StatusSync(rest, group="g", version="v", plural="performers")
    reported = {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                "cluster_domain": "cluster.local"}  # fmt: skip
    sync.record(performer(), reported)
    if expected is ApiError:
        with pytest.raises(ApiError, match="HTTP 500: no"):
            sync.sync(performer(status={}), pod(), service())
    else:
        assert sync.sync(performer(status={}), pod(), service()) == expected
    assert rest.calls[0][:2] == ("PATCH", "/apis/g/v/namespaces/ns/performers/p/status")


def test_a_ready_performer_whose_pod_ended_says_so_at_once_and_escalates():
    rest = FakeRest(lambda *_: (200, {"metadata": {"name": "p"}}))
    sync = StatusSync(rest, group="g", version="v", plural="performers")
    sync.record(performer(), {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                              "cluster_domain": "cluster.local"})  # fmt: skip
    ready = {**performer(), "status": status_rules.compute_status(performer(), pod())}
    outcome, updated = sync.sync(ready, ended_pod(), service())
    assert outcome is Outcome.ESCALATE and updated is not None
    patch = next(body["status"] for method, path, _, body in rest.calls if path.endswith("/status"))
    assert (patch["phase"], patch["ready"]) == ("Failed", False)
    assert next(c["message"] for c in patch["conditions"] if c["type"] == "Ready") == (
        "the performer pod ended (Evicted: low on memory)"
    )


def test_a_performer_waiting_for_its_rollout_keeps_saying_so_as_its_pod_changes():
    """The run that kept its pod wrote Reconciled=RolloutPending; the fast path, following the pod, keeps
    that condition rather than writing it back to ReconcileSucceeded (which the next run would undo)."""
    rest = FakeRest(lambda *_: (200, {"metadata": {"name": "p"}}))
    sync = StatusSync(rest, group="g", version="v", plural="performers")
    sync.record(performer(), {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                              "cluster_domain": "cluster.local", "rollout_pending": True})  # fmt: skip
    written = status_rules.compute_status(performer(), pod(), rollout_pending=True)
    reconciled = next(c for c in written["conditions"] if c["type"] == "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("True", "RolloutPending")
    not_ready = pod()
    not_ready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    outcome, _ = sync.sync({**performer(), "status": written}, not_ready, service())
    assert outcome is Outcome.PATCHED
    patch = next(body["status"] for method, path, _, body in rest.calls if path.endswith("/status"))
    assert patch["ready"] is False
    assert next(c["reason"] for c in patch["conditions"] if c["type"] == "Reconciled") == "RolloutPending"


def test_a_status_computed_from_a_copy_the_performer_has_moved_on_from_is_not_written():
    """The fast path patches only over the copy it computed from (its resourceVersion): a status a run
    wrote meanwhile, which the cache has not seen yet, is never overwritten, nor said in Events."""
    calls = []

    def answer(method, path, content_type, body):
        calls.append((method, path, body))
        if path.endswith("/status"):
            return 409, {"kind": "Status", "reason": "Conflict", "message": "the object has been modified"}
        return 201, body

    group = "hourglass.eigenlayer.io"
    sync = StatusSync(FakeRest(answer), group=group, version="v1alpha1", plural="performers")
    cr = performer(resourceVersion="7")
    sync.record(cr, {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
                     "cluster_domain": "cluster.local"})  # fmt: skip
    assert sync.sync(cr, pod(), service()) == (Outcome.STALE, None)
    [(method, path, body)] = calls  # no Event
    assert (method, path.endswith("/status"), body["metadata"]) == ("PATCH", True, {"resourceVersion": "7"})
