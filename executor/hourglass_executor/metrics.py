"""The executor's Prometheus metrics, served at `/metrics` on `metricsPort` (prometheus-client).

- `hourglass_executor_tasks_total{avs, result_code}` (counter): SubmitTask answers, `result_code`
  `OK` or the gRPC status code name of the refusal (`UNAVAILABLE`, `INTERNAL`, ...);
- `hourglass_executor_task_duration_seconds{avs}` (histogram): from a SubmitTask's arrival to its
  answer;
- `hourglass_executor_performer_healthy{avs, performer, state}` (gauge): 1 when the performer's last
  gRPC health check answered SERVING, else 0; `state` `in_service` or `staged` (a staged one is 0 until
  its first SERVING, which a slow start may take minutes to give);
- `hourglass_executor_deploys_total{avs, result}` (counter): performer deploys, at start and by
  DeployArtifact, `result` `succeeded`, `failed` or `cancelled`; every served AVS's three series exist
  from the start at 0, so that the first failure is an increase an alert sees;
- `hourglass_build_info{version, component="executor"}` (gauge): always 1.

`avs` is the lower-cased AVS address for the AVSs this executor serves; a task for any other AVS (or
a malformed address) counts under `avs="other"`, so that a caller cannot add label values at will.
Each `Executor` has its own registry (several run in one test process); the process's default
collectors (CPU, memory, file descriptors) are added to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import exposition as _exposition
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from hourglass_executor import __version__

OTHER_AVS = "other"
CONTENT_TYPE = _exposition.CONTENT_TYPE_LATEST
# Task latency: from a cached ECDSA task on loopback (~2 ms) to `taskTimeout` (30 s by default).
TASK_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

DEPLOY_RESULTS = ("succeeded", "failed", "cancelled")
# (avs, performer id, state: in_service or staged, healthy) of each performer the pool tracks.
HealthSource = Callable[[], Iterable[tuple[str, str, str, bool]]]


class _PerformerHealth(Collector):
    """`hourglass_executor_performer_healthy`, read from the pool at scrape time (a removed
    performer disappears from the output instead of staying at its last value)."""

    def __init__(self, source: HealthSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hourglass_executor_performer_healthy",
            "1 when the performer's last gRPC health check answered SERVING, else 0",
            labels=["avs", "performer", "state"],
        )
        for avs, performer, state, healthy in self._source():
            family.add_metric([avs, performer, state], 1.0 if healthy else 0.0)
        yield family


class ExecutorMetrics:
    """The metrics of one executor, in a registry of their own."""

    def __init__(self, served_avss: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self._served = {avs.lower() for avs in served_avss}
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.tasks = Counter(
            "hourglass_executor_tasks_total",
            "SubmitTask answers by AVS and result code (OK or the gRPC status code name)",
            ["avs", "result_code"],
            registry=self.registry,
        )
        self.task_duration = Histogram(
            "hourglass_executor_task_duration_seconds",
            "Time from a SubmitTask's arrival to its answer",
            ["avs"],
            buckets=TASK_BUCKETS,
            registry=self.registry,
        )
        self.deploys = Counter(
            "hourglass_executor_deploys_total",
            "Performer deploys by AVS and result (succeeded, failed, cancelled)",
            ["avs", "result"],
            registry=self.registry,
        )
        for avs in sorted(self._served):
            for result in DEPLOY_RESULTS:
                self.deploys.labels(avs, result)
        Gauge(
            "hourglass_build_info",
            "Version of the running component; always 1",
            ["version", "component"],
            registry=self.registry,
        ).labels(__version__, "executor").set(1)

    def avs_label(self, avs: str) -> str:
        avs = avs.lower()
        return avs if avs in self._served else OTHER_AVS

    def task_answered(self, avs: str, result_code: str, seconds: float) -> None:
        label = self.avs_label(avs)
        self.tasks.labels(label, result_code).inc()
        self.task_duration.labels(label).observe(seconds)

    def deploy_finished(self, avs: str, result: str) -> None:
        self.deploys.labels(self.avs_label(avs), result).inc()

    def watch_performers(self, source: HealthSource) -> None:
        """Reports the health of the performers `source` lists (the pool's) at every scrape."""
        self.registry.register(_PerformerHealth(source))

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
