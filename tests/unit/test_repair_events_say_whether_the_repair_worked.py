"""A repair's Event says whether it worked: an ended pod the run could not replace is not said replaced."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import repair_events

pytestmark = pytest.mark.unit

ENDED = {"pod_ended": "Evicted: low on memory"}


def test_an_ended_pod_the_run_could_not_replace_is_said_not_replaced() -> None:
    assert repair_events(ENDED, None) == [
        ("Warning", "PodReplaced", "replaced the performer pod, which ended (Evicted: low on memory)")
    ]
    assert repair_events(ENDED, "create pod: 403 exceeded quota") == [
        (
            "Warning",
            "PodReplaced",
            "could not replace the performer pod, which ended (Evicted: low on memory)",
        )
    ]
