"""What a run's report means for each resource of its batch."""

from __future__ import annotations

import pytest

from hourglass_operator.outcomes import NO_RESULT, Outcome, Verdict, outcome
from hourglass_operator.runs import RunResult

BASELINE = {"spec_hash": "h"}


def judged(entry: dict | None, state: str, failure: str | None = None, own: bool = True) -> Outcome:
    result = RunResult(ok=failure is None, per_cr={} if entry is None else {"ns/a": entry}, failure=failure)
    return outcome("ns/a", result, state, roles_own_deletion=own)


def test_a_present_run_that_reported_the_resource():
    assert judged({"baseline": BASELINE}, "present") == Outcome(Verdict.SUCCEEDED, baseline=BASELINE)
    assert judged({"error": "pull", "baseline": BASELINE}, "present", "t: x") == Outcome(
        Verdict.FAILED, "pull", baseline=BASELINE
    )


def test_a_finalizer_run_that_reported_the_resource():
    assert judged({"children_gone": True}, "absent") == Outcome(Verdict.SUCCEEDED, release_finalizer=True)
    assert judged({"children_gone": True, "error": "x"}, "absent") == Outcome(
        Verdict.SUCCEEDED, release_finalizer=True
    )
    assert judged({"children_gone": False}, "absent") == Outcome(Verdict.SUCCEEDED)
    assert judged({"children_gone": False, "error": "x"}, "absent").verdict is Verdict.FAILED
    assert judged({"baseline": BASELINE}, "absent").baseline is None  # a deleted one has no baseline


@pytest.mark.parametrize(("failure", "reason"), [("t: boom", "t: boom"), (None, NO_RESULT)])
def test_a_resource_the_run_reported_nothing_for(failure, reason):
    assert judged(None, "present", failure) == Outcome(Verdict.UNREPORTED, reason)
    assert judged(None, "absent", failure) == Outcome(Verdict.DELETE_CHILDREN, reason)
    assert judged(None, "absent", failure, own=False) == Outcome(Verdict.UNREPORTED, reason)


def test_an_error_reported_stalled_is_stalled_not_failed():
    result = RunResult(ok=True, per_cr={"ns/a": {"error": "gpuType", "stalled": True}})
    assert outcome("ns/a", result, "present", roles_own_deletion=True).verdict is Verdict.STALLED
