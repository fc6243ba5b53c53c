"""Runs one Anvil process on 127.0.0.1 with its chain kept in a state file.

Anvil starts with `--state <file>` (load it when it exists, dump the chain into it on exit) and
`--preserve-historical-states`, so that a stop (SIGTERM: Anvil dumps, then exits) and a start on the
same port give back the chain as it was, including reads at the blocks mined before the stop (the
executor reads at the task's block). A dump holds a full copy of the state per block (~0.5 MB each
with the EigenLayer contracts; ~1 s to write and 1.5 s to load 600 blocks), so a stop that need not
keep the chain kills Anvil instead. The deploy-time Anvil that produces the state cache keeps no
history (reads always happen at blocks mined after a load).

With `block_time`, Anvil also mines an empty block every `block_time` seconds besides mining each
transaction at once (`--mixed-mining`): chain time moves on as on a real chain, which the TaskMailbox
needs (a result must be mined in a later second than its task, and gas estimation runs against the
latest block). Processes started detached (for the CLI) are found again through the pid file
beside the state file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from hack.devnet.errors import DevnetError

CHAIN_ID = 31337
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Anvil:
    """An Anvil process (running or not) bound to a port and a state file."""

    def __init__(
        self,
        binary: Path,
        port: int,
        state_file: Path,
        *,
        preserve_history: bool = True,
        block_time: int | None = None,
    ) -> None:
        self.binary = binary
        self.preserve_history = preserve_history
        self.block_time = block_time
        self.port = port
        self.state_file = state_file
        self.pid_file = state_file.with_name("anvil.pid")
        self.log_file = state_file.with_name("anvil.log")

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        """Starts Anvil (detached from this process group) and waits until it answers JSON-RPC."""
        if self.running():
            raise DevnetError(f"anvil is already running (pid {self.pid()}, {self.rpc_url})")
        self._wait_port_free()
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.binary),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(CHAIN_ID),
            "--state", str(self.state_file),
            "--disable-code-size-limit",  # AllocationManager's runtime code is at the 24 kB limit
        ]  # fmt: skip
        if self.preserve_history:
            command.append("--preserve-historical-states")
        if self.block_time:
            command += ["--block-time", str(self.block_time), "--mixed-mining"]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self.pid_file.write_text(str(process.pid))
        self._wait_ready(process)

    def stop(self, *, keep_state: bool = True) -> None:
        """Stops Anvil and waits for the exit: SIGTERM (it dumps its chain into the state file) when
        `keep_state`, else SIGKILL (no dump; the state file keeps what it had)."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM if keep_state else signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise DevnetError(
                    f"anvil (pid {pid}) did not exit within {STOP_TIMEOUT} s of SIGTERM; killed"
                )
            time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)

    def _wait_ready(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _port_open(self.port):
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise DevnetError(f"anvil exited with {process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                raise DevnetError(f"anvil did not listen on {self.rpc_url} within {READY_TIMEOUT} s")
            time.sleep(0.02)

    def _wait_port_free(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while _port_open(self.port):
            if time.monotonic() > deadline:
                raise DevnetError(f"port {self.port} is in use by another process")
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        # Reap it when it is our child (else it stays a zombie and kill(0) keeps succeeding).
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
