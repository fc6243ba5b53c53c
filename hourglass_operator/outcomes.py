"""What a run's report means for each custom resource of its batch (the controller acts on it):

- its entry has no error: it succeeded (back-off and warnings reset). After a finalizer run
  (`absent`) the finalizer is released once the children are gone; until then the resource is
  looked at again soon (their deletion events requeue it too). Children gone means the finalizer's
  job is done, whatever else the entry says failed;
- its entry has an error: it failed, and is retried with back-off; the error is in the status the
  run wrote. An error the entry marks `stalled` (its spec cannot be reconciled: retrying cannot fix
  it) is not retried: the resource waits for a change of its spec (`stalls`);
- the run reported nothing for it (it failed before the status task, was cancelled, or its module
  died): it is retried with back-off and a Warning Event says why, since nothing else does. When
  that was a finalizer run that only deletes the children, the loop deletes them itself instead,
  so the finalizer is never stranded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from hourglass_operator.runs import ABSENT, PRESENT, RunResult

NO_RESULT = "no result for this resource"


class Verdict(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STALLED = "stalled"  # failed in a way only a spec change can fix: not retried
    UNREPORTED = "unreported"
    DELETE_CHILDREN = "delete children"  # unreported finalizer run: the loop deletes them itself


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str | None = None  # why it failed or went unreported
    release_finalizer: bool = False  # SUCCEEDED after a finalizer run that saw the children gone
    baseline: dict[str, Any] | None = None  # what a successful `present` run established


def outcome(key: str, result: RunResult, state: str, *, roles_own_deletion: bool) -> Outcome:
    """The outcome for the resource `key` of a run in `state`."""
    entry = result.per_cr.get(key)
    baseline = (entry or {}).get("baseline") if state == PRESENT else None
    if entry is None:
        reason = result.failure or NO_RESULT
        if state == ABSENT and roles_own_deletion:
            return Outcome(Verdict.DELETE_CHILDREN, reason)
        return Outcome(Verdict.UNREPORTED, reason)
    children_gone = state == ABSENT and bool(entry.get("children_gone"))
    if entry.get("error") and not children_gone:
        verdict = Verdict.STALLED if entry.get("stalled") else Verdict.FAILED
        return Outcome(verdict, entry["error"], baseline=baseline)
    return Outcome(Verdict.SUCCEEDED, release_finalizer=children_gone, baseline=baseline)
