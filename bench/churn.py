"""The churn mode of the operator benchmark (`python -m bench.operator_bench --churn`): the resident
memory of the operator and of the executor under a steady stream of changes, to show it stays
bounded.

- Operator: `hourglass-operator run` watches a fresh namespace; a scheduler issues `--churn-rate`
  operations per second for `--churn-duration` seconds, each a create, a spec update (a new env
  value, which replaces the pod) or a delete of a Performer, keeping between `--churn-min` and
  `--churn-max` Performers alive. Afterwards: how long until the operator caught up (every live
  Performer ready for its last spec, every deleted one gone).
- Executor (unless `--churn-no-executor`), at the same time: an executor process (authentication on,
  SQLite store, a LocalBackend whose deploys start echo performers inside the executor process)
  serves `--churn-task-rate` signed tasks per second, and every `--churn-deploy-every` seconds a
  DeployArtifact of a new digest replaces its performer (blue-green).

The CPU seconds and the peak RSS of the operator's whole process tree (its ansible-playbook and module
children included, bench/process_tree.py) are reported over the churn and the catching up. The RSS
of both processes (the operator's runner loop without its short-lived ansible children) is sampled
every `--churn-sample` seconds while they churn; the growth per hour is the slope of a
least-squares line through the samples after `--churn-warmup` seconds, times 3600, and the same
over the second half of the run alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.process_tree import TreeSampler, tree_cpu_seconds  # noqa: E402
from bench.progress import Ticker, say  # noqa: E402
from bench.watching import performer_ready_at  # noqa: E402
from tests.support.operator import OperatorProcess  # noqa: E402
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers, performer  # noqa: E402

PAYLOAD = b'{"op": "echo", "data": "churn"}'


# --- memory over time ---------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread: [(seconds since start, MB)]."""

    def __init__(self, pid: int, interval: float) -> None:
        self.samples: list[tuple[float, float]] = []
        self._pid, self._interval = pid, interval
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss {pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            value = rss_mb(self._pid)
            if value is not None:
                self.samples.append((round(time.monotonic() - self._started, 1), round(value, 1)))
            if self._stop.wait(self._interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def growth_per_hour(samples: list[tuple[float, float]], warmup: float) -> float:
    """MB per hour: the least-squares slope through the samples taken after `warmup` seconds."""
    points = [(t, mb) for t, mb in samples if t >= warmup]
    if len(points) < 2:
        return float("nan")
    mean_t = sum(t for t, _ in points) / len(points)
    mean_mb = sum(mb for _, mb in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    slope = sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / spread if spread else 0.0
    return slope * 3600


def memory_summary(samples: list[tuple[float, float]], warmup: float) -> dict[str, Any]:
    """Start, end and peak, and the growth fitted after the warm-up and over the second half (caches
    that fill as the churn reaches its steady population weigh on the first, not the second)."""
    after = [mb for t, mb in samples if t >= warmup] or [mb for _, mb in samples]
    half = samples[-1][0] / 2 if samples else 0.0
    return {
        "rss_after_warmup_mb": after[0] if after else float("nan"),
        "rss_end_mb": after[-1] if after else float("nan"),
        "rss_peak_mb": max((mb for _, mb in samples), default=float("nan")),
        "rss_growth_mb_per_hour": round(growth_per_hour(samples, warmup), 1),
        "rss_growth_second_half_mb_per_hour": round(growth_per_hour(samples, max(warmup, half)), 1),
        "rss_samples": samples,
    }


# --- operator churn ----------------------------------------------------------------------------


class Population:
    """The Performers the churn created and not yet deleted, with the spec revision each was last
    given (the scheduler's view), and those whose create the API server accepted (the workers')."""

    def __init__(self) -> None:
        self.revision: dict[str, int] = {}
        self._accepted: set[str] = set()
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        with self._lock:
            self.revision[name] = 1

    def bump(self, name: str) -> int:
        with self._lock:
            self.revision[name] += 1
            return self.revision[name]

    def accept(self, name: str) -> None:
        with self._lock:
            if name in self.revision:
                self._accepted.add(name)

    def existing(self) -> list[str]:
        with self._lock:
            return sorted(self._accepted)

    def forget(self, name: str) -> None:
        with self._lock:
            self.revision.pop(name, None)
            self._accepted.discard(name)


def choose(rng: random.Random, population: Population, low: int, high: int) -> str:
    alive, existing = len(population.revision), population.existing()
    if alive < low or not existing:
        return "create"
    if alive >= high:
        return rng.choice(("update", "delete"))
    return rng.choice(("create", "update", "delete"))


def operator_churn(core: Any, custom: Any, kubeconfig: Path, namespace: str, args: argparse.Namespace,
                   work: Path, operator_started: threading.Event) -> dict[str, Any]:  # fmt: skip
    process = OperatorProcess(kubeconfig, namespace, work, "--log-level", "warning")
    process.wait_ready(60)
    sampler = RssSampler(process.process.pid, args.churn_sample)
    tree = TreeSampler(process.process.pid)
    cpu_before = tree_cpu_seconds(process.process.pid)
    operator_started.set()
    rng = random.Random(args.churn_seed)
    population = Population()
    counts = {"create": 0, "update": 0, "delete": 0}
    errors: list[str] = []
    serial = 0

    def call(op: str, name: str, revision: int) -> None:
        try:
            if op == "create":
                body = performer(name, config={"environment": {"REVISION": str(revision)}})
                custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
                population.accept(name)
            elif op == "update":
                change = {"spec": {"config": {"environment": {"REVISION": str(revision)}}}}
                custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, change)
            else:
                custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except kubernetes.client.ApiException as error:
            errors.append(f"{op} {name}: {error.status} {error.reason}")

    started = time.monotonic()
    total = int(args.churn_duration * args.churn_rate)
    say(f"churn: {total} operations over {args.churn_duration:g} s")
    ticker = Ticker(30)
    with ThreadPoolExecutor(8) as pool:
        for i in range(total):
            ticker.tick(f"churn: {i}/{total} operations, {len(population.revision)} Performers alive")
            delay = started + i / args.churn_rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            op = choose(rng, population, args.churn_min, args.churn_max)
            if op == "create":
                serial += 1
                name, revision = f"churn-{serial:05d}", 1
                population.add(name)
            else:
                name = rng.choice(population.existing())
                revision = population.bump(name) if op == "update" else 0
                if op == "delete":
                    population.forget(name)
            counts[op] += 1
            pool.submit(call, op, name, revision)
    churned = time.monotonic() - started
    sampler.stop()  # the growth is fitted over the churn; catching up afterwards is reported apart
    say("churn: done; waiting for the operator to catch up")
    caught_up = wait_caught_up(custom, namespace, population, args.timeout)
    tree_cpu = tree_cpu_seconds(process.process.pid) - cpu_before
    result = {
        "operations": counts,
        "operations_per_second": round(total / churned, 2),
        "api_errors": len(errors),
        "api_error_sample": errors[:5],
        "performers_alive_at_end": len(population.revision),
        "caught_up_after_churn_s": caught_up,
        "ansible_runs": process.metric("hourglass_batch_size_count"),
        "reconcile_errors": process.metric('hourglass_reconciles_total{result="error"}'),
        **memory_summary(sampler.samples, args.churn_warmup),
        "rss_after_catching_up_mb": rss_mb(process.process.pid),
        # The whole process tree (ansible-playbook runs and modules included), churn and catching up.
        "tree_cpu_s": round(tree_cpu, 1),
        "tree_cpu_ms_per_operation": round(tree_cpu * 1000 / total, 1) if total else float("nan"),
        "tree_peak_rss_mb": tree.take_peak(),
    }
    tree.stop()
    delete_performers(custom, namespace, timeout=args.timeout)
    process.stop()
    return result


def wait_caught_up(custom: Any, namespace: str, population: Population, timeout: float) -> float | None:
    """Seconds until every live Performer is ready for its last spec revision and no deleted one is
    left; None when that did not happen within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        current = {
            cr["metadata"]["name"]
            for cr in items
            if performer_ready_at(cr)
            and cr["spec"]["config"]["environment"]["REVISION"]
            == str(population.revision.get(cr["metadata"]["name"]))
        }
        if len(items) == len(population.revision) and current == set(population.revision):
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    return None


# --- executor churn ----------------------------------------------------------------------------


def serve_executor(task_port: int, management_port: int, store_path: str) -> None:
    """The executor of the churn, in this process until SIGTERM."""
    from hourglass_executor.config import validate_config
    from hourglass_executor.server.app import Executor
    from hourglass_executor.store.sqlite import SqliteStore

    from tests.support.executor_harness import config_data, static_chain
    from tests.support.local_backend import LocalBackend

    data = config_data(
        grpcPort=task_port, managementServerGrpcPort=management_port, taskTimeout="30s",
        authentication={"enabled": True},
    )  # fmt: skip
    executor = Executor(
        validate_config(data), backend=LocalBackend(), chain=static_chain(),
        store=SqliteStore(store_path), host="127.0.0.1",
    )  # fmt: skip
    asyncio.run(executor.serve())


async def executor_load(task_port: int, management_port: int, args: argparse.Namespace,
                        stop: threading.Event) -> dict[str, Any]:  # fmt: skip
    import grpc
    from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2_grpc

    from tests.support.aggregator import AVS, TestAggregator
    from tests.support.executor_harness import REPOSITORY, static_chain
    from tests.support.management import ManagementClient

    aggregator = TestAggregator(static_chain())
    outcome = {"tasks_ok": 0, "tasks_failed": 0, "deploys_ok": 0, "deploys_failed": 0}
    failures: list[str] = []
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{task_port}") as tasks,
        grpc.aio.insecure_channel(f"127.0.0.1:{management_port}") as management,
    ):
        stub = executor_pb2_grpc.ExecutorServiceStub(tasks)
        client = ManagementClient(management)

        async def one_task() -> None:
            try:
                await stub.SubmitTask(aggregator.submission(PAYLOAD), timeout=30)
                outcome["tasks_ok"] += 1
            except grpc.aio.AioRpcError as error:
                outcome["tasks_failed"] += 1
                failures.append(f"task: {error.code().name} {error.details()}")

        async def deploys() -> None:
            serial = 0
            while not stop.is_set():
                await asyncio.sleep(args.churn_deploy_every)
                serial += 1
                digest = "sha256:" + f"{serial:064x}"
                try:
                    await client.deploy(avs_address=AVS, registry_url=REPOSITORY, digest=digest)
                    outcome["deploys_ok"] += 1
                except grpc.aio.AioRpcError as error:
                    outcome["deploys_failed"] += 1
                    failures.append(f"deploy: {error.code().name} {error.details()}")

        deployer = asyncio.create_task(deploys())
        running: set[asyncio.Task] = set()
        started, sent = time.monotonic(), 0
        while not stop.is_set():
            due = started + sent / args.churn_task_rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(one_task())
            running.add(task)
            task.add_done_callback(running.discard)
            sent += 1
        deployer.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return {**outcome, "failure_sample": failures[:5]}


def executor_churn(args: argparse.Namespace, stop: threading.Event, done: dict[str, Any]) -> None:
    """Runs the executor process and its load until `stop`; puts the results in `done`."""
    from bench.executor_bench import wait_serving
    from tests.support.executor_harness import free_port

    task_port, management_port = free_port(), free_port()
    state = Path(tempfile.mkdtemp(prefix="hourglass-churn-executor-"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
    }
    ports = [str(task_port), str(management_port)]
    command = [
        sys.executable,
        "-m",
        "bench.churn",
        "--serve-executor",
        *ports,
        str(state / "executor.sqlite3"),
    ]
    with (state / "executor.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        wait_serving(task_port)
        sampler = RssSampler(process.pid, args.churn_sample)
        load = asyncio.run(executor_load(task_port, management_port, args, stop))
        sampler.stop()
        done.update(
            load, **memory_summary(sampler.samples, args.churn_warmup), log=str(state / "executor.log")
        )
    except Exception as error:  # reported, not raised: the operator half still reports
        done["error"] = f"{type(error).__name__}: {error}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the mode ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--churn", action="store_true", help="run the churn mode instead of the ready/upgrade benchmark")
    a("--churn-duration", type=float, default=300, help="seconds of churn (default 300)")
    a("--churn-rate", type=float, default=5, help="Performer creates/updates/deletes per second (default 5)")
    a("--churn-min", type=int, default=20, help="fewest Performers alive (default 20)")
    a("--churn-max", type=int, default=60, help="most Performers alive (default 60)")
    a("--churn-seed", type=int, default=11, help="seed of the operation mix (default 11)")
    a("--churn-sample", type=float, default=5, help="seconds between RSS samples (default 5)")
    a("--churn-warmup", type=float, default=60, help="seconds left out of the growth fit (default 60)")
    a("--churn-task-rate", type=float, default=20, help="executor tasks per second (default 20)")
    a("--churn-deploy-every", type=float, default=15, help="seconds between executor deploys (default 15)")
    a("--churn-no-executor", action="store_true", help="churn the operator only")


def run(core: Any, custom: Any, kubeconfig: Path, namespace: str, args: argparse.Namespace,
        work: Path) -> dict[str, Any]:  # fmt: skip
    """Both churns at once; the executor's starts when the operator is ready and stops with it."""
    load_before = os.getloadavg()
    stop, operator_started = threading.Event(), threading.Event()
    executor: dict[str, Any] = {}
    thread = None
    if not args.churn_no_executor:

        def executor_side() -> None:
            operator_started.wait()
            executor_churn(args, stop, executor)

        thread = threading.Thread(target=executor_side, name="executor churn", daemon=True)
        thread.start()
    try:
        operator = operator_churn(core, custom, kubeconfig, namespace, args, work, operator_started)
    finally:
        operator_started.set()
        stop.set()
        if thread:
            thread.join()
    return {
        "parameters": {k: v for k, v in vars(args).items() if k.startswith("churn")},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "operator": operator,
        "executor": executor or None,
    }


def rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    operator, executor, p = report["operator"], report["executor"], report["parameters"]
    ops = operator["operations"]

    def memory(side: dict[str, Any]) -> list[tuple[str, str]]:
        start, end, peak = side["rss_after_warmup_mb"], side["rss_end_mb"], side["rss_peak_mb"]
        growth = side["rss_growth_mb_per_hour"], side["rss_growth_second_half_mb_per_hour"]
        return [
            ("  RSS after warm-up -> end (peak)", f"{start:.0f} -> {end:.0f} MB ({peak:.0f})"),
            (
                "  RSS growth, extrapolated: after warm-up / 2nd half",
                f"{growth[0]:+.1f} / {growth[1]:+.1f} MB/h",
            ),
        ]

    caught_up = operator["caught_up_after_churn_s"]
    alive = f"{p['churn_min']}-{p['churn_max']} alive"
    table = [
        ("churn", f"{p['churn_duration']:.0f} s at {p['churn_rate']:g} ops/s, {alive}"),
        (
            "operator: operations (create/update/delete)",
            f"{sum(ops.values())} ({ops['create']}/{ops['update']}/{ops['delete']}), "
            f"{operator['operations_per_second']} ops/s, {operator['api_errors']} API errors",
        ),
        ("  caught up after the churn", "not in time" if caught_up is None else f"{caught_up:.1f} s"),
        ("  RSS once caught up", f"{operator['rss_after_catching_up_mb']:.0f} MB"),
        (
            "  whole tree: CPU (per operation) / peak RSS",
            f"{operator['tree_cpu_s']:.1f} s ({operator['tree_cpu_ms_per_operation']:.0f} ms)"
            f" / {operator['tree_peak_rss_mb']:.0f} MB",
        ),
        (
            "  ansible runs / reconcile errors",
            f"{operator['ansible_runs']:.0f} / {operator['reconcile_errors']:.0f}",
        ),
        *memory(operator),
    ]
    if executor and "error" not in executor:
        table += [
            ("executor: tasks ok / failed", f"{executor['tasks_ok']} / {executor['tasks_failed']}"),
            ("  deploys ok / failed", f"{executor['deploys_ok']} / {executor['deploys_failed']}"),
            *memory(executor),
        ]
    elif executor:
        table.append(("executor", executor["error"]))
    load = f"{report['load_average_before']} / {report['load_average_after']} on {report['cpus']} CPUs"
    table.append(("load average before / after (1, 5, 15 min)", load))
    return table


def finish(report: dict[str, Any], out_dir: Path) -> Path:
    """Prints the table and writes the JSON; returns its path."""
    table = rows(report)
    width = max(len(name) for name, _ in table)
    print(f"\n{'measure':<{width}}  value")
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"operator-churn-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the churn benchmark's executor process")
    parser.add_argument("--serve-executor", nargs=3, metavar=("TASK_PORT", "MANAGEMENT_PORT", "STORE"))
    serve = parser.parse_args().serve_executor
    serve_executor(int(serve[0]), int(serve[1]), serve[2])
