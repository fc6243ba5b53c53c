"""An endpoint resolver for executors running against a cluster whose pods run nothing (kwok): each
Performer is served by a local echo performer process, started on first use, one per image version
(the digest, else the tag), so two versions of a performer are two processes that report their
version (`{"op": "version"}` answers $VERSION).

Use it as `kubernetes.endpointResolver: tests.support.local_performers:resolve` with the repository
on PYTHONPATH and `HOURGLASS_LOCAL_PERFORMERS_DIR` naming a directory that records each version's
process (`<version>.json`: pid and port; its output in `<version>.log`). A recorded process that
still runs is reused, so an executor that restarts (even after kill -9) reaches the same performer.
`stop_all(directory)` ends them; the processes run in sessions of their own, so they outlive the
executor that started them until then. Each process appends the id of every task it runs to
`<version>.tasks` (the echo performer's TASK_LOG); `executions(directory)` counts them per task id.

`resolve` runs on the executor's event loop, so it only starts the process and returns at once: the
pool's health check waits until the performer answers.

`hold(version, directory)` keeps a version's process from starting: its endpoint is reserved (a port
nothing listens on yet), so an executor's health check of it fails and a deploy of it stays Staged
until `release(version, directory)` starts the process on that port. Tests use it to look at the
staged moment of a blue-green deploy instead of hoping to poll inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from hourglass_executor.performers.base import Deployment

ENV_DIR = "HOURGLASS_LOCAL_PERFORMERS_DIR"
HOST = "127.0.0.1"


def resolve(deployment: Deployment) -> str:
    spec = deployment.spec
    return endpoint_for(spec.digest or spec.tag or "latest")


def endpoint_for(version: str, directory: str | Path | None = None) -> str:
    """host:port of the echo performer for `version`, started unless one already runs (or it is held)."""
    where = Path(directory or os.environ[ENV_DIR])
    where.mkdir(parents=True, exist_ok=True)
    name = _file_name(version)
    record = where / f"{name}.json"
    with _locked(where):
        known = json.loads(record.read_text()) if record.exists() else None
        if known and (_alive(known["pid"]) or known.get("held")):
            return f"{HOST}:{known['port']}"
        port = _free_port()
        held = (where / f"{name}.hold").exists()
        pid = None if held else _start(where, name, version, port)
        record.write_text(json.dumps({"pid": pid, "port": port, "version": version, "held": held}))
        return f"{HOST}:{port}"


def hold(version: str, directory: str | Path) -> None:
    """Until `release`, the performer of `version` does not start (see the module docstring)."""
    where = Path(directory)
    where.mkdir(parents=True, exist_ok=True)
    with _locked(where):
        (where / f"{_file_name(version)}.hold").touch()


def release(version: str, directory: str | Path) -> None:
    """Starts a held performer on the port its endpoint reserved (if resolved already) and lets later
    resolves start it."""
    where = Path(directory)
    name = _file_name(version)
    record = where / f"{name}.json"
    with _locked(where):
        (where / f"{name}.hold").unlink(missing_ok=True)
        known = json.loads(record.read_text()) if record.exists() else None
        if known and known.get("held"):
            pid = _start(where, name, version, known["port"])
            record.write_text(json.dumps({**known, "pid": pid, "held": False}))


def _start(where: Path, name: str, version: str, port: int) -> int:
    with open(where / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hourglass_executor.examples.echo_performer",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            env={
                **os.environ,
                "VERSION": version,
                "GRPC_PORT": str(port),
                "TASK_LOG": str(where / f"{name}.tasks"),
            },
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


@contextlib.contextmanager
def _locked(where: Path) -> Iterator[None]:
    """One process at a time reads and writes the directory's records (executors and tests)."""
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _file_name(version: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", version)


def echo(data: str) -> bytes:
    """A task payload the echo performer answers with `data`."""
    return json.dumps({"op": "echo", "data": data}).encode()


def executions(directory: str | Path) -> Counter[str]:
    """How many times the directory's performers ran each task id (every version counted)."""
    counts: Counter[str] = Counter()
    for log in Path(directory).glob("*.tasks"):
        counts.update(line.decode() for line in log.read_bytes().splitlines() if line)
    return counts


def running(directory: str | Path) -> dict[str, dict]:
    """The recorded processes that still run, by version."""
    found = {}
    for record in Path(directory).glob("*.json"):
        known = json.loads(record.read_text())
        if _alive(known["pid"]):
            found[known["version"]] = known
    return found


def stop_all(directory: str | Path, timeout: float = 5.0) -> None:
    """Stops every recorded performer process (SIGTERM, then SIGKILL after `timeout`)."""
    records = list(Path(directory).glob("*.json"))
    pids = [pid for record in records if (pid := json.loads(record.read_text())["pid"]) is not None]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        _reap(pid)
    for record in records:
        record.unlink(missing_ok=True)


def _alive(pid: int | None) -> bool:
    if pid is None:  # a held performer, not started
        return False
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    return False


def _reap(pid: int) -> None:
    """Collects the exit status when the process is our child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


if __name__ == "__main__":  # python -m tests.support.local_performers stop DIR
    if sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop_all(sys.argv[2])
    else:
        sys.exit("usage: python -m tests.support.local_performers stop DIR")
