"""Operator benchmark (not a test): how fast N Performers become ready, compared with the floor of
the same cluster creating N Pods and Services directly.

    .venv/bin/python -m bench.operator_bench                 # 200 Performers on the local control plane
    .venv/bin/python -m bench.operator_bench --count 1000

Phases, each in a fresh namespace:
1. floor: a plain client creates N Pods and N Services (8 threads); time until every pod is Ready;
2. operator: `hourglass-operator run` watches the namespace; N Performers are created (8 threads);
   time until every Performer has status.ready, create->ready per Performer, pod Ready ->
   status.ready per Performer (both observed by watches in this process); then, in steady state,
   K pods turn not ready and ready again (their Ready condition patched as a kubelet would): the
   time from a pod turning ready to status.ready;
3. upgrades: the spec of K Performers changes; time until each has a new pod;
4. drift: another client tampers with what the operator manages (tests/support/drift.py: edits a
   Service port, adds a port, sets a pod's image, changes its owner label, writes the status),
   one case at a time on an otherwise idle operator, R rounds of each case on different
   Performers; the time from the tampering to the repair, p50/p95 over all cases and per case.
With --churn, instead: the RSS of the operator and the executor over a create/update/delete churn
(bench/churn.py), e.g. `make bench BENCH_ARGS="--churn --churn-duration 300 --churn-rate 5"`.
Reports ansible runs, module calls and status patches made without ansible (from the operator's
/metrics) and the operator's peak RSS and the load average (the machine may be shared),
prints a table and writes JSON to bench/results/.

    .venv/bin/python -m bench.operator_bench --drift-only --count 20   # only the drift scenario
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import churn  # noqa: E402
from tests.support import drift  # noqa: E402
from tests.support.operator import OperatorProcess  # noqa: E402
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers, performer, set_pod_ready  # noqa: E402

PAUSE = "registry.k8s.io/pause:3.10"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Watcher:
    """Records, per object name, the first time a predicate held (seen through a watch)."""

    def __init__(
        self, list_fn: Callable[..., Any], predicate: Callable[[dict], bool], namespace: str
    ) -> None:
        self.first: dict[str, float] = {}
        self.objects: dict[str, dict] = {}
        self._stop = threading.Event()
        self._list_fn, self._predicate, self._namespace = list_fn, predicate, namespace
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        watch = kubernetes.watch.Watch()
        while not self._stop.is_set():
            try:
                for event in watch.stream(self._list_fn, self._namespace, timeout_seconds=60):
                    obj = event["object"]
                    obj = obj if isinstance(obj, dict) else obj.to_dict()
                    name = obj["metadata"]["name"]
                    self.objects[name] = obj
                    if name not in self.first and self._predicate(obj):
                        self.first[name] = time.monotonic()
                    if self._stop.is_set():
                        return
            except Exception:
                time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()


def pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def wait_count(watcher: Watcher, names: set[str], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if names <= watcher.first.keys():
            return max(watcher.first[n] for n in names)
        time.sleep(0.05)
    raise TimeoutError(f"only {len(names & watcher.first.keys())}/{len(names)} done after {timeout:.0f} s")


def floor_phase(core: Any, namespace: str, count: int, timeout: float) -> dict:
    watcher = Watcher(core.list_namespaced_pod, lambda p: pod_ready(p), namespace)
    names = {f"floor-{i:04d}" for i in range(count)}
    started = time.monotonic()

    def create(name: str) -> None:
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": PAUSE}]},
            },
        )
        core.create_namespaced_service(
            namespace,
            {"metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": [{"port": 9090}]}},
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, sorted(names)))
    done = wait_count(watcher, names, timeout)
    watcher.stop()
    return {"all_ready_s": done - started}


def add_bench_nodes(core: Any, count: int) -> list[str]:
    """Extra kwok nodes so that N pods fit (the catalog's general pool holds 330 pods)."""
    names = [f"kwok-bench-{i:02d}" for i in range((count + 99) // 100)]
    for i, name in enumerate(names):
        allocatable = {"cpu": "64", "memory": "256Gi", "pods": "110"}
        core.create_node(
            {
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "type": "kwok",
                        "hourglass.eigenlayer.io/node-pool": "bench",
                    },
                },
                "spec": {"podCIDR": f"10.250.{i}.0/24"},
                "status": {"allocatable": allocatable, "capacity": allocatable},
            }
        )
    return names


def delete_namespace(core: Any, namespace: str, timeout: float) -> None:
    core.delete_namespace(namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespace(namespace)
        except kubernetes.client.ApiException:
            return
        time.sleep(0.5)


def readiness_flips(core: Any, performers: Watcher, namespace: str, names: list[str]) -> list[float]:
    """Steady state: for each Performer, its pod turns not ready and then ready again (as a kubelet
    would report it); the seconds from the pod turning ready to status.ready being true."""

    def wait_status(name: str, ready: bool, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (performers.objects[name].get("status") or {}).get("ready") is ready:
                return time.monotonic()
            time.sleep(0.005)
        raise TimeoutError(f"status.ready of {name} did not become {ready}")

    latencies = []
    for name in names:
        set_pod_ready(core, namespace, child_name(name), False)
        wait_status(name, False)
        flipped = time.monotonic()
        set_pod_ready(core, namespace, child_name(name), True)
        latencies.append(wait_status(name, True) - flipped)
    return latencies


def drift_repairs(core: Any, custom: Any, process: OperatorProcess, namespace: str, names: list[str],
                  rounds: int, timeout: float) -> dict[str, list[float]]:  # fmt: skip
    """Seconds from each tampering to its repair, by case; each on an idle operator."""
    repairs: dict[str, list[float]] = {case.name: [] for case in drift.CASES}
    performers = iter(names * (1 + rounds * len(drift.CASES) // max(len(names), 1)))
    for _ in range(rounds):
        for case in drift.CASES:
            name = next(performers)
            deadline = time.monotonic() + timeout
            while not (process.queue_idle() and drift_ready(custom, namespace, name)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready with an idle operator before {case.name}")
                time.sleep(0.05)
            before = drift.snapshot(core, custom, namespace, name)
            tampered = time.monotonic()
            case.tamper(core, custom, before)
            while not case.repaired(core, custom, before):
                if time.monotonic() > tampered + timeout:
                    raise TimeoutError(f"{case.name} of {name} not repaired after {timeout:.0f} s")
                time.sleep(0.02)
            repairs[case.name].append(time.monotonic() - tampered)
    return repairs


def drift_phase(core: Any, custom: Any, process: OperatorProcess, namespace: str, names: list[str],
                args: argparse.Namespace) -> dict:  # fmt: skip
    load_before = os.getloadavg()
    repairs = drift_repairs(core, custom, process, namespace, names, args.drift_rounds, 60)
    every = [s for seconds in repairs.values() for s in seconds]
    return {
        "drift_repair_s": repairs,
        "drift_repair_p50_s": percentile(every, 0.5),
        "drift_repair_p95_s": percentile(every, 0.95),
        "drift_repair_max_s": max(every, default=float("nan")),
        "load_average_1m_before_after_drift": [load_before[0], os.getloadavg()[0]],
    }


def drift_ready(custom: Any, namespace: str, name: str) -> bool:
    cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    status = cr.get("status") or {}
    return bool(status.get("ready")) and status.get("observedGeneration") == cr["metadata"]["generation"]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_changes(
    core: Any, custom: Any, process: OperatorProcess, namespace: str, names: list[str],
    performers: Watcher, pods: Watcher, args: argparse.Namespace,
) -> dict:  # fmt: skip
    """Steady state: readiness flips, then spec changes, then (on an idle operator) drift."""
    flips = readiness_flips(core, performers, namespace, names[: args.upgrades])

    # Spec changes: each of K Performers gets a new environment; time until it has a new pod.
    changed = names[: args.upgrades]
    old_uids = {n: pods.objects[child_name(n)]["metadata"]["uid"] for n in changed}
    new_pod: dict[str, float] = {}
    patched: dict[str, float] = {}
    for name in changed:
        patched[name] = time.monotonic()
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": {"config": {"environment": {"REVISION": "2"}}}}
        )
    deadline = time.monotonic() + args.timeout
    while len(new_pod) < len(changed) and time.monotonic() < deadline:
        for name in changed:
            pod = pods.objects.get(child_name(name))
            if name not in new_pod and pod and pod["metadata"]["uid"] != old_uids[name]:
                new_pod[name] = time.monotonic()
        time.sleep(0.02)
    result = {
        "readiness_flips": len(flips),
        "steady_pod_ready_to_status_ready_p50_s": percentile(flips, 0.5),
        "steady_pod_ready_to_status_ready_p95_s": percentile(flips, 0.95),
        "spec_change_to_new_pod_p50_s": percentile([new_pod[n] - patched[n] for n in new_pod], 0.5),
        "spec_changes_completed": len(new_pod),
        "ansible_runs": process.metric("hourglass_batch_size_count"),
        "module_calls": process.metric("hourglass_ansible_module_calls_total"),
        "status_syncs_patched": process.metric('hourglass_status_syncs_total{result="patched"}'),
        "operator_peak_rss_mb": peak_rss_mb(process.process.pid),
    }
    result.update(drift_phase(core, custom, process, namespace, names, args))
    return result


def operator_phase(
    core: Any, custom: Any, kubeconfig: Path, namespace: str, args: argparse.Namespace, work: Path
) -> dict:
    process = OperatorProcess(
        kubeconfig,
        namespace,
        work,
        "--max-batch-size",
        str(args.batch_size),
        "--max-concurrent-reconciles",
        str(args.workers),
        "--log-level",
        "warning",
    )
    process.wait_ready(60)
    names = [f"bench-{i:04d}" for i in range(args.count)]
    performers = Watcher(
        lambda ns, **kw: custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, **kw),
        lambda p: bool((p.get("status") or {}).get("ready")),
        namespace,
    )
    pods = Watcher(core.list_namespaced_pod, pod_ready, namespace)
    created: dict[str, float] = {}
    started = time.monotonic()

    def create(name: str) -> None:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer(name, config={}))
        created[name] = time.monotonic()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))
    done = wait_count(performers, set(names), args.timeout)
    create_to_ready = [performers.first[n] - created[n] for n in names]
    pod_ready_at = {n: pods.first.get(child_name(n)) for n in names}
    pod_to_status = [performers.first[n] - pod_ready_at[n] for n in names if pod_ready_at[n]]
    if args.drift_only:
        result = {"all_ready_s": done - started, **drift_phase(core, custom, process, namespace, names, args)}
    else:
        result = measure_changes(core, custom, process, namespace, names, performers, pods, args)
        result.update(
            all_ready_s=done - started,
            create_to_ready_p50_s=percentile(create_to_ready, 0.5),
            create_to_ready_p95_s=percentile(create_to_ready, 0.95),
            pod_ready_to_status_ready_p50_s=percentile(pod_to_status, 0.5),
        )
    performers.stop()
    pods.stop()
    delete_performers(custom, namespace, timeout=args.timeout)
    process.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--upgrades", type=int, default=20, help="Performers whose spec is changed")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--drift-rounds", type=int, default=3, help="rounds of each tampering case")
    parser.add_argument("--drift-only", action="store_true", help="only create the Performers and tamper")
    parser.add_argument("--kubeconfig", type=Path, help="default: the local control plane, started if needed")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    churn.add_arguments(parser)
    args = parser.parse_args()
    testenv = str(REPO / "hack/testenv/testenv.sh")
    if args.kubeconfig:
        kubeconfig = args.kubeconfig
    else:
        kubeconfig = Path(
            subprocess.run([testenv, "up"], check=True, capture_output=True, text=True).stdout.strip()
        )
    api = kubernetes.config.new_client_from_config(str(kubeconfig))
    core, custom = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)
    kubectl = (
        subprocess.run(
            [str(REPO / "hack/testenv/testenv.sh"), "bin"], check=True, capture_output=True, text=True
        ).stdout.strip()
        + "/kubectl"
    )
    subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(REPO / "crds"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(kubeconfig),
            "wait",
            "--for=condition=Established",
            "crd/performers.hourglass.eigenlayer.io",
        ],
        check=True,
        capture_output=True,
    )
    run_id = uuid.uuid4().hex[:6]
    work = Path(f"/tmp/hourglass-bench-{run_id}")
    work.mkdir(parents=True)
    if args.churn:
        namespace = f"bench-churn-{run_id}"
        core.create_namespace({"metadata": {"name": namespace}})
        try:
            churn.finish(churn.run(core, custom, kubeconfig, namespace, args, work), args.out)
        finally:
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_namespace(namespace)
        return 0
    namespaces = {"floor": f"bench-floor-{run_id}", "operator": f"bench-operator-{run_id}"}
    for ns in namespaces.values():
        core.create_namespace({"metadata": {"name": ns}})
    nodes = add_bench_nodes(core, args.count)
    try:
        floor = {"all_ready_s": float("nan")}
        if not args.drift_only:
            floor = floor_phase(core, namespaces["floor"], args.count, args.timeout)
        delete_namespace(core, namespaces["floor"], args.timeout)
        operator = operator_phase(core, custom, kubeconfig, namespaces["operator"], args, work)
    finally:
        for ns in namespaces.values():
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_namespace(ns)
        for node in nodes:
            core.delete_node(node)
    report = {
        "count": args.count,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "floor": floor,
        "operator": operator,
        "operator_over_floor": operator["all_ready_s"] / floor["all_ready_s"],
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    rows = [("Performers", f"{args.count}")] + ([] if args.drift_only else [
        ("floor: N pods+services until all Ready", f"{floor['all_ready_s']:.1f} s"),
        ("operator: all Performers ready", f"{operator['all_ready_s']:.1f} s"),
        ("operator / floor", f"{report['operator_over_floor']:.2f}x"),
        ("create -> ready p50 / p95",
         f"{operator['create_to_ready_p50_s']:.1f} s / {operator['create_to_ready_p95_s']:.1f} s"),
        ("pod Ready -> status.ready p50, at creation",
         f"{operator['pod_ready_to_status_ready_p50_s']:.2f} s"),
        (f"pod Ready -> status.ready p50 / p95, steady ({operator['readiness_flips']} flips)",
         f"{operator['steady_pod_ready_to_status_ready_p50_s'] * 1000:.0f} ms"
         f" / {operator['steady_pod_ready_to_status_ready_p95_s'] * 1000:.0f} ms"),
        (f"spec change -> new pod p50 ({operator['spec_changes_completed']} changes)",
         f"{operator['spec_change_to_new_pod_p50_s']:.2f} s"),
        ("ansible runs / module calls", f"{operator['ansible_runs']:.0f} / {operator['module_calls']:.0f}"),
        ("status patches without ansible", f"{operator['status_syncs_patched']:.0f}"),
        ("operator peak RSS", f"{operator['operator_peak_rss_mb']:.0f} MB"),
    ])  # fmt: skip
    repairs = operator["drift_repair_s"]
    rows.append((
        f"drift -> repaired p50 / p95 / max ({sum(map(len, repairs.values()))} tamperings)",
        f"{operator['drift_repair_p50_s']:.2f} s / {operator['drift_repair_p95_s']:.2f} s"
        f" / {operator['drift_repair_max_s']:.2f} s",
    ))  # fmt: skip
    rows += [(f"  {case} p50 / max", f"{percentile(seconds, 0.5):.2f} s / {max(seconds):.2f} s")
             for case, seconds in repairs.items()]  # fmt: skip
    load = report["load_average"]
    rows.append(
        (
            "load average 1/5/15 min (cpus)",
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} ({report['cpus']})",
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    args.out.mkdir(parents=True, exist_ok=True)
    kind = "drift" if args.drift_only else "operator"
    path = args.out / f"{kind}-{args.count}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
