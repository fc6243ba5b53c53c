"""CPU seconds and resident memory of a whole process tree (a process and every process it started),
read from /proc, for the benchmarks: the operator is one Python process, but its ansible-playbook
runs and their module processes are short-lived children that do most of the work.

CPU: the kernel's accounting. A process's cutime/cstime hold the CPU of every child it has waited
for (and, recursively, of theirs), so the tree's CPU at an instant is, over the root and every live
descendant, utime + stime + cutime + cstime (a child that already exited is in its parent's
cutime; a live one is counted by itself, not yet in its parent's). The CPU of a phase is the
difference of two readings.

Memory: a sampler thread sums VmRSS over the root and its live descendants every `interval`
seconds and keeps the peak (pages shared between processes count once per process, as in the
issue's "peak RSS of the whole process tree"), and the root's own peak (VmHWM). It also sums the
processes' PSS (/proc/<pid>/smaps_rollup: each shared page split between the processes sharing it),
which is what the tree takes from the machine: forked processes (Ansible's workers, the runs of the
warm Ansible) share most of their pages, which the RSS sum counts again for each.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.apiserver import by_verb

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat the benchmark uses."""

    pid: int
    ppid: int
    cpu_ticks: int  # utime + stime + cutime + cstime
    name: str = ""  # the command's name, as /proc shows it (at most 15 characters)


def parse_stat(text: str) -> Stat:
    """Parses /proc/<pid>/stat (the command in parentheses may itself hold spaces and parentheses)."""
    pid, rest = text.split(" (", 1)
    name, after = rest.rsplit(")", 1)
    fields = after.split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    return Stat(int(pid), int(fields[1]), sum(int(f) for f in fields[11:15]), name)


def read_stats(proc: Path = PROC) -> dict[int, Stat]:
    """Every process's Stat (processes that exit while being read are left out)."""
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
            stats[stat.pid] = stat
    return stats


def tree(root: int, stats: dict[int, Stat]) -> list[int]:
    """`root` and its live descendants (root first); [] when root is gone."""
    if root not in stats:
        return []
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def tree_cpu_seconds(root: int, proc: Path = PROC) -> float:
    """CPU seconds used so far by `root` and every process it started, exited or not."""
    stats = read_stats(proc)
    return sum(stats[pid].cpu_ticks for pid in tree(root, stats)) / CLOCK_TICKS


# The local control plane's processes by the name /proc gives them, and what the benchmark calls them.
CONTROL_PLANE = {
    "kube-apiserver": "apiserver",
    "etcd": "etcd",
    "kube-controller": "controller-manager",
    "kube-scheduler": "scheduler",
    "kwok-controller": "kwok",
}


def control_plane_cpu_seconds(proc: Path = PROC) -> dict[str, float]:
    """CPU seconds used so far by each component of a control plane running on this machine (none
    when the cluster runs elsewhere): on a machine it shares with the operator, its CPU is what an
    operator's API requests cost beyond the operator's own."""
    used: dict[str, float] = {}
    for stat in read_stats(proc).values():
        component = CONTROL_PLANE.get(stat.name)
        if component:
            used[component] = used.get(component, 0.0) + stat.cpu_ticks / CLOCK_TICKS
    return used


