"""LogLimit's defaults are the documented 50 lines of one kind per 10 s window."""

from __future__ import annotations

import logging

import pytest
from hourglass_executor.server.log_limit import LogLimit

from tests.support.clock import ManualClock

pytestmark = pytest.mark.unit

LOGGER = "hourglass_executor.test_log_limit_defaults"


def test_fifty_lines_per_ten_seconds_then_a_count_of_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(now=100.0)
    limit = LogLimit(logging.getLogger(LOGGER), clock=clock)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(52):
            limit.log(logging.INFO, "refused", {"code": "X"}, {})
        clock.now += 9.5
        limit.log(logging.INFO, "refused", {"code": "X"}, {})  # still the first window
        clock.now += 0.5
        limit.log(logging.INFO, "refused", {"code": "X"}, {})  # a new window
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == ["refused"] * 50 + ["refused not logged", "refused"]
    assert caplog.records[50].not_logged == 3  # type: ignore[attr-defined]
