"""What the status fast path writes when it cannot keep a Performer in step (its pod or Service gone):
the status it patches says what is true now, the last full reconcile's outcome included, and nothing
is written where the status already says the Performer is not ready. And whose status it is: what a
full reconcile wrote is the operator's, what another client wrote over the fast path's own patch is
not."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_status as status_rules

from hourglass_operator.status_sync import Outcome, StatusSync
from tests.support.fake_rest import FakeRest
from tests.unit.test_status_sync import LABELS, performer, pod, service

pytestmark = pytest.mark.unit

REPORTED = {"spec_hash": "h1", "pod_labels": LABELS, "service_resource_version": "42",
            "cluster_domain": "cluster.local"}  # fmt: skip


def fast_path() -> tuple[StatusSync, FakeRest]:
    rest = FakeRest(lambda method, path, content_type, body: (200, {"metadata": {"name": "p"}}))
    sync = StatusSync(rest, group="g", version="v", plural="performers")
    sync.record(performer(), REPORTED)
    return sync, rest


def status_patches(rest: FakeRest) -> list[dict]:
    return [body["status"] for method, path, _, body in rest.calls if path.endswith("/status")]


def event_reasons(rest: FakeRest) -> list[str]:
    return [body["reason"] for method, path, _, body in rest.calls if path.endswith("/events")]


def condition(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def not_ready_pod() -> dict:
    unready = pod()
    unready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    return unready


def test_a_ready_performer_whose_pod_went_is_not_said_failed_when_its_last_reconcile_succeeded():
    sync, rest = fast_path()
    ready = {**performer(), "status": status_rules.compute_status(performer(), pod())}
    assert condition(ready["status"], "Reconciled")["status"] == "True"
    assert sync.sync(ready, None, service())[0] is Outcome.ESCALATE
    [patch] = status_patches(rest)
    assert (patch["phase"], patch["ready"]) == ("Pending", False)
    assert condition(patch, "Reconciled") == condition(ready["status"], "Reconciled")


def test_a_ready_performer_whose_pod_went_keeps_the_failure_its_last_reconcile_reported():
    sync, rest = fast_path()
    failed = status_rules.compute_status(performer(), pod(), error="500 the Service could not be restored")
    assert failed["ready"] is True  # its pod serves, its Service write failed
    assert sync.sync({**performer(), "status": failed}, None, service())[0] is Outcome.ESCALATE
    [patch] = status_patches(rest)
    assert (patch["phase"], patch["ready"]) == ("Failed", False)
    reconciled = condition(patch, "Reconciled")
    assert (reconciled["status"], reconciled["message"]) == ("False", "500 the Service could not be restored")


def test_a_ready_performer_whose_service_went_no_longer_says_its_endpoint():
    sync, rest = fast_path()
    ready = {**performer(), "status": status_rules.compute_status(performer(), pod())}
    assert ready["status"]["grpcEndpoint"]
    assert sync.sync(ready, not_ready_pod(), None)[0] is Outcome.ESCALATE
    [patch] = status_patches(rest)
    assert patch["grpcEndpoint"] == "" and patch["ready"] is False


def test_a_performer_that_already_says_it_is_not_ready_is_escalated_without_a_write():
    """Its run writes the status: the fast path only hurries a `ready` that would lie."""
    sync, rest = fast_path()
    pending = {**performer(), "status": status_rules.compute_status(performer(), not_ready_pod())}
    assert pending["status"]["ready"] is False
    assert sync.sync(pending, None, None) == (Outcome.ESCALATE, None)
    assert sync.sync(pending, not_ready_pod(), None) == (Outcome.ESCALATE, None)
    assert rest.calls == []


def test_the_status_a_full_reconcile_wrote_is_followed_not_restored():
    """After the fast path's own patch, a full reconcile writes the status: that status is the
    operator's, so the next sync follows the pod from it, with no StatusRestored Warning."""
    sync, rest = fast_path()
    written = status_rules.compute_status(performer(), pod())
    assert sync.sync({**performer(), "status": written}, not_ready_pod(), service())[0] is Outcome.PATCHED
    by_the_run = status_rules.compute_status(performer(), pod(), error="500 the Service was not restored")
    sync.record(performer(), REPORTED)  # that run's baseline, as the loop records it
    outcome, _ = sync.sync({**performer(), "status": by_the_run}, not_ready_pod(), service())
    assert outcome is Outcome.PATCHED and "StatusRestored" not in event_reasons(rest)


def test_a_status_another_client_wrote_over_the_fast_paths_own_patch_is_restored_with_a_warning():
    sync, rest = fast_path()
    written = status_rules.compute_status(performer(), pod())
    assert sync.sync({**performer(), "status": written}, not_ready_pod(), service())[0] is Outcome.PATCHED
    ours = status_patches(rest)[-1]
    foreign = {**ours, "phase": "Running", "ready": True}  # another client says it is ready again
    outcome, _ = sync.sync({**performer(), "status": foreign}, not_ready_pod(), service())
    assert outcome is Outcome.RESTORED and event_reasons(rest)[-1] == "StatusRestored"
    assert (status_patches(rest)[-1]["phase"], status_patches(rest)[-1]["ready"]) == (ours["phase"], False)
