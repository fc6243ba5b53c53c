#!/usr/bin/env python3
"""Keeps the components of a local control plane running: a component that exits is started again.

kwokctl's `binary` runtime starts each component (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok-controller) as a detached process and never looks at it again; after an API
server or etcd outage, the controller-manager and the scheduler exit ("leaderelection lost") and
stay down. testenv.sh starts this supervisor next to the cluster:

    supervise.py CLUSTER_DIR

It learns each component's command line and working directory from the running process named in
CLUSTER_DIR/pids/<component>.pid (kwokctl's own bookkeeping) and keeps them in
CLUSTER_DIR/supervisor/<component>.json, so that it can start a component that is already gone.
Every POLL_SECONDS it checks each component; one that exited is started again the way kwokctl
starts it (same arguments and directory, output appended to CLUSTER_DIR/logs/<component>.log, its
own session, pid file rewritten), with a log line. A component that keeps exiting is started
again after a delay growing to MAX_DELAY_SECONDS. A component with a file
CLUSTER_DIR/supervisor/hold/<component> is left down (tests use it to hold an outage). It writes
its pid to CLUSTER_DIR/supervisor.pid and exits on SIGTERM or when that file no longer names it
(the cluster directory is gone, or another supervisor took over).

Standard library only: it runs with the system python3, before any virtualenv exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.5
MIN_UPTIME_SECONDS = 10.0  # a component that exits sooner than this after a start is crash-looping
MAX_DELAY_SECONDS = 8.0


def log(message: str) -> None:
    print(f"[supervisor {time.strftime('%H:%M:%S')}] {message}", flush=True)


def running(pid: int, binary: str) -> bool:
    """Whether `pid` is a live (not zombie) process running `binary`."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and os.path.basename(command) == os.path.basename(binary)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class Component:
    def __init__(self, name: str, cluster: Path) -> None:
        self.name = name
        self.cluster = cluster
        self.pid_file = cluster / "pids" / f"{name}.pid"
        self.spec_file = cluster / "supervisor" / f"{name}.json"
        self.hold_file = cluster / "supervisor" / "hold" / name
        self.log_file = cluster / "logs" / f"{name}.log"
        self.spec: dict | None = None
        self.child: subprocess.Popen | None = None  # when this supervisor started it
        self.started_at = time.monotonic()
        self.failures = 0
        self.down_since: float | None = None
        self.held = False

    def learn(self) -> None:
        """Records the command line of the running process, or loads the one recorded earlier."""
        pid = read_pid(self.pid_file)
        if pid is not None:
            try:
                argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                argv = []
            if argv and os.path.basename(argv[0]) == self.name:  # not a pid reused by another process
                self.spec = {"argv": argv, "cwd": cwd}
                self.spec_file.write_text(json.dumps(self.spec))
                return
        if self.spec_file.exists():
            self.spec = json.loads(self.spec_file.read_text())

    def alive(self) -> bool:
        if self.child is not None and self.child.poll() is not None:
            self.child = None  # reaped
        pid = read_pid(self.pid_file)
        return pid is not None and self.spec is not None and running(pid, self.spec["argv"][0])

    def check(self) -> None:
        if self.spec is None:
            self.learn()
            if self.spec is None:
                return
        if self.alive():
            if time.monotonic() - self.started_at > MIN_UPTIME_SECONDS:
                self.failures = 0
            self.down_since = None
            return
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            log(f"{self.name} (pid {read_pid(self.pid_file)}) exited: {self.last_log_line()}")
        if self.hold_file.exists():
            if not self.held:
                log(f"{self.name} is held down ({self.hold_file} exists)")
            self.held = True
            return
        self.held = False
        delay = min(2.0 ** (self.failures - 1), MAX_DELAY_SECONDS) if self.failures else 0.0
        if now - self.down_since >= delay:
            self.start()

    def last_log_line(self) -> str:
        try:
            with self.log_file.open("rb") as f:
                f.seek(max(f.seek(0, os.SEEK_END) - 4096, 0))
                lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return lines[-1][:300] if lines else "(empty log)"

    def start(self) -> None:
        with self.log_file.open("ab") as out:
            self.child = subprocess.Popen(
                self.spec["argv"], cwd=self.spec["cwd"], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(self.child.pid))
        if time.monotonic() - self.started_at < MIN_UPTIME_SECONDS:
            self.failures += 1
        self.started_at = time.monotonic()
        self.down_since = None
        log(f"restarted {self.name} as pid {self.child.pid}")


def main() -> int:
    cluster = Path(sys.argv[1]).resolve()
    own_pid_file = cluster / "supervisor.pid"
    (cluster / "supervisor" / "hold").mkdir(parents=True, exist_ok=True)
    own_pid_file.write_text(str(os.getpid()))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    components = {p.stem: Component(p.stem, cluster) for p in sorted((cluster / "pids").glob("*.pid"))}
    for component in components.values():
        component.learn()
    log(f"supervising {', '.join(components)} of {cluster.name}")
    while not stop and read_pid(own_pid_file) == os.getpid():
        for path in (cluster / "pids").glob("*.pid"):
            if path.stem not in components:
                components[path.stem] = Component(path.stem, cluster)
        for component in components.values():
            component.check()
        time.sleep(POLL_SECONDS)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
