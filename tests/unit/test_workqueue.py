"""The work queue: de-duplication, one key never handed out twice at once, batches, back-off."""

from __future__ import annotations

import threading

from hourglass_operator.workqueue import WorkQueue
from tests.support.clock import ManualClock


def test_a_key_added_twice_is_handed_out_once():
    queue = WorkQueue()
    queue.add("ns/a")
    queue.add("ns/a")
    queue.add("ns/b")
    assert sorted(queue.get_batch(10, timeout=0)) == ["ns/a", "ns/b"]
    assert queue.get_batch(10, timeout=0) == []


def test_batches_hold_at_most_the_requested_number_of_keys_earliest_first():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    for i in range(5):
        queue.add(f"ns/{i}")
        clock.now += 1
    assert queue.get_batch(3, timeout=0) == ["ns/0", "ns/1", "ns/2"]
    assert queue.get_batch(3, timeout=0) == ["ns/3", "ns/4"]


def test_a_key_being_processed_is_not_handed_out_until_done_then_comes_back():
    queue = WorkQueue()
    queue.add("ns/a")
    assert queue.get_batch(1, timeout=0) == ["ns/a"]
    queue.add("ns/a")  # an event arrives while it is being reconciled
    assert queue.get_batch(1, timeout=0) == []
    queue.done("ns/a")
    assert queue.get_batch(1, timeout=0) == ["ns/a"]


def test_delayed_keys_wait_until_due():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/a", delay=10)
    assert queue.get_batch(1, timeout=0) == []
    clock.now += 10
    assert queue.get_batch(1, timeout=0) == ["ns/a"]


def test_adding_again_keeps_the_earlier_due_time():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/a", delay=60)
    queue.add("ns/a", delay=1)
    clock.now += 1
    assert queue.get_batch(1, timeout=0) == ["ns/a"]


def test_failures_back_off_exponentially_up_to_the_cap_and_reset_on_forget():
    queue = WorkQueue(base_delay=1, max_delay=300)
    delays = [queue.add_after_failure("ns/a") for _ in range(11)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    queue.forget("ns/a")
    assert queue.add_after_failure("ns/a") == 1
    assert queue.failures("ns/b") == 0


def test_a_caller_may_cap_a_keys_back_off_lower_but_not_higher():
    queue = WorkQueue(base_delay=1, max_delay=300)
    assert [queue.add_after_failure("ns/a", 30) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert queue.add_after_failure("ns/a", 1000) == 128  # the 8th failure: never past the queue's own


def test_a_key_failing_for_days_keeps_backing_off_at_the_cap():
    """Every 5 minutes for 4 days is more than 1024 failures: 2 ** 1024 s is past what a float holds,
    which raised OverflowError at the 1025th (killing the worker) before the exponent was bounded."""
    queue = WorkQueue()  # as the controller makes it: a base delay of 1.0 s
    for _ in range(1100):
        delay = queue.add_after_failure("ns/a")
    assert delay == 300


def test_get_batch_wakes_up_when_a_key_is_added():
    queue = WorkQueue()
    got: list[list[str]] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get_batch(5, timeout=5)))
    waiter.start()
    queue.add("ns/a")
    waiter.join(5)
    assert got == [["ns/a"]]


def test_overdue_says_whether_a_key_of_its_kind_has_been_due_that_long_without_being_taken():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    assert queue.overdue(0.5) is False
    queue.add("ns/a", delay=5)
    queue.add("ns/status", full=False)
    clock.now += 5.4
    assert queue.overdue(0.5) is False  # due for 0.4 s; a status sync is another kind
    assert queue.overdue(0.5, full=False) is True
    clock.now += 0.1
    assert queue.overdue(0.5) is True
    assert queue.get_batch(5, timeout=0) == ["ns/a"]  # still queued
    assert queue.overdue(0.5) is False  # handed out


def test_shut_down_releases_waiting_workers_and_refuses_new_keys():
    queue = WorkQueue()
    got: list[list[str]] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get_batch(5)))
    waiter.start()
    queue.shut_down()
    waiter.join(5)
    assert got == [[]]
    queue.add("ns/a")
    assert queue.depth() == 0


def test_status_only_keys_go_to_status_workers_and_full_keys_to_ansible_workers():
    queue = WorkQueue()
    queue.add("ns/status", full=False)
    queue.add("ns/full")
    assert queue.get_batch(10, timeout=0) == ["ns/full"]
    assert queue.get_batch(10, timeout=0, full=False) == ["ns/status"]


