"""Leader election against the real API server with skewed clocks: two candidates, one of which
holds the lease with a wall clock hours behind or ahead of the other's. The other must not take
the lease while the holder renews (a renewTime hours old does not make it expired), and must take
it over once the holder stops renewing, one lease duration after the last renewal it saw (a
renewTime hours ahead does not keep it). There is never more than one leader."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import kubernetes
import pytest

from hourglass_operator.leader import LeaderElector
from tests.support.waiting import wait_for

LEASE = "skewed-election"
LEASE_DURATION = 4.0
RETRY_PERIOD = 0.5


class Leadership(threading.Event):
    """An `is_leader` flag that records any moment at which another candidate's flag was also set."""

    def __init__(self, name: str, all_flags: list[Leadership], overlaps: list[str]) -> None:
        super().__init__()
        self.name, self.all_flags, self.overlaps = name, all_flags, overlaps
        self.became_at: float | None = None
        all_flags.append(self)

    def set(self) -> None:
        others = [f.name for f in self.all_flags if f is not self and f.is_set()]
        if others:
            self.overlaps.append(f"{self.name} became the leader while {', '.join(others)} led")
        self.became_at = time.monotonic()
        super().set()


def candidate(cluster, namespace: str, name: str, skew: timedelta, flags, overlaps) -> LeaderElector:
    return LeaderElector(
        cluster.api, namespace, LEASE, name, is_leader=Leadership(name, flags, overlaps),
        stop=threading.Event(), on_lost=lambda: None, lease_duration=LEASE_DURATION,
        renew_deadline=LEASE_DURATION - 1, retry_period=RETRY_PERIOD, release_on_stop=False,
        wall_clock=lambda: datetime.now(UTC) + skew,
    )  # fmt: skip


@pytest.mark.parametrize("skew", [timedelta(hours=-3), timedelta(hours=3)], ids=["behind", "ahead"])
def test_a_skewed_holder_keeps_the_lease_while_it_renews_and_loses_it_when_it_stops(cluster, namespace, skew):
    leases = kubernetes.client.CoordinationV1Api(cluster.api)
    flags: list[Leadership] = []
    overlaps: list[str] = []
    holder = candidate(cluster, namespace, "skewed-holder", skew, flags, overlaps)
    other = candidate(cluster, namespace, "true-clock", timedelta(), flags, overlaps)
    holder_thread = holder.start()
    wait_for(holder.is_leader.is_set, timeout=20, what="the skewed holder to lead")
    other_thread = other.start()

    def renewals() -> set[datetime]:
        renewals_seen.add(leases.read_namespaced_lease(LEASE, namespace).spec.renew_time)
        return renewals_seen

    # The holder renews every retry period; once the lease was renewed more often than a lease
    # duration's worth of retries, the other candidate has watched it for longer than its duration.
    renewals_seen: set[datetime] = set()
    wait_for(
        lambda: len(renewals()) > 2 * LEASE_DURATION / RETRY_PERIOD,
        timeout=60, interval=RETRY_PERIOD / 2, what="the holder to renew for two lease durations",
    )  # fmt: skip
    assert not other.is_leader.is_set(), "took over a lease that was being renewed"
    lease = leases.read_namespaced_lease(LEASE, namespace).spec
    assert (lease.holder_identity, lease.lease_transitions) == ("skewed-holder", 0)
    assert abs(lease.renew_time - datetime.now(UTC) - skew) < timedelta(minutes=1)

    holder.stop.set()  # it stops renewing without releasing the lease, as if it had crashed
    holder_thread.join(10)
    stopped = time.monotonic()
    holder.is_leader.clear()
    wait_for(other.is_leader.is_set, timeout=LEASE_DURATION * 5, what="the other candidate to take over")
    assert other.is_leader.became_at - stopped >= LEASE_DURATION - 2 * RETRY_PERIOD
    lease = leases.read_namespaced_lease(LEASE, namespace).spec
    assert (lease.holder_identity, lease.lease_transitions) == ("true-clock", 1)
    other.stop.set()
    other_thread.join(10)
    assert overlaps == []
