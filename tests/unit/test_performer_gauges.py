"""The operator's Performer gauges, read from its cache at scrape time (hourglass_operator.metrics):
the count by phase, how long the Performer not Ready the longest has been so, and how long the one
being deleted the longest has been so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hourglass_operator import metrics

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
LONGEST = "hourglass_performers_longest_not_ready_seconds"
TERMINATING = "hourglass_performers_longest_terminating_seconds"


def at(seconds_before_now: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_before_now, UTC).isoformat().replace("+00:00", "Z")


def cr(
    name: str,
    *,
    phase: str | None = "Running",
    ready: str | None = "True",
    since: float = 30,
    created: float = 3600,
    deleting: float | None = None,
    status_ready: bool | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "avs", "creationTimestamp": at(created)}
    if deleting is not None:
        metadata["deletionTimestamp"] = at(deleting)
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if ready:
        status["conditions"] = [
            {"type": "Scheduled", "status": "False", "lastTransitionTime": at(created)},
            {"type": "Ready", "status": ready, "lastTransitionTime": at(since)},
        ]
    if status_ready is not None:
        status["ready"] = status_ready
    return {"metadata": metadata, "status": status}


@pytest.fixture
def scrape():
    """Registers the collector over the given Performers and returns the named sample's value."""

    def read(performers: list[dict[str, Any]], name: str = LONGEST, **labels: str) -> float | None:
        metrics.register_performer_collector(lambda: performers, clock=lambda: NOW)
        return REGISTRY.get_sample_value(name, labels)

    yield read
    metrics.register_performer_collector(list)


def test_every_performer_ready_or_none_reads_zero(scrape) -> None:
    assert scrape([]) == 0
    assert scrape([cr("a"), cr("b", since=7200)]) == 0
    assert scrape([cr("a")], TERMINATING) == 0


def test_the_longest_not_ready_counts_from_its_ready_condition_turning_false_or_unknown(scrape) -> None:
    performers = [
        cr("ready"),
        cr("upgrading", phase="Upgrading", ready="False", since=40),
        cr("pending", phase="Pending", ready="False", since=900),
        cr("unknown", phase="Pending", ready="Unknown", since=1200),
    ]
    assert scrape(performers) == pytest.approx(1200)
    assert scrape(performers, "hourglass_performers", phase="Pending") == 2
    assert scrape(performers, "hourglass_performers", phase="Upgrading") == 1


def test_a_performer_without_a_ready_condition_counts_from_its_creation_unless_its_status_says_ready(
    scrape,
) -> None:
    assert scrape([cr("new", phase=None, ready=None, created=25)]) == pytest.approx(25)
    # An older writer's status (the Go operator's: `ready` and no conditions) is read as it says.
    assert scrape([cr("upstream", ready=None, status_ready=True, created=9000)]) == 0
    assert scrape([cr("upstream", ready=None, status_ready=False, created=9000)]) == pytest.approx(9000)


def test_performers_being_deleted_and_unreadable_times_are_not_counted(scrape) -> None:
    deleting = cr("going", phase="Terminating", ready="False", since=5000, deleting=1)
    unreadable = cr("odd", phase="Pending", ready="False")
    unreadable["status"]["conditions"][1]["lastTransitionTime"] = "yesterday"
    assert scrape([deleting, unreadable, cr("slow", phase="Pending", ready="False", since=60)]) == 60
    assert scrape([deleting], "hourglass_performers", phase="Terminating") == 1


def test_the_longest_terminating_counts_from_the_deletion_of_the_one_deleted_first(scrape) -> None:
    performers = [
        cr("ready"),
        cr("just-deleted", phase="Terminating", deleting=5),
        cr("stuck", phase="Terminating", ready="False", since=2000, deleting=1300),
    ]
    assert scrape(performers, TERMINATING) == pytest.approx(1300)
    assert scrape(performers) == 0  # being deleted: not counted as not Ready
