"""Executor benchmark (not a test): SubmitTask throughput and the latency the executor adds over
calling the performer directly, on loopback.

    .venv/bin/python -m bench.executor_bench                      # 64 concurrent clients, 10 s per phase
    .venv/bin/python -m bench.executor_bench --clients 16 --duration 5 --profile

Three processes: the example echo performer (`python -m hourglass_executor.examples.echo_performer`),
the executor (this module with --serve-executor: the real gRPC servers, task service, pool, signature
checks and signing with its ECDSA and BN254 keys, memory store, a static chain; its backend is the
test LocalBackend whose performer is the echo process, through avsPerformers[].kubernetes.endpointOverride
— no Docker or Kubernetes involved), and the load generator (this process, grpc.aio clients; every
submission is signed before the clock starts).

The executor is measured per curve, as AVSs use it: ECDSA tasks (an AVS whose aggregator operator set
is ECDSA sends a task of its ECDSA executor set: the executor recovers the aggregator's ECDSA
signature and signs the result with ECDSA) and BN254 tasks (BN254 aggregator set and BN254 executor
set: a pairing check of the aggregator's signature, two BN254 signatures). The static chain has one
AVS of each kind (tests/support/aggregator.chain_document).

For scale, a fourth process is the floor of any Python gRPC executor on this machine: a pass-through
proxy (this module with --serve-proxy: a grpc.aio ExecutorService that forwards each submission to
the performer and answers its output — no checks, no store, no signatures). --store sqlite gives
the executor the SQLite store (a file in a temporary directory) instead of the memory store.

Phases, each against the same performer process:
1. latency, one client: sequential calls directly to the performer, through the proxy, through the
   executor with ECDSA tasks and with BN254 tasks; added latency = through - direct (p50 and p95);
2. throughput, N clients for --duration seconds: the same four paths (tasks/s, p50/p95 latency under
   load, CPU seconds per 1000 tasks of each process).
A sample of the executor's results of each curve is verified as an aggregator would (with the
executor's registered ECDSA or BN254 key). Prints a table and writes JSON to bench/results/
(git-ignored). --profile runs the executor under cProfile during the BN254 throughput phase and
prints its top functions.

Then, with the servers stopped, the per-operation times of the signing primitives (bench/signing_ops:
BN254 sign/verify and their Solidity-compatible forms through the native library, ECDSA sign and
recover; py_ecc for comparison when installed): a second table, and "signing_ops" in the JSON.
A PNG chart (bench/charts.py: throughput and latency per path) is written beside the JSON; progress
lines go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_health.v1.health import aio as health_aio  # noqa: E402
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import (  # noqa: E402
    executor_pb2,
    executor_pb2_grpc,
)
from hourglass_executor.api.eigenlayer.hourglass.v1.performer import (  # noqa: E402
    performer_pb2,
    performer_pb2_grpc,
)
from hourglass_executor.chain import StaticChainReader  # noqa: E402

from bench import charts, signing_ops  # noqa: E402
from bench.progress import say  # noqa: E402
from tests.support.aggregator import (  # noqa: E402
    AGGREGATOR_BN254_KEY,
    AVS,
    BN254_SET,
    ECDSA_SET,
    TestAggregator,
    bn254_signer,
    chain_document,
    executor_signers,
)
from tests.support.executor_harness import config_data, free_port  # noqa: E402

RESULTS = REPO / "bench" / "results"
PAYLOAD = json.dumps({"op": "echo", "data": "x" * 32}).encode()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BN254_AVS = "0x" + "b254" * 10  # the static chain's AVS with a BN254 aggregator operator set


def bench_chain() -> StaticChainReader:
    """The static chain of both processes: AVS with an ECDSA aggregator set, BN254_AVS with a BN254
    one; each with an ECDSA (ECDSA_SET) and a BN254 (BN254_SET) executor set the executor is in."""
    ecdsa = chain_document((AVS,), aggregator_curve="ECDSA")
    bn254 = chain_document((BN254_AVS,), aggregator_curve="BN254")
    return StaticChainReader.from_mapping({**ecdsa, "avss": ecdsa["avss"] + bn254["avss"]})


# --- the executor process --------------------------------------------------------------------


def serve_executor(port: int, performer: str, profile: str | None, store_path: str | None) -> None:
    """Runs the executor in this process until SIGTERM (its backend points at `performer`); the
    memory store, or SQLite at `store_path`."""
    from hourglass_executor.config import validate_config
    from hourglass_executor.server.app import Executor
    from hourglass_executor.store.memory import MemoryStore
    from hourglass_executor.store.sqlite import SqliteStore

    from tests.support.local_backend import LocalBackend

    data = config_data(avss=(AVS, BN254_AVS), grpcPort=port, taskTimeout="30s")
    for entry in data["avsPerformers"]:
        entry["kubernetes"] = {"endpointOverride": performer}
    store = SqliteStore(store_path) if store_path else MemoryStore()
    executor = Executor(
        validate_config(data),
        backend=LocalBackend(),
        chain=bench_chain(),
        store=store,
        signers=executor_signers(),
        host="127.0.0.1",
    )
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
        signal.signal(signal.SIGUSR2, lambda *_: (profiler.disable(), profiler.dump_stats(profile)))
    asyncio.run(executor.serve())
    if isinstance(store, SqliteStore):  # how many writes shared each commit (an fsync each)
        counts = {"writes": store.writes, "commits": store.commits}
        Path(f"{store_path}.commits.json").write_text(json.dumps(counts))


def serve_proxy(port: int, performer: str) -> None:
    """A pass-through ExecutorService (the floor: what gRPC alone costs per task)."""

    async def serve() -> None:
        channel = grpc.aio.insecure_channel(performer)
        stub = performer_pb2_grpc.PerformerServiceStub(channel)

        class Proxy(executor_pb2_grpc.ExecutorServiceServicer):
            async def SubmitTask(
                self, request: executor_pb2.TaskSubmission, context: grpc.aio.ServicerContext
            ) -> executor_pb2.TaskResult:
                response = await stub.ExecuteTask(
                    performer_pb2.TaskRequest(task_id=request.task_id.encode(), payload=request.payload),
                    timeout=30,
                )
                return executor_pb2.TaskResult(task_id=request.task_id, output=response.result)

        server = grpc.aio.server()
        executor_pb2_grpc.add_ExecutorServiceServicer_to_server(Proxy(), server)
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await stopping.wait()
        await server.stop(1)

    asyncio.run(serve())


# --- load ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies: list[float], seconds: float, failures: int) -> dict[str, float]:
    return {
        "tasks": len(latencies),
        "failures": failures,
        "seconds": round(seconds, 3),
        "tasks_per_second": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3) if latencies else 0.0,
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 3) if latencies else 0.0,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else 0.0,
    }


PATHS = ("direct", "proxy", "ecdsa", "bn254")
EXECUTOR_PATHS = ("ecdsa", "bn254")  # through the executor, by curve
TITLES = {
    "direct": "performer directly",
    "proxy": "gRPC pass-through (floor)",
    "ecdsa": "executor, ECDSA tasks",
    "bn254": "executor, BN254 tasks",
}
Call = Callable[[executor_pb2.TaskSubmission], Awaitable[Any]]


class Load:
    """grpc.aio clients for the paths (one channel per process); the aggregator of each path signs its
    submissions (ECDSA tasks for the performer and the proxy: they check nothing)."""

    def __init__(self, ports: dict[str, int], chain: StaticChainReader) -> None:
        ecdsa = TestAggregator(chain)
        self.aggregators = {"direct": ecdsa, "proxy": ecdsa, "ecdsa": ecdsa}
        self.aggregators["bn254"] = TestAggregator(chain, signer=bn254_signer(AGGREGATOR_BN254_KEY))
        self.tasks = {path: {"avs": AVS, "operator_set_id": ECDSA_SET} for path in PATHS}
        self.tasks["bn254"] = {"avs": BN254_AVS, "operator_set_id": BN254_SET}
        self.channels = {path: grpc.aio.insecure_channel(f"127.0.0.1:{port}") for path, port in ports.items()}
        performer = performer_pb2_grpc.PerformerServiceStub(self.channels["direct"])
        proxy = executor_pb2_grpc.ExecutorServiceStub(self.channels["proxy"])
        executor = executor_pb2_grpc.ExecutorServiceStub(self.channels["executor"])

        async def direct(submission: executor_pb2.TaskSubmission) -> None:
            request = performer_pb2.TaskRequest(
                task_id=submission.task_id.encode(), payload=submission.payload
            )
            await performer.ExecuteTask(request, timeout=30)

        self.calls: dict[str, Call] = {
            "direct": direct,
            "proxy": lambda submission: proxy.SubmitTask(submission, timeout=30),
            "ecdsa": lambda submission: executor.SubmitTask(submission, timeout=30),
            "bn254": lambda submission: executor.SubmitTask(submission, timeout=30),
        }

    def submissions(self, path: str, count: int) -> list[executor_pb2.TaskSubmission]:
        aggregator, task = self.aggregators[path], self.tasks[path]
        return [aggregator.submission(PAYLOAD, **task) for _ in range(count)]

    async def sequential(self, path: str, submissions: list[executor_pb2.TaskSubmission]) -> list[float]:
        call, latencies = self.calls[path], []
        for submission in submissions:
            started = time.perf_counter()
            await call(submission)
            latencies.append(time.perf_counter() - started)
        return latencies

    async def concurrent(
        self, path: str, clients: int, duration: float, pool: list[executor_pb2.TaskSubmission]
    ) -> tuple[dict[str, float], list[tuple[executor_pb2.TaskSubmission, Any]]]:
        call, latencies, sample = self.calls[path], [], []
        failures = 0
        deadline = time.perf_counter() + duration
        source = iter(pool)

        async def client() -> None:
            nonlocal failures
            for submission in source:
                started = time.perf_counter()
                if started > deadline:
                    return
                try:
                    result = await call(submission)
                except grpc.aio.AioRpcError:
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if result is not None and len(sample) < 200:
                    sample.append((submission, result))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        if elapsed < duration * 0.9:
            raise RuntimeError("ran out of pre-signed submissions; raise --pool-factor")
        return summary(latencies, elapsed, failures), sample

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


def cpu_seconds(pid: int | None = None) -> float:
    """utime + stime of a process (this one when None)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_serving(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if check.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"nothing SERVING on port {port} after {timeout} s")


