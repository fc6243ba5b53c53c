"""Phase precedence, each condition's observedGeneration, Reconciling's reason and message, message length."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    compute_status,
    pod_is_ready,
)

pytestmark = pytest.mark.unit

NOW, LATER = "2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z"


def performer(status: dict | None = None, generation: int = 1) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "generation": generation}, "status": status or {}}


def pod(phase: str = "Running", ready: str = "True") -> dict:
    return {"metadata": {"name": "performer-p"}, "spec": {"nodeName": "n1"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}}  # fmt: skip


def cond(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_a_performer_being_deleted_is_terminating_even_while_its_pod_is_being_replaced() -> None:
    status = compute_status(performer(), pod(), deleting=True, upgrading=True, upgraded_at=NOW, now=NOW)
    assert (status["phase"], status["ready"]) == ("Terminating", False)
    assert cond(status, "Ready")["reason"] == "Terminating"


def test_every_condition_observed_the_generation_of_the_spec_it_was_computed_from() -> None:
    first = compute_status(performer(generation=1), pod(), now=NOW)
    edited = compute_status(performer(first, generation=2), pod(), now=LATER)
    assert edited["observedGeneration"] == 2
    assert [c["observedGeneration"] for c in edited["conditions"]] == [2] * 5
    assert [c["lastTransitionTime"] for c in edited["conditions"]] == [NOW] * 5  # none changed status


def test_a_stalled_performer_is_not_reconciling_and_says_it_is_stalled() -> None:
    status = compute_status(performer(), None, error="bad gpuType", permanent=True, now=NOW)
    reconciling = cond(status, "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("False", "Stalled")


def test_reconciling_says_the_phase_and_why_the_performer_is_not_ready() -> None:
    reconciling = cond(compute_status(performer(), None, now=NOW), "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "Progressing")
    assert reconciling["message"] == "Pending: the performer pod does not exist yet"


def test_a_long_error_is_kept_up_to_the_length_a_condition_message_may_have() -> None:
    long_error = "x" * 5000
    assert cond(compute_status(performer(), None, error=long_error, now=NOW), "Reconciled")["message"] == (
        long_error
    )
    too_long = "y" * 40000
    message = cond(compute_status(performer(), None, error=too_long, now=NOW), "Reconciled")["message"]
    assert message == "y" * 32768


@pytest.mark.parametrize("phase", ["Pending", "Failed", "Succeeded", "Unknown"])
def test_a_pod_is_ready_only_while_it_runs_whatever_its_ready_condition_still_says(phase: str) -> None:
    assert pod_is_ready(pod()) is True
    assert pod_is_ready(pod(phase=phase)) is False
