"""A Performer waiting for a rollout slot stays RolloutPending through the status fast path."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    CR_VAR,
    OBSERVED_VAR,
    StatusWriter,
)

from hourglass_operator.status_sync import Outcome, StatusSync
from tests.support.fake_kube_api import FakeKubeApi
from tests.support.fake_rest import FakeRest
from tests.unit.test_status_sync import LABELS, performer, pod, service

pytestmark = pytest.mark.unit

NOW = "2026-11-22T10:00:00Z"


def reconciled_reason(status: dict) -> str:
    return next(c["reason"] for c in status["conditions"] if c["type"] == "Reconciled")


def test_the_fast_path_keeps_a_performer_waiting_for_its_rollout_slot_saying_so() -> None:
    plan = {"ns/p": {"error": None, "upgrading": False, "upgraded_at": None, "pod_action": "keep",
                     "spec_hash": "h0", "pod_labels": LABELS, "rollout": "waiting"}}  # fmt: skip
    cr = performer()
    api = FakeKubeApi()
    [result] = StatusWriter(api, plan=plan, now=NOW).write(
        [{CR_VAR: cr, OBSERVED_VAR: {"pod": pod("h0"), "service": service()}}]
    )
    written = next(body["status"] for method, path, body in api.bodies if path.endswith("/status"))
    assert (result["rollout"], reconciled_reason(written)) == ("waiting", "RolloutPending")

    rest = FakeRest(lambda *_: (200, {"metadata": {"name": "p"}}))
    sync = StatusSync(rest, group="g", version="v", plural="performers")
    sync.record(cr, result["baseline"])
    not_ready = pod("h0")
    not_ready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    outcome, _ = sync.sync({**cr, "status": written}, not_ready, service())
    assert outcome is Outcome.PATCHED
    patch = next(body["status"] for method, path, _, body in rest.calls if path.endswith("/status"))
    assert patch["ready"] is False and reconciled_reason(patch) == "RolloutPending"