def test_a_full_request_wins_over_a_status_only_one_for_the_same_key():
    queue = WorkQueue()
    queue.add("ns/a", full=False)
    queue.add("ns/a")
    queue.add("ns/a", full=False)
    assert queue.get_batch(10, timeout=0, full=False) == []
    assert queue.get_batch(10, timeout=0) == ["ns/a"]


def test_a_key_being_synced_is_not_handed_to_an_ansible_worker_until_done():
    queue = WorkQueue()
    queue.add("ns/a", full=False)
    assert queue.get_batch(1, timeout=0, full=False) == ["ns/a"]
    queue.add("ns/a")  # the Performer's spec changes during the status sync
    assert queue.get_batch(1, timeout=0) == []
    queue.done("ns/a")
    assert queue.get_batch(1, timeout=0, full=False) == []
    assert queue.get_batch(1, timeout=0) == ["ns/a"]


def test_a_key_changed_while_it_was_processed_wakes_a_waiting_worker_of_its_kind_when_done():
    queue = WorkQueue()
    queue.add("ns/a", full=False)
    assert queue.get_batch(1, timeout=0, full=False) == ["ns/a"]
    queue.add("ns/a", full=False)  # its pod changed again meanwhile
    got: list[list[str]] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get_batch(1, timeout=5, full=False)))
    waiter.start()
    queue.done("ns/a")
    waiter.join(5)
    assert got == [["ns/a"]]


def test_a_status_key_asked_for_a_full_reconcile_due_by_then_moves_to_the_ansible_workers():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/a", delay=5, full=False)  # a recheck
    queue.add("ns/a", delay=3)  # a full reconcile before it does its work too
    assert queue.queued("ns/a") == (1003.0, True)
    queue.add("ns/b", delay=5, full=False)
    clock.now += 10
    queue.add("ns/b", delay=0)  # due now, past the sync's time: it does the sync's work too
    assert queue.queued("ns/b") == (1010.0, True)
    assert queue.get_batch(1, timeout=0, full=False) == []
    assert queue.get_batch(2, timeout=0) == ["ns/a", "ns/b"]
    assert queue.queued("ns/a") is None and queue.depth() == 0


def test_a_full_reconcile_due_later_than_a_status_sync_waits_for_its_time_after_the_sync():
    """A failure's back-off is not cut short by a status event: the sync goes now, the retry later."""
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/a", full=False)
    queue.add("ns/a", delay=30)
    assert queue.queued("ns/a") == (1000.0, False)
    assert queue.depth() == 1
    assert queue.get_batch(1, timeout=0) == []
    assert queue.get_batch(1, timeout=0, full=False) == ["ns/a"]
    assert queue.depth() == 1  # its full reconcile waits for the sync to be done
    queue.done("ns/a")
    assert queue.queued("ns/a") == (1030.0, True)
    clock.now += 30
    assert queue.get_batch(1, timeout=0) == ["ns/a"]


def test_a_later_full_reconcile_survives_changes_while_its_status_sync_runs():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/a", full=False)
    queue.add("ns/a", delay=30)
    assert queue.get_batch(1, timeout=0, full=False) == ["ns/a"]
    queue.add("ns/a", full=False)  # its pod changed again meanwhile
    queue.done("ns/a")
    assert queue.queued("ns/a") == (1000.0, False)
    assert queue.get_batch(1, timeout=0, full=False) == ["ns/a"]
    queue.add("ns/a", delay=10)  # an earlier retry now: the later one is merged into it
    queue.done("ns/a")
    assert queue.queued("ns/a") == (1010.0, True)


def test_a_status_worker_does_not_wake_up_for_full_keys():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/full")
    queue.add("ns/later", delay=5, full=False)
    assert queue.get_batch(1, timeout=0, full=False) == []
    clock.now += 5
    assert queue.get_batch(1, timeout=0, full=False) == ["ns/later"]


def test_with_no_reconcile_in_progress_a_lone_key_does_not_wait_for_the_window():
    queue = WorkQueue(clock=ManualClock(1000.0))
    queue.add("ns/a")
    assert queue.get_batch(10, timeout=0, window=60) == ["ns/a"]
    queue.add("ns/b", full=False)  # a status sync in progress is no reconcile in progress
    assert queue.get_batch(10, timeout=0, full=False) == ["ns/b"]
    queue.done("ns/a")
    queue.add("ns/c")
    assert queue.get_batch(10, timeout=0, window=60) == ["ns/c"]


