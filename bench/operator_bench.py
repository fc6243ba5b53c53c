"""Operator benchmark (not a test): how fast N Performers become ready and go away, and what that
costs in CPU, memory and API requests, compared with three floors of the same cluster: a plain client
creating and deleting N bare Pods and Services; the Performers with the Pods and Services the
contract requires; and those with the finalizer, statuses and Events an operator writes.

    .venv/bin/python -m bench.operator_bench                 # 200 Performers, 2 runs, the median
    .venv/bin/python -m bench.operator_bench --count 1000 --repeat 3

Each run, each phase in a fresh namespace:
1. floor: a plain client creates N Pods and N Services (8 threads); time until every pod is Ready;
   then deletes them all (8 threads); time until every one is gone;
2. contract floor (bench/floors.py; --no-contract-floor skips it): a plain client writes each
   Performer and the Pod and Service the role renders for it (owner references included), until
   every pod is Ready; then deletes the three, until the Pods and Services are gone;
   status floor (--no-status-floor skips it): the same with the operator's own finalizer patches,
   status patches and Events, each written once the plain client's watches say it is due, until
   every Performer's status says ready; then deleted, until children and Performers are gone;
3. operator: `hourglass-operator run` watches the namespace; N Performers are created (8 threads);
   time until every Performer has status.ready, create->ready per Performer, pod Ready ->
   status.ready per Performer (all observed by watches in this process); then, in steady state,
   K pods turn not ready and ready again (their Ready condition patched as a kubelet would): the
   time from a pod turning ready to status.ready; the spec of K Performers changes: time until each
   has a new pod;
4. drift: another client tampers with what the operator manages (tests/support/drift.py: edits a
   Service port, adds a port, sets a pod's image, changes its owner label, writes the status),
   one case at a time on an otherwise idle operator, R rounds of each case on different
   Performers; the time from the tampering to the repair, p50/p95 over all cases and per case;
5. delete: every Performer is deleted (8 threads); time until their Pods and Services are gone and
   until the Performers themselves are (their finalizers removed), against the floor's delete;
6. single changes (bench/single_changes.py), a fresh operator on an otherwise idle cluster:
   --single-changes times one create -> ready, one env change -> new pod Ready, one image change
   -> new pod, sequentially; p50/p95 of each.
Per phase: CPU seconds and peak RSS of the operator's whole process tree (the operator and every
ansible-playbook and module process it started, bench/process_tree.py), API requests (the delta of
the API server's apiserver_request_total, bench/apiserver.py) in total and per object, the CPU
seconds of a control plane running on this machine by component, and the load average at the start
and the end (the machine may be shared). Also ansible runs, module calls and
status patches made without ansible (from the operator's /metrics).

--repeat N (default 2) runs all of it N times; the table shows the median of the runs. Written to
--out (default bench/results/): per run a JSON and a PNG chart (bench/charts.py: readiness over
time floor vs operator, deletion, the tree's RSS) beside it, and a JSON with the median. Progress
lines go to stderr.

    .venv/bin/python -m bench.operator_bench --drift-only --count 20   # only the drift scenario
    .venv/bin/python -m bench.operator_bench --single-only             # only the single changes

With --churn, instead: the RSS of the operator and the executor over a create/update/delete churn
(bench/churn.py), e.g. `make bench BENCH_ARGS="--churn --churn-duration 300 --churn-rate 5"`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
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

from bench import charts, churn, single_changes  # noqa: E402
from bench.apiserver import RequestCounter  # noqa: E402
from bench.floors import contract_floor_phase, floor_phase, ratios, status_floor_phase  # noqa: E402
from bench.operator_table import print_table, rows  # noqa: E402
from bench.process_tree import PhaseMeter, TreeSampler  # noqa: E402
from bench.progress import say  # noqa: E402
from bench.repeat import median_of  # noqa: E402
from bench.watching import (  # noqa: E402
    Watcher,
    performer_ready_at,
    performer_watcher,
    pod_ready,
    since,
    wait_first,
    wait_gone,
    wait_until,
)
from tests.support import drift  # noqa: E402
from tests.support.operator import OperatorProcess  # noqa: E402
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers, performer, set_pod_ready  # noqa: E402

percentile = single_changes.percentile


def bench_nodes(count: int) -> list[str]:
    """The extra kwok nodes N pods need (the catalog's general pool holds 330 pods)."""
    return [f"kwok-bench-{i:02d}" for i in range((count + 99) // 100)]


def add_bench_nodes(core: Any, names: list[str]) -> None:
    """Creates the bench's nodes; one left behind by an interrupted run is used as it is."""
    for i, name in enumerate(names):
        allocatable = {"cpu": "64", "memory": "256Gi", "pods": "110"}
        node = {
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
        try:
            core.create_node(node)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise


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
            say(f"drift: {case.name} of {name} repaired after {repairs[case.name][-1]:.2f} s")
    return repairs


def drift_phase(core: Any, custom: Any, process: OperatorProcess, namespace: str, names: list[str],
                args: argparse.Namespace) -> dict:  # fmt: skip
    say(f"drift: {args.drift_rounds} rounds of {len(drift.CASES)} tamperings")
    repairs = drift_repairs(core, custom, process, namespace, names, args.drift_rounds, 60)
    every = [s for seconds in repairs.values() for s in seconds]
    return {
        "drift_repair_s": repairs,
        "drift_repair_p50_s": percentile(every, 0.5),
        "drift_repair_p95_s": percentile(every, 0.95),
        "drift_repair_max_s": max(every, default=float("nan")),
    }


def drift_ready(custom: Any, namespace: str, name: str) -> bool:
    return performer_ready_at(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


# The steps of a pod's replacement after a spec change, in order: the operator's run deleted the old
# pod, the kubelet stopped it and it is gone, the operator created the new one, the scheduler bound it
# to a node, it is Ready, and the Performer is ready again at its new generation (what an executor
# waits for).
REPLACEMENT_STEPS = (
    "old_pod_marked", "old_pod_gone", "new_pod", "new_pod_bound", "new_pod_ready", "performer_ready"
)  # fmt: skip


def spec_changes(
    custom: Any, namespace: str, pods: Watcher, performers: Watcher, names: list[str], timeout: float
) -> dict:
    """Each of the Performers gets a new environment; the seconds from its change to each step of
    its pod's replacement (REPLACEMENT_STEPS)."""
    old_uids = {n: pods.uid(child_name(n)) for n in names}
    patched: dict[str, float] = {}
    generation: dict[str, int] = {}
    for name in names:
        patched[name] = time.monotonic()
        change = {"spec": {"config": {"environment": {"REVISION": "2"}}}}
        changed = custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, change)
        generation[name] = changed["metadata"]["generation"]
    reached: dict[str, dict[str, float]] = {step: {} for step in REPLACEMENT_STEPS}

    def new_pods(name: str) -> list[str]:
        """The uids the pod had after the old one, in order. More than one: the new pod was deleted by
        someone else and made again. kwok (v0.8.0) deletes a pod by name without a UID precondition,
        often twice, so its stale second deletion of the old pod can hit the new one of the same name;
        a kubelet deletes only the pod it stopped."""
        uids = pods.incarnations.get(child_name(name), [])
        old = old_uids[name]
        return uids[uids.index(old) + 1 :] if old in uids else uids

    def observe(name: str) -> None:
        pod, old = child_name(name), old_uids[name]
        if old in pods.marked:
            reached["old_pod_marked"].setdefault(name, pods.marked[old])
        if pods.gone.get(pod, 0.0) > patched[name]:
            reached["old_pod_gone"].setdefault(name, pods.gone[pod])
        if new := new_pods(name):
            reached["new_pod"].setdefault(name, pods.seen[new[0]])
            current = pods.objects.get(pod) or {"metadata": {}}
            if current["metadata"].get("uid") == new[-1] and current["spec"].get("nodeName"):
                reached["new_pod_bound"].setdefault(name, time.monotonic())  # polled: within 20 ms
            if new[-1] in pods.uid_first:
                reached["new_pod_ready"].setdefault(name, pods.uid_first[new[-1]])
        cr = performers.objects.get(name)
        if cr and performer_ready_at(cr, generation[name]):
            reached["performer_ready"].setdefault(name, time.monotonic())  # polled: within 20 ms

    def all_replaced() -> bool:
        for name in names:
            observe(name)
        return all(len(reached[step]) == len(names) for step in ("new_pod_ready", "performer_ready"))

    with contextlib.suppress(TimeoutError):
        wait_until(
            all_replaced, timeout, "spec changes",
            lambda: f"spec changes: {len(reached['performer_ready'])}/{len(names)} done",
        )  # fmt: skip
    seconds = {step: [t - patched[n] for n, t in reached[step].items()] for step in REPLACEMENT_STEPS}
    return {
        "spec_change_to_new_pod_p50_s": percentile(seconds["new_pod"], 0.5),
        "spec_change_to_new_pod_p95_s": percentile(seconds["new_pod"], 0.95),
        "spec_changes_completed": len(reached["new_pod"]),
        "spec_change_pods_made_again": sum(1 for name in names if len(new_pods(name)) > 1),
        "spec_change_steps_p50_s": {step: percentile(seconds[step], 0.5) for step in REPLACEMENT_STEPS},
        "spec_change_steps_p95_s": {step: percentile(seconds[step], 0.95) for step in REPLACEMENT_STEPS},
    }


def delete_all(
    custom: Any,
    namespace: str,
    names: list[str],
    performers: Watcher,
    children: list[Watcher],
    meter: PhaseMeter,
    begun: dict,
    timeout: float,
) -> tuple[dict, dict]:
    """Deletes every Performer (8 threads); until their Pods and Services, then they, are gone."""
    say(f"operator: deleting {len(names)} Performers")

    def delete(name: str) -> None:
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, names))
    child_names = {child_name(n) for n in names}
    children_gone = wait_gone(children, child_names, begun["at"], timeout, "operator: children")
    performers_gone = wait_gone([performers], set(names), begun["at"], timeout, "operator: Performers")
    result = {
        "children_gone_s": round(children_gone - begun["at"], 2),
        "performers_gone_s": round(performers_gone - begun["at"], 2),
        **meter.finish(begun, len(names)),
    }
    timelines = {
        "operator_children_gone": [t for w in children for t in since(w.gone, child_names, begun["at"])],
        "operator_performers_gone": since(performers.gone, names, begun["at"]),
    }
    say(
        f"operator: children gone after {result['children_gone_s']:.1f} s, "
        f"Performers after {result['performers_gone_s']:.1f} s"
    )
    return result, timelines


def collection_tree() -> Path:
    """The checkout the collection hourglass.operator is imported from (`make venv` links one)."""
    import ansible_collections.hourglass.operator as collection

    return Path(next(iter(collection.__path__))).resolve()


def start_operator(kubeconfig: Path, namespace: str, args: argparse.Namespace, work: Path) -> OperatorProcess:
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
    return process


def operator_counters(process: OperatorProcess) -> dict[str, float]:
    return {
        "ansible_runs": process.metric("hourglass_batch_size_count"),
        "module_calls": process.metric("hourglass_ansible_module_calls_total"),
        "status_syncs_patched": process.metric('hourglass_status_syncs_total{result="patched"}'),
    }


def operator_phase(
    core: Any,
    custom: Any,
    kubeconfig: Path,
    namespace: str,
    args: argparse.Namespace,
    work: Path,
    counter: RequestCounter,
) -> dict:
    say("operator: starting")
    process = start_operator(kubeconfig, namespace, args, work)
    sampler = TreeSampler(process.process.pid)
    meter = PhaseMeter(sampler, counter)
    names = [f"bench-{i:04d}" for i in range(args.count)]
    performers = performer_watcher(custom, namespace)
    pods = Watcher(core.list_namespaced_pod, pod_ready, namespace)
    services = Watcher(core.list_namespaced_service, lambda _: True, namespace)
    phases: dict[str, dict] = {}
    starts: dict[str, float] = {}
    created: dict[str, float] = {}

    def create(name: str) -> None:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer(name, config={}))
        created[name] = time.monotonic()

    def begin(phase: str) -> dict:
        begun = meter.start()
        starts[phase] = round(begun["at"] - sampler.started, 2)
        return begun

    try:
        say(f"operator: creating {args.count} Performers")
        begun = begin("create")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, names))
        done = wait_first(performers, set(names), args.timeout, "operator: Performers ready")
        create_to_ready = [performers.first[n] - created[n] for n in names]
        pod_ready_at = {n: pods.first.get(child_name(n)) for n in names}
        pod_to_status = [performers.first[n] - pod_ready_at[n] for n in names if pod_ready_at[n]]
        phases["create"] = {
            "all_ready_s": round(done - begun["at"], 2),
            "create_to_ready_p50_s": percentile(create_to_ready, 0.5),
            "create_to_ready_p95_s": percentile(create_to_ready, 0.95),
            "pod_ready_to_status_ready_p50_s": percentile(pod_to_status, 0.5),
            "pod_ready_to_status_ready_p95_s": percentile(pod_to_status, 0.95),
            **meter.finish(begun, args.count),
        }
        timelines = {
            "operator_ready": since(performers.first, names, begun["at"]),
            "operator_pods_ready": since(pods.first, {child_name(n) for n in names}, begun["at"]),
        }
        say(f"operator: all {args.count} ready after {phases['create']['all_ready_s']:.1f} s")
        if not args.drift_only:
            say(f"changes: {args.upgrades} readiness flips, then {args.upgrades} spec changes")
            begun = begin("changes")
            flips = readiness_flips(core, performers, namespace, names[: args.upgrades])
            phases["changes"] = {
                "readiness_flips": len(flips),
                "steady_pod_ready_to_status_ready_p50_s": percentile(flips, 0.5),
                "steady_pod_ready_to_status_ready_p95_s": percentile(flips, 0.95),
                **spec_changes(custom, namespace, pods, performers, names[: args.upgrades], args.timeout),
            }
            phases["changes"].update(meter.finish(begun, 2 * args.upgrades))
        begun = begin("drift")
        phases["drift"] = drift_phase(core, custom, process, namespace, names, args)
        phases["drift"].update(meter.finish(begun, sum(map(len, phases["drift"]["drift_repair_s"].values()))))
        counters = operator_counters(process)
        begun = begin("delete")
        phases["delete"], deleted = delete_all(
            custom, namespace, names, performers, [pods, services], meter, begun, args.timeout
        )
        timelines.update(deleted)
    finally:
        performers.stop()
        pods.stop()
        services.stop()
        with contextlib.suppress(Exception):
            delete_performers(custom, namespace, timeout=args.timeout)
        root_peak = sampler.root_peak_mb()
        process.stop()
        sampler.stop()
    timelines["operator_tree_rss"] = sampler.samples
    timelines["operator_phase_starts"] = starts
    return {
        **phases,
        **counters,
        "operator_peak_rss_mb": root_peak,
        "tree_peak_rss_mb": max((s[1] for s in sampler.samples), default=float("nan")),
        "tree_peak_pss_mb": max((s[3] for s in sampler.samples), default=float("nan")),
        "timelines": timelines,
    }


