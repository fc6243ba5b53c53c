"""The pacing of the pods the operator renders differently now (hourglass_operator/rollouts.py)."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    ROLLOUT_STARTED,
    ROLLOUT_WAITING,
)

from hourglass_operator.rollouts import Limit, Rollouts, parse_limit


def performer(phase: str, ready: bool) -> dict:
    return {"status": {"phase": phase, "ready": ready}}


@pytest.mark.parametrize(
    ("text", "total", "slots"),
    [("1", 1000, 1), ("5", 3, 5), ("25%", 1000, 250), ("25%", 3, 1), ("10%", 15, 1), ("100%", 7, 7)],
)
def test_the_limit_is_a_number_or_a_percentage_rounded_down_and_at_least_one(text, total, slots):
    assert parse_limit(text).of(total) == slots


@pytest.mark.parametrize("text", ["0", "-1", "0%", "101%", "x", "2.5", "", "%"])
def test_a_limit_that_is_not_a_positive_number_or_percentage_names_the_flag_and_the_rule(text):
    rule = r"--rollout-max-unavailable: .* is not a whole number of at least 1, or a percentage"
    with pytest.raises(ValueError, match=rule):
        parse_limit(text)


def test_a_run_is_granted_the_free_slots_and_a_run_beside_it_none_until_they_are_given_back():
    rollouts = Rollouts(Limit(count=2), lambda: 10)
    assert rollouts.grant() == 2
    assert rollouts.grant() == 0
    rollouts.settled("ns/a", ROLLOUT_STARTED, ready=False)
    assert rollouts.give_back(0) == [] and rollouts.give_back(2) == []
    assert rollouts.grant() == 1  # one is being replaced


def test_a_slot_comes_free_when_a_replaced_performer_is_ready_again_and_wakes_one_waiting():
    rollouts = Rollouts(Limit(count=1), lambda: 10)
    rollouts.grant()
    rollouts.settled("ns/a", ROLLOUT_STARTED, ready=False)
    for key in ("ns/c", "ns/b"):
        rollouts.settled(key, ROLLOUT_WAITING, ready=True)
    assert rollouts.give_back(1) == []
    assert rollouts.counts() == (1, 2)
    assert rollouts.observed("ns/a", performer("Upgrading", False)) == []
    assert rollouts.observed("ns/a", performer("Running", True)) == ["ns/b"]
    assert rollouts.counts() == (0, 1)


def test_upgrading_performers_count_against_the_limit_as_found_after_a_restart():
    rollouts = Rollouts(Limit(count=1), lambda: 10)
    rollouts.observed("ns/a", performer("Upgrading", False))  # a spec change's, or the last operator's
    assert rollouts.grant() == 0
    rollouts.settled("ns/b", ROLLOUT_WAITING, ready=True)
    assert rollouts.forget("ns/a") == ["ns/b"]  # deleted: its slot is free


def test_a_replacement_already_ready_when_reported_holds_no_slot():
    rollouts = Rollouts(Limit(count=1), lambda: 10)
    rollouts.settled("ns/a", ROLLOUT_STARTED, ready=True)
    assert rollouts.grant() == 1


def test_a_waiting_performer_that_a_run_reports_otherwise_no_longer_waits():
    rollouts = Rollouts(Limit(count=1), lambda: 10)
    rollouts.settled("ns/a", ROLLOUT_WAITING, ready=True)
    rollouts.settled("ns/a", None, ready=True)  # its spec changed: replaced at once
    assert rollouts.counts() == (0, 0)
