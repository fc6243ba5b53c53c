"""CircuitBreaker state machine, driven by an injected clock."""

from __future__ import annotations

import pytest
from hourglass_executor.performers.circuit import CircuitBreaker


@pytest.fixture
def breaker(clock):
    return CircuitBreaker(failure_threshold=3, reset_timeout=10.0, clock=clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_starts_closed_and_stays_closed_below_the_threshold(breaker):
    assert breaker.state == "closed"
    fail(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_success_resets_the_consecutive_failure_count(breaker):
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 2


def test_opens_after_the_threshold_and_rejects_until_the_reset_timeout(breaker, clock):
    fail(breaker, 3)
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 9.9
    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_lets_exactly_one_trial_through(breaker, clock):
    fail(breaker, 3)
    clock.now += 10
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()
    assert breaker.state == "half_open"


def test_a_successful_trial_closes(breaker, clock):
    fail(breaker, 3)
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_a_failed_trial_reopens_for_another_reset_timeout(breaker, clock):
    fail(breaker, 3)
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_results_arriving_while_open_change_nothing(breaker, clock):
    fail(breaker, 3)
    clock.now += 5
    breaker.record_success()
    assert breaker.state == "open"
    breaker.record_failure()  # must not extend the open period
    clock.now += 5
    assert breaker.state == "half_open"


def test_a_trial_never_reported_does_not_block_forever(breaker, clock):
    fail(breaker, 3)
    clock.now += 10
    assert breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_threshold_of_one(clock):
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1.0, clock=clock)
    fail(breaker, 1)
    assert breaker.state == "open"


@pytest.mark.parametrize(("threshold", "timeout"), [(0, 1.0), (1, -1.0)])
def test_rejects_bad_settings(threshold, timeout):
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=threshold, reset_timeout=timeout)