def single_phase(
    core: Any,
    custom: Any,
    kubeconfig: Path,
    namespace: str,
    args: argparse.Namespace,
    work: Path,
    counter: RequestCounter,
) -> dict:
    say(f"single changes: {args.single_changes} rounds on an idle cluster")
    process = start_operator(kubeconfig, namespace, args, work)
    sampler = TreeSampler(process.process.pid)
    meter = PhaseMeter(sampler, counter)
    try:
        begun = meter.start()
        result = single_changes.run(custom, core, process, namespace, args.single_changes, args.timeout)
        result.update(meter.finish(begun, args.single_changes))
        delete_performers(custom, namespace, timeout=args.timeout)
    finally:
        process.stop()
        sampler.stop()
    return result


def one_run(
    core: Any, custom: Any, kubeconfig: Path, counter: RequestCounter, args: argparse.Namespace, run: int
) -> dict:
    """One run of the benchmark's phases (each in its own namespace, removed afterwards)."""
    run_id = uuid.uuid4().hex[:6]
    work = Path(f"/tmp/hourglass-bench-{run_id}")
    work.mkdir(parents=True)
    say(f"run {run}/{args.repeat} ({run_id}, operator logs in {work})")
    result: dict[str, Any] = {"run": run, "count": args.count, "timelines": {}}
    bulk = not args.single_only
    namespaces = {
        "floor": f"bench-floor-{run_id}",
        "contract_floor": f"bench-contract-{run_id}",
        "status_floor": f"bench-status-{run_id}",
        "operator": f"bench-operator-{run_id}",
        "single": f"bench-single-{run_id}",
    }
    if not bulk:
        namespaces = {"single": namespaces["single"]}
    if args.drift_only:
        namespaces.pop("floor", None)
    if args.drift_only or not args.contract_floor:
        namespaces.pop("contract_floor", None)
    if args.drift_only or not args.status_floor:
        namespaces.pop("status_floor", None)
    if not args.single_changes:
        namespaces.pop("single", None)
    nodes = bench_nodes(args.count + args.single_changes)
    meter = PhaseMeter(None, counter)
    try:
        for ns in namespaces.values():
            core.create_namespace({"metadata": {"name": ns}})
        add_bench_nodes(core, nodes)
        count, timeout = args.count, args.timeout
        floor_phases = {  # by their keys in the result (FLOORS), each in its own namespace
            "floor": lambda ns: floor_phase(core, ns, count, timeout, meter),
            "contract_floor": lambda ns: contract_floor_phase(core, custom, ns, count, timeout, meter),
            "status_floor": lambda ns: status_floor_phase(core, custom, ns, count, timeout, meter),
        }
        for key, phase in floor_phases.items():
            if key in namespaces:
                measured = phase(namespaces[key])
                result["timelines"].update(measured.pop("timelines"))
                result[key] = measured
                delete_namespace(core, namespaces[key], args.timeout)
        if bulk:
            operator = operator_phase(core, custom, kubeconfig, namespaces["operator"], args, work, counter)
            result["timelines"].update(operator.pop("timelines"))
            result["operator"] = operator
            delete_namespace(core, namespaces["operator"], args.timeout)
        if args.single_changes and not args.drift_only:
            result["single_changes"] = single_phase(
                core, custom, kubeconfig, namespaces["single"], args, work, counter
            )
    finally:
        for ns in namespaces.values():
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_namespace(ns)
        for node in nodes:
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_node(node)
    result.update(ratios(result))
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def output(command: list[str]) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def prepare_cluster(args: argparse.Namespace) -> Path:
    """The kubeconfig (the local control plane, started if needed) with the CRD installed."""
    testenv = str(REPO / "hack/testenv/testenv.sh")
    kubeconfig = args.kubeconfig or Path(output([testenv, "up"]))
    kubectl = output([testenv, "bin"]) + "/kubectl"
    base = [kubectl, "--kubeconfig", str(kubeconfig)]
    subprocess.run(
        [*base, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*base, "wait", "--for=condition=Established", "crd/performers.hourglass.eigenlayer.io"],
        check=True,
        capture_output=True,
    )
    return kubeconfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--batch-size", type=int, default=250, help="--max-batch-size (as the operator defaults)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="ansible runs at the same time (as the operator defaults)"
    )
    parser.add_argument("--upgrades", type=int, default=20, help="Performers whose spec is changed")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--drift-rounds", type=int, default=3, help="rounds of each tampering case")
    parser.add_argument("--drift-only", action="store_true", help="only create the Performers and tamper")
    parser.add_argument(
        "--single-changes",
        type=int,
        default=20,
        help="rounds of the single-changes scenario; 0 skips it (default 20)",
    )
    parser.add_argument("--single-only", action="store_true", help="only the single-changes scenario")
    parser.add_argument(
        "--no-contract-floor",
        dest="contract_floor",
        action="store_false",
        help="skip the contract floor (the Performers, Pods and Services written by a plain client)",
    )
    parser.add_argument(
        "--no-status-floor",
        dest="status_floor",
        action="store_false",
        help="skip the status floor (the contract floor with the operator's finalizer, statuses, Events)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs; the table shows the median (default 2)")
    parser.add_argument("--no-chart", action="store_true", help="no PNG charts (JSON only)")
    parser.add_argument("--kubeconfig", type=Path, help="default: the local control plane, started if needed")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    churn.add_arguments(parser)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    collection = collection_tree()
    if collection != REPO:  # a second checkout (a "before" tree) sharing the first one's virtualenv
        parser.error(
            f"the collection hourglass.operator on this Python's path is {collection}, not this tree "
            f"({REPO}): the operator's runs would use its roles and modules. Point the virtualenv's link "
            f"at this tree (ln -sfn {REPO} <venv>/lib/python3.11/site-packages/ansible_collections/"
            "hourglass/operator) for the run, or give this tree a virtualenv of its own (make venv)"
        )
    if args.single_only and not args.single_changes:
        parser.error("--single-only needs --single-changes > 0")
    if args.single_only:
        args.count = 0
    kubeconfig = prepare_cluster(args)
    api = kubernetes.config.new_client_from_config(str(kubeconfig))
    core, custom = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)
    if args.churn:
        run_id = uuid.uuid4().hex[:6]
        work = Path(f"/tmp/hourglass-bench-{run_id}")
        work.mkdir(parents=True)
        namespace = f"bench-churn-{run_id}"
        core.create_namespace({"metadata": {"name": namespace}})
        try:
            churn.finish(churn.run(core, custom, kubeconfig, namespace, args, work), args.out)
        finally:
            with contextlib.suppress(kubernetes.client.ApiException):
                core.delete_namespace(namespace)
        return 0

    counter = RequestCounter(api)
    args.out.mkdir(parents=True, exist_ok=True)
    kind = "single" if args.single_only else "drift" if args.drift_only else "operator"
    stem = f"{kind}-{args.count}-{time.strftime('%Y%m%dT%H%M%S')}"
    runs, written = [], []
    for run in range(1, args.repeat + 1):
        result = one_run(core, custom, kubeconfig, counter, args, run)
        path = args.out / f"{stem}-run{run}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        written.append(path)
        if not args.no_chart and result["timelines"]:
            written.append(charts.operator_chart(result, path.with_suffix(".png")))
        say(f"run {run}/{args.repeat} done: {', '.join(str(p) for p in written[-2:])}")
        print_table(f"run {run}", rows(result, args))
        runs.append(result)
    summary_runs = [{k: v for k, v in r.items() if k != "timelines"} for r in runs]
    median = median_of(summary_runs)
    summary = {
        "parameters": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if "churn" not in k
        },
        "cpus": os.cpu_count(),
        "runs": [str(p) for p in written if p.suffix == ".json"],
        "median": median,
    }
    path = args.out / f"{stem}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print_table(f"median of {len(runs)} runs", rows(median, args))
    print(f"\nwrote {path} (median) and {', '.join(p.name for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
