"""Leader election judged by the time this process observed the lease change, with fake clocks and
an in-memory Lease API that keeps resourceVersions like the API server: a holder whose wall clock
is far behind keeps the lease while it renews, one whose clock is far ahead loses it one lease
duration (of the candidate's clock) after it stopped, and two candidates never both hold it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import kubernetes
import pytest
import urllib3

from hourglass_operator.leader import LeaderElector

LEASE_DURATION = 15.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value


class Leases:
    """The Lease API: read, create, replace guarded by the resourceVersion."""

    def __init__(self) -> None:
        self.lease: kubernetes.client.V1Lease | None = None
        self.version = 0
        self.writes: list[str | None] = []  # the holder of every successful write
        self.timeouts: list[float | None] = []  # the `_request_timeout` of every call

    def read_namespaced_lease(
        self, name: str, namespace: str, _request_timeout: float | None = None
    ) -> kubernetes.client.V1Lease:
        self.timeouts.append(_request_timeout)
        if self.lease is None:
            raise kubernetes.client.ApiException(status=404, reason="Not Found")
        return self.lease

    def _store(self, body: dict | kubernetes.client.V1Lease) -> kubernetes.client.V1Lease:
        if isinstance(body, kubernetes.client.V1Lease):
            body = kubernetes.client.ApiClient().sanitize_for_serialization(body)
        spec, name, namespace = body["spec"], body["metadata"]["name"], body["metadata"]["namespace"]
        self.version += 1
        self.lease = kubernetes.client.V1Lease(
            metadata=kubernetes.client.V1ObjectMeta(
                name=name, namespace=namespace, resource_version=str(self.version)
            ),
            spec=kubernetes.client.V1LeaseSpec(
                holder_identity=spec.get("holderIdentity"),
                lease_duration_seconds=spec.get("leaseDurationSeconds"),
                acquire_time=_time(spec.get("acquireTime")),
                renew_time=_time(spec.get("renewTime")),
                lease_transitions=spec.get("leaseTransitions"),
            ),
        )
        self.writes.append(self.lease.spec.holder_identity)
        return self.lease

    def create_namespaced_lease(
        self, namespace: str, body: dict, _request_timeout: float | None = None
    ) -> kubernetes.client.V1Lease:
        self.timeouts.append(_request_timeout)
        if self.lease is not None:
            raise kubernetes.client.ApiException(status=409, reason="AlreadyExists")
        return self._store(body)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: object, _request_timeout: float | None = None
    ) -> kubernetes.client.V1Lease:
        self.timeouts.append(_request_timeout)
        version = (
            body.metadata.resource_version
            if isinstance(body, kubernetes.client.V1Lease)
            else body["metadata"].get("resourceVersion")
        )
        if version != str(self.version):
            raise kubernetes.client.ApiException(status=409, reason="Conflict")
        return self._store(body)


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def elector(
    leases: Leases, identity: str, clock: Clock, skew: timedelta = timedelta(), **options: object
) -> LeaderElector:
    """A candidate whose wall clock is `skew` off the true time (the monotonic `clock` + T0)."""
    candidate = LeaderElector(
        None, "ns", "lease", identity, is_leader=threading.Event(), stop=threading.Event(),
        on_lost=lambda: None, lease_duration=LEASE_DURATION, renew_deadline=10.0, retry_period=2.0,
        clock=clock, wall_clock=lambda: T0 + timedelta(seconds=clock.now) + skew, **options,
    )  # fmt: skip
    candidate.coordination = leases
    return candidate


@pytest.mark.parametrize("skew", [timedelta(hours=-5), timedelta(hours=5)], ids=["behind", "ahead"])
def test_a_renewing_holder_keeps_the_lease_whatever_its_clock_says(skew):
    leases, clock = Leases(), Clock()
    holder, other = elector(leases, "holder", clock, skew), elector(leases, "other", clock)
    assert holder.step() and holder.is_leader.is_set()
    for _ in range(100):  # 200 s, many lease durations
        clock.now += 2.0
        other.step()
        holder.step()
        assert not other.is_leader.is_set()
        assert holder.is_leader.is_set()
    assert set(leases.writes) == {"holder"}


@pytest.mark.parametrize("skew", [timedelta(hours=-5), timedelta(hours=5)], ids=["behind", "ahead"])
def test_a_holder_that_stops_renewing_loses_the_lease_after_its_duration_of_local_time(skew):
    leases, clock = Leases(), Clock()
    holder, other = elector(leases, "holder", clock, skew), elector(leases, "other", clock)
    holder.step()
    other.step()  # sees the lease for the first time
    clock.now += 1.0
    holder.step()  # the last renewal
    other.step()  # sees it change: expiry counts from here
    last_seen = clock.now
    while clock.now < last_seen + LEASE_DURATION - 0.5:
        clock.now += 0.5
        assert not other.try_acquire_or_renew(), f"taken over after {clock.now - last_seen} s"
    clock.now = last_seen + LEASE_DURATION
    assert other.step() and other.is_leader.is_set()
    lease = leases.lease.spec
    assert (lease.holder_identity, lease.lease_transitions) == ("other", 1)


def test_a_new_candidate_waits_a_whole_lease_duration_even_for_a_lease_renewed_long_ago():
    """The renewTime of a lease written by a clock far behind looks hours old; only the local
    observation counts."""
    leases, clock = Leases(), Clock()
    holder = elector(leases, "holder", clock, timedelta(hours=-5))
    holder.step()
    candidate = elector(leases, "candidate", clock)
    assert not candidate.try_acquire_or_renew()
    clock.now += LEASE_DURATION - 0.1
    assert not candidate.try_acquire_or_renew()
    clock.now += 0.1
    assert candidate.try_acquire_or_renew()


def test_the_lease_duration_is_the_one_the_lease_states():
    leases, clock = Leases(), Clock()
    holder = elector(leases, "holder", clock)
    holder.lease_duration = 40.0
    holder.step()
    candidate = elector(leases, "candidate", clock)
    candidate.step()
    clock.now += LEASE_DURATION + 1
    assert not candidate.try_acquire_or_renew()  # its own 15 s passed, the lease's 40 s did not
    clock.now += 40.0 - LEASE_DURATION
    assert candidate.try_acquire_or_renew()


def test_a_released_lease_is_taken_at_once():
    leases, clock = Leases(), Clock()
    holder, other = elector(leases, "holder", clock), elector(leases, "other", clock)
    holder.step()
    other.step()
    holder.release()
    assert other.step() and other.is_leader.is_set()


def test_two_candidates_racing_for_an_expired_lease_do_not_both_win():
    leases, clock = Leases(), Clock()
    holder = elector(leases, "holder", clock)
    first, second = elector(leases, "first", clock), elector(leases, "second", clock)
    holder.step()
    first.step()
    second.step()
    clock.now += LEASE_DURATION
    read = leases.read_namespaced_lease("lease", "ns")  # both read the same version...
    leases.read_namespaced_lease = lambda *_, **__: read
    first.step()
    second.step()  # ...and the second write conflicts
    assert (first.is_leader.is_set(), second.is_leader.is_set()) == (True, False)
    assert leases.lease.spec.holder_identity == "first"


def test_a_leader_that_cannot_renew_within_the_deadline_steps_down():
    leases, clock = Leases(), Clock()
    lost = []
    leader = elector(leases, "leader", clock)
    leader.on_lost = lambda: lost.append(clock.now)
    leader.step()

    def unavailable(*_, **__):
        raise kubernetes.client.ApiException(status=503, reason="Service Unavailable")

    leases.read_namespaced_lease = unavailable
    renewed = clock.now
    while clock.now <= renewed + 10.0:
        assert leader.step() and leader.is_leader.is_set()
        clock.now += 2.0
    assert not leader.step()
    assert not leader.is_leader.is_set()
    assert lost == [clock.now]


def test_renewing_keeps_the_acquire_time_and_transitions_and_counts_a_takeover():
    leases, clock = Leases(), Clock()
    holder = elector(leases, "holder", clock)
    holder.step()
    acquired = leases.lease.spec.acquire_time
    clock.now += 2.0
    holder.step()
    spec = leases.lease.spec
    assert (spec.acquire_time, spec.lease_transitions) == (acquired, 0)
    assert spec.renew_time == acquired + timedelta(seconds=2)


def test_a_lease_call_that_hangs_cannot_keep_a_leader_past_its_renew_deadline():
    """A half-open connection: each read hangs for as long as it is allowed to. Every call of the
    leader is bounded by what is left of its renew deadline, so it steps down by then, before any
    other candidate may take the lease (a lease duration after the last renewal)."""
    leases, clock = Leases(), Clock()
    lost = []
    leader = elector(leases, "leader", clock)
    leader.on_lost = lambda: lost.append(clock.now)
    leader.step()
    renewed = clock.now
    renew_deadline = leader.renew_deadline

    def hangs(name, namespace, _request_timeout=None):
        leases.timeouts.append(_request_timeout)
        if _request_timeout is None:
            raise AssertionError("a lease read without a timeout hangs for as long as TCP lets it")
        clock.now += _request_timeout
        raise urllib3.exceptions.ReadTimeoutError(None, "/lease", "Read timed out.")

    leases.read_namespaced_lease = hangs
    calls = len(leases.timeouts)
    while leader.step():
        assert clock.now < renewed + LEASE_DURATION, "still leading when another may take the lease"
        clock.now += leader.retry_period
    assert lost and lost[0] <= renewed + renew_deadline + leader.retry_period + 0.1
    assert None not in leases.timeouts[calls:]
    assert not leader.is_leader.is_set()


def test_a_renewal_whose_answer_comes_late_counts_from_when_it_was_sent():
    """The API server writes a renewal (and a standby sees it) when it gets the call, not when its
    answer arrives: counted from the answer, a leader cut off after a slow renewal led on after a
    standby took the lease."""
    leases, clock = Leases(), Clock()
    lost: list[float] = []
    leader = elector(leases, "leader", clock)
    leader.on_lost = lambda: lost.append(clock.now)
    standby = elector(leases, "standby", clock)
    assert leader.step() and standby.step()
    clock.now += leader.retry_period
    written: list[float] = []
    replace = leases.replace_namespaced_lease

    def slow_answer(name, namespace, body, _request_timeout=None):
        stored = replace(name, namespace, body, _request_timeout=_request_timeout)
        written.append(clock.now)
        standby.step()  # the standby sees the renewal as soon as it is written
        clock.now += 7.5  # within the call's time limit
        return stored

    def cut_off(name, namespace, _request_timeout=None):
        clock.now += _request_timeout or 0
        raise urllib3.exceptions.ReadTimeoutError(None, "/lease", "Read timed out.")

    leases.replace_namespaced_lease = slow_answer
    leader.step()
    leases.read_namespaced_lease = cut_off  # from here on the leader's calls hang
    leases.replace_namespaced_lease = replace
    standby.coordination = Leases()  # the standby reads the real lease through its own view
    standby.coordination.lease, standby.coordination.version = leases.lease, leases.version
    standby_leads_at = None
    while standby_leads_at is None or not lost:
        clock.now += leader.retry_period
        if not lost:
            leader.step()
        if standby_leads_at is None and standby.step() and standby.is_leader.is_set():
            standby_leads_at = clock.now
    assert lost[0] <= standby_leads_at, "both led at once"
