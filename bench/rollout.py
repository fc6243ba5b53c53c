"""Rollout benchmark (not a test): what it costs the performers when the operator renders their pods
differently (a new operator version, other role settings), at each `--rollout-max-unavailable`.

    .venv/bin/python -m bench.rollout                          # 200 Performers, 25% and 100%, 2 runs
    .venv/bin/python -m bench.rollout --count 200 --limits 1 10% 25% 100% --repeat 1

Per run and limit, in a fresh namespace: an operator with the role's defaults brings N Performers up
and stops; an operator with another readiness probe (every pod is rendered differently) and
`--rollout-max-unavailable <limit>` starts. From its start (watches in this process): the time until
every pod was replaced and is Ready ("all replaced") and until every Performer is ready again, and
the most Performers without a Ready pod at once, and the most whose status said not ready at once.
`100%` replaces every pod at once, as the operator did before it paced rollouts. The load average at
the start and the end of each measurement; the median of the runs per limit. JSON to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.operator_bench import delete_namespace, prepare_cluster  # noqa: E402
from bench.progress import say  # noqa: E402
from bench.watching import Watcher, performer_ready, performer_watcher, pod_ready, wait_first, wait_until  # noqa: E402
from tests.support.operator import OperatorProcess  # noqa: E402
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers, performer  # noqa: E402

OTHER_PROBE = {"initialDelaySeconds": 5, "periodSeconds": 20, "timeoutSeconds": 1, "failureThreshold": 3}


class Availability(Watcher):
    """A Watcher that also follows which objects are unavailable (gone, being deleted, or the
    predicate false): `down`, the most at once (`most`), and the names whose new incarnation (a uid
    not in `old_uids`) is available (`renewed`)."""

    def __init__(self, list_fn: Any, available: Any, namespace: str, old_uids: dict[str, str]) -> None:
        self.down: set[str] = set()
        self.most = 0
        self.renewed: set[str] = set()
        self._old_uids = old_uids
        super().__init__(list_fn, available, namespace)  # starts the watch

    def _record(self, kind: str, obj: dict) -> str:
        version = super()._record(kind, obj)
        meta = obj["metadata"]
        up = kind != "DELETED" and not meta.get("deletionTimestamp") and self._predicate(obj)
        (self.down.discard if up else self.down.add)(meta["name"])
        self.most = max(self.most, len(self.down))
        if up and meta["uid"] != self._old_uids.get(meta["name"]):
            self.renewed.add(meta["name"])
        return version


def operator(kubeconfig: Path, namespace: str, work: Path, *args: str) -> OperatorProcess:
    process = OperatorProcess(kubeconfig, namespace, work, "--log-level", "warning", *args)
    process.wait_ready(60)
    return process


def one(core: Any, custom: Any, kubeconfig: Path, args: argparse.Namespace, limit: str) -> dict:
    run_id = uuid.uuid4().hex[:6]
    namespace, work = f"bench-rollout-{run_id}", Path(f"/tmp/hourglass-bench-{run_id}")
    work.mkdir(parents=True)
    core.create_namespace({"metadata": {"name": namespace}})
    names = [f"p{i:04d}" for i in range(args.count)]
    first = operator(kubeconfig, namespace, work)
    second = None
    try:
        performers = performer_watcher(custom, namespace)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, performer(n, config={})), names))  # fmt: skip

        wait_first(performers, set(names), args.timeout, "the Performers ready")
        performers.stop()
        first.stop()
        old_uids = {p.metadata.name: p.metadata.uid for p in core.list_namespaced_pod(namespace).items}
        pod_names = {child_name(n) for n in names}
        pod_watch = Availability(core.list_namespaced_pod, pod_ready, namespace, old_uids)
        cr_watch = Availability(
            lambda ns, **kw: custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, **kw),
            performer_ready, namespace, {},
        )  # fmt: skip
        wait_until(lambda: pod_watch.objects.keys() >= pod_names and cr_watch.objects.keys() >= set(names),
                   args.timeout, "the watches listing")  # fmt: skip
        load_start = [round(x, 2) for x in os.getloadavg()]
        say(f"limit {limit}: {args.count} Performers up; the operator with other settings starts")
        begun = time.monotonic()
        second = operator(kubeconfig, namespace, work, "--role-vars",
                          json.dumps({"performer_readiness_probe": OTHER_PROBE}),
                          "--rollout-max-unavailable", limit)  # fmt: skip
        progress = lambda: f"limit {limit}: {len(pod_watch.renewed)}/{len(pod_names)} replaced"  # noqa: E731
        replaced = wait_until(lambda: pod_watch.renewed >= pod_names, args.timeout, "all replaced", progress)
        ready = wait_until(lambda: not cr_watch.down, args.timeout, f"limit {limit}: all ready again")
        pod_watch.stop()
        cr_watch.stop()
        return {
            "limit": limit,
            "count": args.count,
            "all_replaced_s": round(replaced - begun, 2),
            "all_ready_again_s": round(max(ready, replaced) - begun, 2),
            "most_without_a_ready_pod": pod_watch.most,
            "most_not_ready": cr_watch.most,
            "load_average_start": load_start,
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        with contextlib.suppress(Exception):
            if second is None:
                second = operator(kubeconfig, namespace, work)
            delete_performers(custom, namespace, timeout=args.timeout)
        for process in (first, second):
            if process is not None:
                process.stop()
        with contextlib.suppress(Exception):
            delete_namespace(core, namespace, args.timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--limits", nargs="+", default=["25%", "100%"], help="--rollout-max-unavailable values"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--kubeconfig", type=Path, default=None, help="an existing cluster (else the local one)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    kubeconfig = prepare_cluster(args)
    api = kubernetes.config.new_client_from_config(str(kubeconfig))
    core, custom = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)
    runs: list[dict] = []
    for run in range(1, args.repeat + 1):
        for limit in args.limits:  # interleaved, so that the machine's drift spreads over all limits
            runs.append({"run": run, **one(core, custom, kubeconfig, args, limit)})
            say(json.dumps(runs[-1]))
    keys = ("all_replaced_s", "all_ready_again_s", "most_without_a_ready_pod", "most_not_ready")
    median = {
        limit: {k: round(statistics.median(r[k] for r in runs if r["limit"] == limit), 2) for k in keys}
        for limit in args.limits
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"rollout-{args.count}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"runs": runs, "median": median, "cpus": os.cpu_count()}, indent=2) + "\n")
    print("\n| limit | all replaced | all ready again | most without a Ready pod | most not ready |")
    print("|---|---|---|---|---|")
    for limit, m in median.items():
        print(f"| {limit} | {m['all_replaced_s']} s | {m['all_ready_again_s']} s | "
              f"{m['most_without_a_ready_pod']} | {m['most_not_ready']} |")  # fmt: skip
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
