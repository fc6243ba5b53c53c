"""Prometheus metrics of the runner loop, served on /metrics.

The work queue's metrics carry client-go's names and label (`workqueue_*{name="performers"}`), so
that dashboards and alerts written for controller-runtime operators apply; `hourglass_build_info`
says which version runs."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    PHASES,
    Reason,
    unix_seconds,
)
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import hourglass_operator

RECONCILES = Counter("hourglass_reconciles_total", "Reconciles of custom resources, by result", ["result"])
STATUS_SYNCS = Counter(
    "hourglass_status_syncs_total",
    "Status-only syncs after a Pod or Service change, by result "
    "(patched, restored, unchanged, escalate, stale, error)",
    ["result"],
)
RECONCILE_DURATION = Histogram(
    "hourglass_reconcile_duration_seconds", "Time from taking a batch off the queue to finishing it",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300),
)  # fmt: skip
ANSIBLE_RUN_DURATION = Histogram(
    "hourglass_ansible_run_duration_seconds", "Duration of one ansible-runner run (one batch)",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300),
)  # fmt: skip
ANSIBLE_RUNS_IN_PROGRESS = Gauge(
    "hourglass_ansible_runs_in_progress",
    "ansible-runner runs going on now (a run may outlast its batch's keys, which it hands back once their "
    "status is written)",
)
BATCH_SIZE = Histogram(
    "hourglass_batch_size",
    "Custom resources per ansible run",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
REPAIRS = Counter(
    "hourglass_repairs_total",
    "Repairs the runs made or tried, by reason: PodReplaced (the pod ended: evicted, rejected by its "
    "node), PodDrifted (another client changed the pod), ServiceDrifted (another client changed the "
    "Service), LostPodDeleted (a pod left terminating on a node that is not Ready, deleted without its "
    "kubelet), Adopted (a pod or Service no object owned, adopted by the Performer of its name)",
    ["reason"],
)
for _reason in (
    Reason.POD_REPLACED, Reason.POD_DRIFTED, Reason.SERVICE_DRIFTED, Reason.LOST_POD_DELETED, Reason.ADOPTED
):  # fmt: skip
    REPAIRS.labels(reason=_reason)  # exposed from 0, so that increase() counts the first repair
MODULE_CALLS = Counter("hourglass_ansible_module_calls_total", "Ansible task results (module calls)")
ROLLOUT_PERFORMERS = Gauge(
    "hourglass_rollout_performers",
    "Performers whose pod the operator renders differently now (a new version, other settings): being "
    "replaced (state=replacing; Upgrading ones included), or waiting for a slot under "
    "--rollout-max-unavailable (state=waiting)",
    ["state"],
)
BUILD_INFO = Gauge("hourglass_build_info", "The running version (always 1)", ["version", "component"])
BUILD_INFO.labels(version=hourglass_operator.__version__, component="operator").set(1)

# client-go's workqueue metrics (k8s.io/component-base/metrics/prometheus/workqueue): names, help,
# the label `name` and the duration buckets (10 ns to 10 s, times 10).
_QUEUE_BUCKETS = tuple(10e-9 * 10**i for i in range(10))
QUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
QUEUE_ADDS = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"])
QUEUE_RETRIES = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"])
QUEUE_LATENCY = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested.",
    ["name"],
    buckets=_QUEUE_BUCKETS,
)
QUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name"],
    buckets=_QUEUE_BUCKETS,
)
QUEUE_UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has done that is in progress and hasn't been observed by work_duration. "
    "Large values indicate stuck threads.",
    ["name"],
)
QUEUE_LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name"],
)


class WorkQueueMetrics:
    """A `workqueue.QueueObserver` exporting one queue's metrics under `name`."""

    def __init__(self, name: str) -> None:
        self._adds = QUEUE_ADDS.labels(name=name)
        self._retries = QUEUE_RETRIES.labels(name=name)
        self._latency = QUEUE_LATENCY.labels(name=name)
        self._work = QUEUE_WORK_DURATION.labels(name=name)
        self.name = name

    def track(self, depth: Callable[[], int], unfinished: Callable[[], tuple[float, float]]) -> None:
        """Read the gauges from the queue when scraped."""
        QUEUE_DEPTH.labels(name=self.name).set_function(depth)
        QUEUE_UNFINISHED_WORK.labels(name=self.name).set_function(lambda: unfinished()[0])
        QUEUE_LONGEST_RUNNING.labels(name=self.name).set_function(lambda: unfinished()[1])

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def handed_out(self, waited_seconds: float) -> None:
        self._latency.observe(waited_seconds)

    def finished(self, worked_seconds: float) -> None:
        self._work.observe(worked_seconds)


class _PerformerGauges(Collector):
    """Read from the informer's cache at scrape time: the Performers by phase, how long the one not
    Ready the longest has been so, and the one being deleted the longest. The alerts on Performers
    down or stuck read the durations, not the counts: a rollout that replaces many Performers one
    after the other keeps some not Ready for as long as it goes, and a stream of deletions keeps some
    Terminating, each only for a moment."""

    def __init__(self, source: Callable[[], Iterable[dict[str, Any]]], clock: Callable[[], float]) -> None:
        self._source = source
        self._clock = clock

    def collect(self) -> Iterable[GaugeMetricFamily]:
        phases: Tally[str] = Tally()
        now = self._clock()
        not_ready = terminating = 0.0
        for cr in self._source():
            phases[(cr.get("status") or {}).get("phase") or "Unknown"] += 1
            since = _not_ready_since(cr)
            if since is not None:
                not_ready = max(not_ready, now - since)
            deleted = _unix_time((cr.get("metadata") or {}).get("deletionTimestamp"))
            if deleted is not None:
                terminating = max(terminating, now - deleted)
        by_phase = GaugeMetricFamily("hourglass_performers", "Performers by status.phase", labels=["phase"])
        for phase in (*PHASES, "Unknown"):
            by_phase.add_metric([phase], phases.get(phase, 0))
        yield by_phase
        yield GaugeMetricFamily(
            "hourglass_performers_longest_not_ready_seconds",
            "How long the Performer not Ready the longest has been so: since its Ready condition turned "
            "False or Unknown, or since its creation while it has no Ready condition; 0 when every "
            "Performer is Ready. Performers being deleted are not counted",
            value=not_ready,
        )
        yield GaugeMetricFamily(
            "hourglass_performers_longest_terminating_seconds",
            "How long the Performer being deleted the longest has been so (since its deletionTimestamp); "
            "0 when none is",
            value=terminating,
        )


def _not_ready_since(cr: dict[str, Any]) -> float | None:
    """When a Performer stopped being Ready (Unix time), None when it is Ready or being deleted."""
    metadata = cr.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return None
    status = cr.get("status") or {}
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    if ready is None:  # none written yet, or an older writer's status: its `ready` says
        return None if status.get("ready") is True else _unix_time(metadata.get("creationTimestamp"))
    if ready.get("status") == "True":
        return None
    return _unix_time(ready.get("lastTransitionTime") or metadata.get("creationTimestamp"))


def _unix_time(timestamp: str | None) -> float | None:
    """An RFC 3339 time of the API server; None when missing or unreadable."""
    try:
        return unix_seconds(timestamp) if timestamp else None
    except ValueError:
        return None


_collector: _PerformerGauges | None = None


def register_performer_collector(
    source: Callable[[], Iterable[dict[str, Any]]], clock: Callable[[], float] = time.time
) -> None:
    global _collector
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = _PerformerGauges(source, clock)
    REGISTRY.register(_collector)
