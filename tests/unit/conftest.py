"""Fixtures shared by the unit tests (tests/unit and tests/unit/executor)."""

from __future__ import annotations

import pytest

from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand (`clock.now += seconds`)."""
    return ManualClock()