def status_kb(pid: int, field: str, proc: Path = PROC) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), 0 when absent or the process is gone."""
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int, proc: Path = PROC) -> int:
    """The proportional set size of a process (kB), 0 when unreadable or the process is gone."""
    try:
        for line in (proc / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(root: int, proc: Path = PROC) -> float:
    """The summed PSS of `root` and its live descendants in MB."""
    return sum(pss_kb(pid, proc) for pid in tree(root, read_stats(proc))) / 1024


def tree_rss_mb(root: int, proc: Path = PROC) -> tuple[float, int]:
    """The summed VmRSS of `root` and its live descendants in MB, and how many processes that is."""
    pids = tree(root, read_stats(proc))
    return sum(status_kb(pid, "VmRSS", proc) for pid in pids) / 1024, len(pids)


class TreeSampler:
    """Samples the tree's RSS in a thread: the peak since the last `take_peak()`, and every sample as
    (seconds since start, MB, processes) for charts."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root = root
        self.samples: list[tuple[float, float, int]] = []
        self.started = time.monotonic()
        self._peak = 0.0
        self._peak_pss = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name=f"tree rss {root}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            mb, processes = tree_rss_mb(self.root)
            pss = tree_pss_mb(self.root) if mb else 0.0
            if mb:  # 0 once the root is gone or a zombie
                with self._lock:
                    self._peak = max(self._peak, mb)
                    self._peak_pss = max(self._peak_pss, pss)
                    elapsed = round(time.monotonic() - self.started, 2)
                    self.samples.append((elapsed, round(mb, 1), processes, round(pss, 1)))
            if self._stop.wait(self._interval):
                return

    def take_peak(self) -> float:
        """The peak tree RSS (MB) since the previous call (or the start), then starts a new period."""
        return self.take_peaks()[0]

    def take_peaks(self) -> tuple[float, float]:
        """The peak tree RSS and PSS (MB) since the previous call (or the start); starts a new period."""
        with self._lock:
            peaks = (round(self._peak, 1), round(self._peak_pss, 1))
            self._peak = self._peak_pss = 0.0
        return peaks

    def root_peak_mb(self) -> float:
        """The root process's own peak RSS (VmHWM) in MB."""
        return round(status_kb(self.root, "VmHWM") / 1024, 1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class PhaseMeter:
    """Per phase of a benchmark: the tree's CPU seconds and peak RSS, the API server's request count
    (`api_requests` returns it by kind, `apiserver.requests_by_kind`), and the load average at the
    start and at the end."""

    def __init__(self, sampler: TreeSampler | None, api_requests: Callable[[], dict[str, float]]) -> None:
        self.sampler, self.api_requests = sampler, api_requests

    def start(self) -> dict:
        if self.sampler:
            self.sampler.take_peaks()
        return {
            "cpu": tree_cpu_seconds(self.sampler.root) if self.sampler else 0.0,
            "control_plane_cpu": control_plane_cpu_seconds(),
            "requests": self.api_requests(),
            "load": os.getloadavg(),
            "at": time.monotonic(),
        }

    def finish(self, begun: dict, objects: int) -> dict:
        """The phase's measures; per-object values for `objects` objects (Performers, or the floor's
        Pod+Service pairs)."""
        requests = self.api_requests()
        delta = {kind: requests.get(kind, 0) - begun["requests"].get(kind, 0) for kind in requests}
        delta = {kind: count for kind, count in delta.items() if count}
        total = sum(delta.values())
        result = {
            "seconds": round(time.monotonic() - begun["at"], 2),
            "api_requests": total,
            "api_requests_per_object": round(total / objects, 2) if objects else float("nan"),
            "api_requests_by_verb": dict(sorted(by_verb(delta).items())),
            # The most frequent kinds of request (`VERB resource/subresource`), per object.
            "api_requests_per_object_by_kind": {
                kind: round(count / objects, 2)
                for kind, count in sorted(delta.items(), key=lambda item: -item[1])[:12]
            }
            if objects
            else {},
            "load_average_1m_start_end": [round(begun["load"][0], 2), round(os.getloadavg()[0], 2)],
        }
        control_plane = control_plane_cpu_seconds()
        if control_plane:
            used = {c: round(s - begun["control_plane_cpu"].get(c, 0.0), 2) for c, s in control_plane.items()}
            result["control_plane_cpu_s"] = dict(sorted(used.items(), key=lambda item: -item[1]))
            per_object = sum(used.values()) * 1000 / objects if objects else float("nan")
            result["control_plane_cpu_ms_per_object"] = round(per_object, 1)
        if self.sampler:
            cpu = tree_cpu_seconds(self.sampler.root) - begun["cpu"]
            rss, pss = self.sampler.take_peaks()
            result.update(
                tree_cpu_s=round(cpu, 2),
                tree_cpu_ms_per_object=round(cpu * 1000 / objects, 1) if objects else float("nan"),
                tree_peak_rss_mb=rss,
                tree_peak_pss_mb=pss,
            )
        return result
