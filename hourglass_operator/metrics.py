"""Prometheus metrics of the runner loop, served on /metrics."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import PHASES
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RECONCILES = Counter("hourglass_reconciles_total", "Reconciles of custom resources, by result", ["result"])
STATUS_SYNCS = Counter(
    "hourglass_status_syncs_total",
    "Status-only syncs after a Pod or Service change, by result (patched, unchanged, escalate, error)",
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
BATCH_SIZE = Histogram(
    "hourglass_batch_size",
    "Custom resources per ansible run",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
MODULE_CALLS = Counter("hourglass_ansible_module_calls_total", "Ansible task results (module calls)")
QUEUE_DEPTH = Gauge("hourglass_workqueue_depth", "Keys waiting in the work queue")
QUEUE_IN_PROGRESS = Gauge("hourglass_workqueue_in_progress", "Keys being reconciled or synced now")


class _PerformersByPhase(Collector):
    def __init__(self, source: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        tally = Tally(((cr.get("status") or {}).get("phase") or "Unknown") for cr in self._source())
        family = GaugeMetricFamily("hourglass_performers", "Performers by status.phase", labels=["phase"])
        for phase in (*PHASES, "Unknown"):
            family.add_metric([phase], tally.get(phase, 0))
        yield family


_collector: _PerformersByPhase | None = None


def register_performer_collector(source: Callable[[], Iterable[dict[str, Any]]]) -> None:
    global _collector
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = _PerformersByPhase(source)
    REGISTRY.register(_collector)
