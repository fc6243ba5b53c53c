"""Requeue periods are checked as Go's time.ParseDuration reads them: every unit, nothing after the last."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.go_duration import duration_error

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("period", ["300ns", "250us", "250\u00b5s", "1.5ms", "12.5s", "2m", "1h2m3.5s"])
def test_every_unit_go_knows_is_a_duration(period: str) -> None:
    assert duration_error(period) is None


@pytest.mark.parametrize("period", ["5sx", "5s ", "1m30", "5 s", "5S"])
def test_a_period_with_anything_after_or_without_its_last_unit_is_refused(period: str) -> None:
    assert duration_error(period) == f"period: {period!r} is not a Go duration such as 5s or 1m30s"