async def measure(
    args: argparse.Namespace, ports: dict[str, int], processes: dict[str, subprocess.Popen]
) -> dict[str, Any]:
    load = Load(ports, bench_chain())
    executor_pid = processes["executor"].pid
    middle = {"direct": None, "proxy": processes["proxy"].pid, "ecdsa": executor_pid, "bn254": executor_pid}
    results: dict[str, Any] = {path: {} for path in PATHS}
    try:
        for path in PATHS:
            say(f"latency, one client: {TITLES[path]} ({args.latency_samples} calls)")
            await load.sequential(path, load.submissions(path, 300))  # warm-up: connections, caches
            latencies = await load.sequential(path, load.submissions(path, args.latency_samples))
            results[path]["one_client"] = summary(latencies, sum(latencies), 0)
        for path in PATHS:
            # Signed before the clock starts, for the most each path has reached here (the performer
            # alone, about 6,300 tasks/s, ran out of 5,000/s); BN254 tasks are slower (a pairing check).
            rate = {"direct": 10_000, "bn254": 2000}.get(path, 5000)
            pool_size = int(args.duration * rate * args.pool_factor)
            say(f"throughput: signing {pool_size} submissions for {TITLES[path]}")
            pool = load.submissions(path, pool_size)
            say(f"throughput: {TITLES[path]}, {args.clients} clients for {args.duration:g} s")
            if args.profile and path == "bn254":
                processes["executor"].send_signal(signal.SIGUSR1)
            before = {
                "performer": cpu_seconds(processes["performer"].pid),
                "middle": cpu_seconds(middle[path]) if middle[path] else 0.0,
                "load generator": cpu_seconds(),
            }
            loaded, sample = await load.concurrent(path, args.clients, args.duration, pool)
            used = {
                "performer": cpu_seconds(processes["performer"].pid) - before["performer"],
                "middle": (cpu_seconds(middle[path]) - before["middle"]) if middle[path] else 0.0,
                "load generator": cpu_seconds() - before["load generator"],
            }
            if args.profile and path == "bn254":
                processes["executor"].send_signal(signal.SIGUSR2)
            loaded["cpu_s_per_1000"] = {
                name: round(seconds / loaded["tasks"] * 1000, 3) if loaded["tasks"] else 0.0
                for name, seconds in used.items()
            }
            results[path]["load"] = loaded
            say(f"throughput: {TITLES[path]}: {loaded['tasks_per_second']:.0f} tasks/s")
            if path in EXECUTOR_PATHS:
                for submission, result in sample:
                    load.aggregators[path].verify(submission, result)
                results.setdefault("verified_results", {})[path] = len(sample)
    finally:
        await load.close()
    return results


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def report(args: argparse.Namespace, results: dict[str, Any]) -> list[tuple[str, ...]]:
    one = {path: results[path]["one_client"] for path in PATHS}
    loaded = {path: results[path]["load"] for path in PATHS}
    added = {
        path: (one[path]["p50_ms"] - one["direct"]["p50_ms"], one[path]["p95_ms"] - one["direct"]["p95_ms"])
        for path in PATHS
    }
    for path in PATHS:
        results[path]["added_one_client_ms"] = {
            "p50": round(added[path][0], 3),
            "p95": round(added[path][1], 3),
        }

    # CPU seconds per 1000 tasks are milliseconds per task.
    bn254_extra = loaded["bn254"]["cpu_s_per_1000"]["middle"] - loaded["ecdsa"]["cpu_s_per_1000"]["middle"]

    def cpu(path: str, name: str) -> str:
        value = loaded[path]["cpu_s_per_1000"][name]
        return f"{value:.2f} s" if value else ""

    return [
        ("measure", *(TITLES[path] for path in PATHS), "target"),
        (
            "latency p50 / p95, 1 client",
            *(f"{one[p]['p50_ms']:.3f} / {one[p]['p95_ms']:.3f} ms" for p in PATHS),
            "",
        ),
        (
            "added latency p50 / p95, 1 client",
            "",
            *(f"{added[p][0]:.3f} / {added[p][1]:.3f} ms" for p in PATHS[1:]),
            "p50 <= 2 ms",
        ),
        (
            f"throughput, {args.clients} clients",
            *(f"{loaded[p]['tasks_per_second']:.0f} tasks/s" for p in PATHS),
            ">= 1000 tasks/s",
        ),
        (
            "latency p50 / p95 under load",
            *(f"{loaded[p]['p50_ms']:.1f} / {loaded[p]['p95_ms']:.1f} ms" for p in PATHS),
            "",
        ),
        ("failed tasks", *(str(loaded[p]["failures"]) for p in PATHS), "0"),
        ("CPU per 1000 tasks: proxy or executor", "", *(cpu(p, "middle") for p in PATHS[1:]), ""),
        ("executor CPU per BN254 task over an ECDSA one", "", "", "", f"+{bn254_extra:.2f} ms", ""),
        ("CPU per 1000 tasks: performer", *(cpu(p, "performer") for p in PATHS), ""),
        ("CPU per 1000 tasks: load generator", *(cpu(p, "load generator") for p in PATHS), ""),
    ]


