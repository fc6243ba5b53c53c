"""The unverified-submission budget holds 64 MiB by default and counts each submission as at least 4 KiB."""

from __future__ import annotations

import pytest
from hourglass_executor.server.unverified import BudgetExceededError, UnverifiedBudget

pytestmark = pytest.mark.unit

MIB = 1024 * 1024


def admit_and_release(budget: UnverifiedBudget, size: int) -> None:
    with budget.admit(size):
        pass


def test_the_default_budget_admits_64_mib_at_once_and_not_a_byte_more() -> None:
    budget = UnverifiedBudget()
    with budget.admit(64 * MIB):
        assert budget.in_use == 64 * MIB
    with pytest.raises(BudgetExceededError, match=f"at most {64 * MIB}"):
        admit_and_release(budget, 64 * MIB + 1)
    assert budget.in_use == 0


def test_a_small_submission_costs_4_kib() -> None:
    budget = UnverifiedBudget(limit=3 * 4096 - 1)
    with budget.admit(1), budget.admit(0):
        assert budget.in_use == 2 * 4096
        with pytest.raises(BudgetExceededError, match="8192 bytes of task submissions already wait"):
            admit_and_release(budget, 1)
    assert budget.in_use == 0