def test_while_a_reconcile_is_in_progress_a_batch_window_lets_changes_arriving_together_share_a_batch():
    clock = ManualClock(1000.0)
    queue = WorkQueue(clock=clock)
    queue.add("ns/running")
    assert queue.get_batch(10, timeout=0, window=0.5) == ["ns/running"]
    queue.add("ns/a")
    assert queue.get_batch(10, timeout=0, window=0.5) == []  # a lone key waits for company
    clock.now += 0.2
    queue.add("ns/b")
    clock.now += 0.3
    assert queue.get_batch(10, timeout=0, window=0.5) == ["ns/a", "ns/b"]


def test_a_full_batch_does_not_wait_for_the_window():
    queue = WorkQueue()
    queue.add("ns/running")
    assert queue.get_batch(1, timeout=0) == ["ns/running"]
    queue.add("ns/a")
    queue.add("ns/b")
    assert queue.get_batch(2, timeout=0, window=60) == ["ns/a", "ns/b"]


class Recorder:
    def __init__(self) -> None:
        self.adds, self.retries, self.waits, self.works = 0, 0, [], []

    def added(self) -> None:
        self.adds += 1

    def retried(self) -> None:
        self.retries += 1

    def handed_out(self, waited_seconds: float) -> None:
        self.waits.append(waited_seconds)

    def finished(self, worked_seconds: float) -> None:
        self.works.append(worked_seconds)


def test_the_observer_sees_adds_retries_waits_and_work_as_client_go_counts_them():
    clock, seen = ManualClock(1000.0), Recorder()
    queue = WorkQueue(clock=clock, observer=seen)
    queue.add("ns/a")
    queue.add("ns/a")  # merged: not a new add
    clock.now += 2
    assert queue.get_batch(1, timeout=0) == ["ns/a"]
    assert seen.waits == [2.0]
    queue.add("ns/a")  # while processing: dirty, an add
    clock.now += 3
    assert queue.unfinished_work() == (3.0, 3.0)
    queue.done("ns/a")
    assert seen.works == [3.0]
    assert queue.unfinished_work() == (0.0, 0.0)
    queue.add_after_failure("ns/b")
    assert (seen.adds, seen.retries) == (3, 1)


def test_the_queue_metrics_carry_client_go_names_and_the_queue_name():
    from prometheus_client import REGISTRY

    from hourglass_operator.metrics import WorkQueueMetrics

    clock = ManualClock(1000.0)
    observer = WorkQueueMetrics("unit-queue")
    queue = WorkQueue(clock=clock, observer=observer)
    observer.track(queue.depth, queue.unfinished_work)
    queue.add("ns/a")
    queue.add("ns/b")
    queue.get_batch(1, timeout=0)
    clock.now += 4
    labels = {"name": "unit-queue"}
    assert REGISTRY.get_sample_value("workqueue_depth", labels) == 1
    assert REGISTRY.get_sample_value("workqueue_adds_total", labels) == 2
    assert REGISTRY.get_sample_value("workqueue_queue_duration_seconds_count", labels) == 1
    assert REGISTRY.get_sample_value("workqueue_unfinished_work_seconds", labels) == 4
    assert REGISTRY.get_sample_value("workqueue_longest_running_processor_seconds", labels) == 4
    queue.done("ns/a")
    assert REGISTRY.get_sample_value("workqueue_work_duration_seconds_count", labels) == 1
    assert REGISTRY.get_sample_value("workqueue_retries_total", labels) == 0


def test_a_held_queue_takes_no_key_until_it_resumes():
    """A standby operator's queue: nothing in it, nothing counted, until it leads."""
    added, retried = [], []

    class Observer:
        def added(self) -> None:
            added.append(1)

        def retried(self) -> None:
            retried.append(1)

        def handed_out(self, waited_seconds: float) -> None: ...
        def finished(self, worked_seconds: float) -> None: ...

    q = WorkQueue(observer=Observer(), held=True)
    q.add("a")
    q.add("b", full=False)
    q.add_after_failure("c")
    assert (q.depth(), q.get_batch(10, timeout=0), added, retried, q.failures("c")) == (0, [], [], [], 0)
    assert q.resume() is True and q.resume() is False
    q.add("a")
    assert (q.depth(), q.get_batch(10, timeout=0), added) == (1, ["a"], [1])


def test_a_key_due_in_centuries_does_not_break_a_waiting_worker():
    """A role var of years (a stall recheck) made the wait overflow: the status worker died."""
    queue = WorkQueue()
    queue.add("ns/far", 1e10, full=False)
    got: list[list[str]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            got.append(queue.get_batch(10, full=False))
        except BaseException as error:  # what the worker thread would die of
            errors.append(error)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(1.0)  # it fails at once if it fails
    assert not errors and thread.is_alive()
    queue.add("ns/now", full=False)
    thread.join(5)
    assert got == [["ns/now"]]