def start(module: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *module],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent aggregator clients (default 64)")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per throughput phase (default 10)"
    )
    parser.add_argument(
        "--latency-samples", type=int, default=2000, help="sequential calls per path (default 2000)"
    )
    parser.add_argument("--pool-factor", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the executor in its BN254 throughput phase"
    )
    parser.add_argument(
        "--store",
        choices=("memory", "sqlite"),
        default="memory",
        help="the executor's store (default memory)",
    )
    parser.add_argument(
        "--signing-seconds", type=float, default=1.0, help="per signing operation (default 1)"
    )
    parser.add_argument(
        "--py-ecc-seconds",
        type=float,
        default=2.0,
        help="per py_ecc comparison operation; 0 skips py_ecc (default 2)",
    )
    parser.add_argument("--no-chart", action="store_true", help="no PNG chart beside the JSON")
    parser.add_argument(
        "--serve-executor", nargs=4, metavar=("PORT", "PERFORMER", "PROFILE", "STORE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--serve-proxy", nargs=2, metavar=("PORT", "PERFORMER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_executor:
        port, performer, profile, store = args.serve_executor
        serve_executor(
            int(port), performer, profile if profile != "-" else None, store if store != "-" else None
        )
        return 0
    if args.serve_proxy:
        serve_proxy(int(args.serve_proxy[0]), args.serve_proxy[1])
        return 0

    ports = {process: free_port() for process in ("direct", "proxy", "executor")}
    performer = f"127.0.0.1:{ports['direct']}"
    profile_path = RESULTS / "executor.prof"
    RESULTS.mkdir(parents=True, exist_ok=True)
    store_dir = Path(tempfile.mkdtemp(prefix="executor-bench-"))
    # The caller's PYTHONPATH stays after the repository (a git worktree points it at its executor/).
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
    }
    processes = {
        "performer": start(
            [
                "hourglass_executor.examples.echo_performer",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["direct"]),
            ],
            env,
        ),
        "proxy": start(["bench.executor_bench", "--serve-proxy", str(ports["proxy"]), performer], env),
        "executor": start(
            [
                "bench.executor_bench",
                "--serve-executor",
                str(ports["executor"]),
                performer,
                str(profile_path) if args.profile else "-",
                str(store_dir / "executor.sqlite3") if args.store == "sqlite" else "-",
            ],
            env,
        ),
    }
    try:
        say(f"starting the performer, the pass-through proxy and the executor (store {args.store})")
        for port in ports.values():
            wait_serving(port)
        load_average_before = round(os.getloadavg()[0], 2)
        results = asyncio.run(measure(args, ports, processes))
        results["load_average_before"] = load_average_before
        results["load_average_after"] = round(os.getloadavg()[0], 2)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        counted = store_dir / "executor.sqlite3.commits.json"
        store_commits = json.loads(counted.read_text()) if counted.exists() else None
        shutil.rmtree(store_dir, ignore_errors=True)
    if store_commits:
        results["store_commits"] = store_commits

    print(table(report(args, results)))
    verified = results["verified_results"]
    print(
        f"({verified['ecdsa']} ECDSA and {verified['bn254']} BN254 executor results verified as an "
        f"aggregator would; {os.cpu_count()} CPUs shared by the load generator, the proxy or executor and "
        f"the performer; load average {results['load_average_before']} before, "
        f"{results['load_average_after']:.2f} after)"
    )
    if store_commits:
        writes, commits = store_commits["writes"], store_commits["commits"]
        per_commit = writes / max(commits, 1)
        print(f"(SQLite store: {writes} writes in {commits} commits, {per_commit:.1f} per commit)")
    say("signing operations")
    signing = signing_ops.measure(args.signing_seconds, args.py_ecc_seconds)
    print("\nsigning operations, per operation (this process alone):")
    print(table(signing_ops.rows(signing)))
    print(f"(load average {signing['load_average_before']} before, {signing['load_average_after']} after)")
    record = {
        "benchmark": "executor",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {
            "store": args.store,
            "clients": args.clients,
            "duration_s": args.duration,
            "latency_samples": args.latency_samples,
            "payload_bytes": len(PAYLOAD),
        },
        "results": results,
        "signing_ops": signing,
    }
    out = RESULTS / f"executor-{args.clients}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")
    if not args.no_chart:
        print(f"wrote {charts.executor_chart(record, TITLES, out.with_suffix('.png')).relative_to(REPO)}")
    if args.profile:
        import pstats

        print(f"\nexecutor profile ({profile_path.relative_to(REPO)}), top 25 by own time:")
        pstats.Stats(str(profile_path)).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
