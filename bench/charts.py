"""PNG charts of the benchmarks' results (matplotlib, drawn off-screen), written beside their JSON:

- operator: readiness over time, floor and contract floor (Pods Ready) and status floor (Performers
  status.ready) vs operator (Performers status.ready, and their Pods Ready); deletion over time
  (objects left); the operator's process-tree RSS over the run;
- executor: throughput and latency per path (direct, pass-through floor, executor ECDSA / BN254).

`python -m bench.charts RUN.json...` redraws the operator chart of run JSON files (beside each).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cumulative(times: list[float]) -> tuple[list[float], list[int]]:
    """Step points of how many events happened by each time (0 at t=0)."""
    ordered = sorted(times)
    return [0.0, *ordered], list(range(len(ordered) + 1))


def remaining(times: list[float], total: int) -> tuple[list[float], list[int]]:
    """Step points of how many of `total` objects are left after each deletion."""
    ordered = sorted(times)
    return [0.0, *ordered], [total - i for i in range(len(ordered) + 1)]


def operator_chart(run: dict[str, Any], path: Path) -> Path:
    """The chart of one operator benchmark run from its "timelines" (seconds since each phase began)."""
    plt = _pyplot()
    lines = run["timelines"]
    count = run["count"]
    figure, (ready, deleted, memory) = plt.subplots(3, 1, figsize=(9, 11))
    figure.suptitle(f"hourglass-operator benchmark, {count} Performers (run {run['run']})")

    for key, label, style in (
        ("floor_ready", "floor: Pods Ready", "-"),
        ("contract_floor_ready", "contract floor: Pods Ready", ":"),
        ("status_floor_ready", "status floor: Performers status.ready", "-."),
        ("operator_ready", "operator: Performers status.ready", "-"),
        ("operator_pods_ready", "operator: their Pods Ready", "--"),
    ):
        if lines.get(key):
            ready.step(*cumulative(lines[key]), style, where="post", label=label)
    ready.set(title="creation: ready over time", xlabel="seconds since the creates began", ylabel="ready")
    ready.legend(loc="lower right")

    for key, label, total in (
        ("floor_gone", "floor: Pods + Services", 2 * count),
        ("contract_floor_gone", "contract floor: Pods + Services", 2 * count),
        ("status_floor_gone", "status floor: Pods + Services", 2 * count),
        ("operator_children_gone", "operator: Pods + Services", 2 * count),
        ("operator_performers_gone", "operator: Performers", count),
    ):
        if lines.get(key):
            deleted.step(*remaining(lines[key], total), where="post", label=label)
    deleted.set(title="deletion: objects left", xlabel="seconds since the deletes began", ylabel="left")
    deleted.legend(loc="upper right")

    samples = lines.get("operator_tree_rss") or []
    if samples:
        memory.plot([s[0] for s in samples], [s[1] for s in samples], label="RSS, whole tree (MB)")
        if len(samples[0]) > 3:
            memory.plot([s[0] for s in samples], [s[3] for s in samples], label="PSS, whole tree (MB)")
        processes = memory.twinx()
        processes.plot([s[0] for s in samples], [s[2] for s in samples], color="tab:gray", alpha=0.5)
        processes.set_ylabel("processes in the tree", color="tab:gray")
    for name, at in (lines.get("operator_phase_starts") or {}).items():
        memory.axvline(at, color="tab:red", alpha=0.3)
        memory.annotate(
            name, (at, 1.0), xycoords=memory.get_xaxis_transform(), xytext=(3, -12),
            textcoords="offset points", fontsize=8,
        )  # fmt: skip
    memory.set(title="operator process tree", xlabel="seconds since the operator started", ylabel="MB")

    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def executor_chart(record: dict[str, Any], titles: dict[str, str], path: Path) -> Path:
    """Throughput under load and latency p50/p95 (one client, under load) per path."""
    plt = _pyplot()
    results = record["results"]
    paths = [p for p in titles if p in results]
    labels = [titles[p] for p in paths]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 5))
    parameters = record["parameters"]
    figure.suptitle(
        f"hourglass-executor benchmark ({parameters['clients']} clients, store {parameters['store']})"
    )
    bars = throughput.barh(labels, [results[p]["load"]["tasks_per_second"] for p in paths])
    throughput.bar_label(bars, fmt="%.0f", padding=3)
    throughput.set(title="throughput under load", xlabel="tasks/s")
    throughput.invert_yaxis()
    height = 0.2
    for i, (phase, quantile) in enumerate(
        (("one_client", "p50_ms"), ("one_client", "p95_ms"), ("load", "p50_ms"), ("load", "p95_ms"))
    ):
        positions = [n + (i - 1.5) * height for n in range(len(paths))]
        values = [results[p][phase][quantile] for p in paths]
        latency.barh(positions, values, height, label=f"{phase.replace('_', ' ')} {quantile[:3]}")
    latency.set_yticks(range(len(paths)), labels)
    latency.set(title="latency", xlabel="ms (log)", xscale="log")
    latency.invert_yaxis()
    latency.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        run_file = Path(argument)
        print(operator_chart(json.loads(run_file.read_text()), run_file.with_suffix(".png")))
