"""The leader elector's calls that the lease tests leave open: a candidate's calls and the release are
bounded in time too, a release never clears a lease another candidate holds, a failed release is
logged rather than raised, a leader at its renew deadline still gets a real call, and an elector that
lost the lease stops for good (the operator exits; it must not lead again meanwhile)."""

from __future__ import annotations

import logging
import threading

import kubernetes
import urllib3

from hourglass_operator.leader import MIN_CALL_SECONDS
from tests.unit.test_leader import LEASE_DURATION, Clock, Leases, elector


def test_a_candidates_lease_calls_are_bounded_by_the_renew_deadline():
    """A candidate whose read hangs on a half-open connection would wait for as long as TCP lets it,
    never to notice the lease falling free."""
    leases, clock = Leases(), Clock()
    holder, candidate = elector(leases, "holder", clock), elector(leases, "candidate", clock)
    holder.step()
    calls = len(leases.timeouts)
    candidate.step()  # reads a lease held by another
    clock.now += LEASE_DURATION
    assert candidate.step() and candidate.is_leader.is_set()  # reads, then takes the expired lease
    assert leases.timeouts[calls:] == [candidate.renew_deadline] * 3


def test_releasing_the_lease_is_bounded_in_time_and_clears_the_holder():
    leases, clock = Leases(), Clock()
    holder = elector(leases, "holder", clock)
    holder.step()
    calls = len(leases.timeouts)
    holder.release()
    assert leases.timeouts[calls:] == [holder.renew_deadline] * 2
    assert (leases.lease.spec.holder_identity, leases.lease.spec.renew_time) == (None, None)


def test_a_release_leaves_a_lease_another_candidate_holds_alone():
    """A leader stopped after another took the lease over (it was cut off for a lease duration) must
    not clear the new leader's lease: a third candidate would then lead beside it."""
    leases, clock = Leases(), Clock()
    old, new = elector(leases, "old", clock), elector(leases, "new", clock)
    old.step()
    new.step()
    clock.now += LEASE_DURATION
    assert new.step() and new.is_leader.is_set()
    writes = list(leases.writes)
    old.release()
    assert leases.lease.spec.holder_identity == "new"
    assert leases.writes == writes


def test_a_release_that_fails_is_logged_not_raised(caplog):
    leases, clock = Leases(), Clock()
    holder = elector(leases, "holder", clock)
    holder.step()

    def unavailable(*_, **__):
        raise urllib3.exceptions.ReadTimeoutError(None, "/lease", "Read timed out.")

    leases.read_namespaced_lease = unavailable
    with caplog.at_level(logging.WARNING, logger="hourglass_operator.leader"):
        holder.release()
    assert "could not release the leader lease" in caplog.text


def test_a_leader_past_its_renew_deadline_still_gets_a_call_of_some_length():
    """Not one of no time (a zero socket timeout fails at once, a negative one is refused)."""
    leases, clock = Leases(), Clock()
    leader = elector(leases, "leader", clock)
    leader.step()
    clock.now += leader.renew_deadline + 5.0
    assert leader._call_timeout() == MIN_CALL_SECONDS > 0


def test_an_elector_that_lost_the_lease_stops_and_never_takes_it_again():
    """The operator cancels its runs and exits when it loses the lease; meanwhile its elector must not
    go on trying, and lead again beside the standby that takes over."""
    leases, clock = Leases(), Clock()
    lost = threading.Event()
    leader = elector(leases, "leader", clock)
    leader.on_lost, leader.retry_period = lost.set, 0.001
    leader.step()
    read = leases.read_namespaced_lease

    def unavailable(*_, **__):
        clock.now += leader.renew_deadline + 1.0  # each failed call takes past the renew deadline
        raise kubernetes.client.ApiException(status=503, reason="Service Unavailable")

    leases.read_namespaced_lease = unavailable
    thread = leader.start()
    try:
        assert lost.wait(10)
        leases.read_namespaced_lease = read  # the API server answers again
        thread.join(10)
        assert not thread.is_alive(), "the elector goes on after losing the lease"
        assert not leader.is_leader.is_set() and leases.lease.spec.holder_identity == "leader"
        assert leases.writes == ["leader"]  # no renewal after the loss
    finally:
        leader.stop.set()
        thread.join(10)


def test_the_transitions_count_on_from_what_the_lease_says():
    """leaseTransitions counts every change of holder over the lease's life, whoever wrote before."""
    leases, clock = Leases(), Clock()
    first = elector(leases, "first", clock)
    first.step()
    leases.lease.spec.lease_transitions = 3  # as earlier takeovers left it
    first.step()
    assert leases.lease.spec.lease_transitions == 3
    second = elector(leases, "second", clock)
    second.step()
    clock.now += LEASE_DURATION
    assert second.step() and leases.lease.spec.lease_transitions == 4
