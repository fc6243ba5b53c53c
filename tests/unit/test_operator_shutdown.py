"""The order in which the operator stops (hourglass_operator/cli.py): its runs end before it lets go
of the leader lease, and losing the lease cancels them at once. A standby that led while the old
leader's runs still wrote would reconcile the same Performers from a second process."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import kubernetes
import pytest

from hourglass_operator.cli import cancel_runs, shut_down
from hourglass_operator.controller import Controller as RealController
from hourglass_operator.leader import LeaderElector
from hourglass_operator.workqueue import WorkQueue


class Controller:
    """What shut_down and cancel_runs use of a controller; records what the lease was meanwhile."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self.cancel_runs = threading.Event()
        self.lease_holder_at_shutdown: list[str | None] = []

    def shutdown(self, timeout: float) -> None:
        self.lease_holder_at_shutdown.append(self.leases.holder)


class Leases:
    """A Lease API that only keeps who holds the lease (every write succeeds)."""

    def __init__(self) -> None:
        self.holder: str | None = None

    def read_namespaced_lease(self, name: str, namespace: str, **_: object) -> object:
        return self._lease()

    def replace_namespaced_lease(self, name: str, namespace: str, body: object, **_: object) -> object:
        spec = body["spec"] if isinstance(body, dict) else {"holderIdentity": body.spec.holder_identity}
        self.holder = spec["holderIdentity"]
        return self._lease()

    def _lease(self) -> object:
        return kubernetes.client.V1Lease(
            metadata=kubernetes.client.V1ObjectMeta(name="lease", namespace="ns", resource_version="1"),
            spec=kubernetes.client.V1LeaseSpec(holder_identity=self.holder, lease_duration_seconds=15),
        )


def test_the_lease_is_released_only_after_every_controller_stopped():
    leases, resign, is_leader = Leases(), threading.Event(), threading.Event()
    elector = LeaderElector(
        None, "ns", "lease", "me", is_leader=is_leader, stop=resign, on_lost=lambda: None, retry_period=0.01
    )
    elector.coordination = leases
    election = elector.start()
    assert is_leader.wait(5)
    controllers = [Controller(leases), Controller(leases)]
    shut_down(controllers, [], 60.0, resign, election)
    assert [c.lease_holder_at_shutdown for c in controllers] == [["me"], ["me"]]
    assert not election.is_alive() and leases.holder is None


def test_losing_the_lease_cancels_the_runs_under_way_at_once():
    controllers, stop = [Controller(Leases()), Controller(Leases())], threading.Event()
    cancel_runs(controllers, stop)
    assert all(c.cancel_runs.is_set() for c in controllers) and stop.is_set()


class Batch:
    """A batch thread still running at SIGTERM whose join waits as a real one would: a timeout above
    threading.TIMEOUT_MAX overflows (OverflowError), any other returns at once (the batch ended)."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def join(self, timeout: float) -> None:
        self.timeouts.append(timeout)
        threading.Lock().acquire(timeout=timeout)

    def is_alive(self) -> bool:
        return False


@pytest.mark.parametrize("timeout", [1e10, float("inf")])
def test_a_shutdown_timeout_beyond_what_a_join_takes_still_stops_in_order(timeout: float):
    controller = RealController.__new__(RealController)
    controller.queue, controller.cancel_runs = WorkQueue(), threading.Event()
    controller._api_calls = ThreadPoolExecutor(1)
    controller._threads = [Batch()]
    controller.shutdown(timeout)
    assert controller._threads[0].timeouts == [threading.TIMEOUT_MAX] and not controller.cancel_runs.is_set()
