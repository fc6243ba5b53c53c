"""Deadlines written in a Performer's status are whole seconds rounded up: a deadline rounded down
would fall due before its wait was over (an ended pod replaced, a lost pod deleted too soon)."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import seconds_after


def test_a_deadline_a_fraction_of_a_second_away_is_the_next_whole_second():
    assert seconds_after("2026-01-01T00:00:00Z", 0.4) == "2026-01-01T00:00:01Z"
    assert seconds_after("2026-01-01T00:00:00Z", 9.5) == "2026-01-01T00:00:10Z"
    assert seconds_after("2026-01-01T00:00:00Z", 10) == "2026-01-01T00:00:10Z"
