"""A warm ansible-playbook: one process that has imported Ansible forks a child for each run, instead
of every run starting a cold `ansible-playbook` (about a CPU-second of imports and set-up each, and
every run building the modules' AnsiballZ payloads again, which the children here share).

ansible-runner still runs every playbook: its command is `warm_ansible_client` (see there), which
hands its arguments, environment, working directory and standard streams to this server over a Unix
socket and exits with the run's exit code. The server adopts the environment of its first request
before importing Ansible (Ansible reads its configuration at import); a later request whose
environment differs in anything but the per-run entries (PER_RUN) runs a cold ansible-playbook
instead, so a warm run is always configured as a cold one would be. Once configured, the server also
does the set-up every run would repeat identically (`preload`), so that the children inherit it. A
child is killed, with every process it started, when its client goes away (ansible-runner cancelled
the run).

Wire format: the client sends a 4-byte big-endian length and that many bytes of JSON
({"argv", "env", "cwd"}), its descriptors 0, 1 and 2 riding on the first bytes (SCM_RIGHTS); the
server answers with one line of JSON, {"exit": <code>}.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import traceback
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SOCKET_ENV = "HOURGLASS_WARM_ANSIBLE_SOCKET"
# Entries of a run's environment that differ from run to run and that Ansible reads only while the run
# goes (ansible-runner's artifact and fact-cache directories, the API connection file of the run).
PER_RUN = frozenset({
    "AWX_ISOLATED_DATA_DIR", "ANSIBLE_CACHE_PLUGIN_CONNECTION", "HOURGLASS_KUBE_CONNECTION", SOCKET_ENV,
})  # fmt: skip
HEADER = struct.Struct(">I")
LISTENING = "listening"  # the line the server prints once it accepts clients
# What a run's CLI says when it finds the collection loader that `preload` installed already there.
FINDER_CONFIGURED = "AnsibleCollectionFinder has already been configured"
# Plugin types of which a run loads every built-in plugin (listing them is how Ansible finds the
# enabled ones) or may load any: loading them parses each one's documentation for its settings. Not
# vars plugins (listing them leaves their loader looking primed to a run, which then finds no
# host_vars); of the callbacks only the built-in ones, by name (a run lists them all: about 25 ms):
# listing would also import ansible-runner's, which reads the run's artifact directory when imported.
PRELOADED_PLUGIN_TYPES = ("action", "become", "connection", "filter", "shell", "test")


def configuration_of(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in PER_RUN}


def receive_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(data) < HEADER.size:
        raise ValueError("short request")
    (length,) = HEADER.unpack_from(data)
    body = bytearray(data[HEADER.size :])
    while len(body) < length:
        chunk = conn.recv(min(1 << 20, length - len(body)))
        if not chunk:
            raise ValueError("request cut short")
        body += chunk
    return json.loads(body), fds


class WarmAnsible:
    def __init__(self, socket_path: str, collections: Iterable[str] = ()) -> None:
        self.socket_path = socket_path
        self.collections = tuple(collections)  # whose plugins `preload` imports
        self.adopted: dict[str, str] | None = None  # the configuration Ansible was imported with
        self.children: dict[int, socket.socket] = {}  # pid -> the connection of its client
        self.by_connection: dict[socket.socket, int] = {}
        self.parent = os.getppid()  # the operator: this server ends when it does

    def warm_up(self, env: dict[str, str]) -> None:
        """Imports Ansible configured by `env`, and creates the local temporary directory (where
        AnsiballZ payloads are cached) here, so that every child shares it."""
        os.environ.clear()
        os.environ.update(env)
        self.adopted = configuration_of(env)
        import ansible.cli.playbook  # noqa: F401
        from ansible import constants

        _ = constants.DEFAULT_LOCAL_TMP
        try:
            preload(self.collections)
        except Exception as error:  # the runs then load what they need themselves, as a cold one does
            print(f"warm ansible: preloading failed: {error!r}", file=sys.stderr, flush=True)

    def serve(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        listener.bind(self.socket_path)
        os.chmod(self.socket_path, 0o600)
        listener.listen(64)
        print(LISTENING, flush=True)  # to whoever started it: clients can connect now
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_write.fileno())
        while os.getppid() == self.parent:
            readable, _, _ = select.select([listener, wake_read, *self.by_connection], [], [], 2.0)
            for ready in readable:
                if ready is listener:
                    self._accept(listener)
                elif ready is wake_read:
                    with contextlib.suppress(BlockingIOError):
                        wake_read.recv(4096)
                else:  # a client's connection: readable only when it went away
                    self._abandoned(ready)
            self._reap()

    def _accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        try:
            request, fds = receive_request(conn)
        except (OSError, ValueError) as error:
            print(f"warm ansible: unreadable request: {error}", file=sys.stderr, flush=True)
            conn.close()
            return
        if self.adopted is None:
            self.warm_up(request["env"])
        cold = configuration_of(request["env"]) != self.adopted
        pid = os.fork()
        if pid == 0:
            self._child(request, fds, cold, conn)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.by_connection[conn] = pid

    def _child(self, request: dict[str, Any], fds: list[int], cold: bool, conn: socket.socket) -> None:
        code = 250
        try:
            os.setsid()  # a process group of its own: killed as a whole when its client goes away
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(number, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for other in [conn, *self.by_connection]:
                other.close()
            for target, fd in zip((0, 1, 2), fds, strict=False):
                os.dup2(fd, target)
            for fd in fds:
                os.close(fd)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            argv = request["argv"]
            if cold:  # configured differently from the import here: a cold ansible-playbook
                executable = str(Path(sys.executable).with_name("ansible-playbook"))
                os.execve(executable, [executable, *argv[1:]], request["env"])
            sys.argv = argv
            warnings.filterwarnings("ignore", message=FINDER_CONFIGURED)
            from ansible.cli.playbook import PlaybookCLI

            try:
                PlaybookCLI.cli_executor(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    def _abandoned(self, conn: socket.socket) -> None:
        pid = self.by_connection.get(conn)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        pid = self.by_connection.pop(conn, None)
        if pid is not None:
            self.children.pop(pid, None)
        conn.close()

    def _reap(self) -> None:
        """Collects every run that ended, those whose client went away too (no zombies are left)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.get(pid)
            if conn is None:
                continue
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            self._forget(conn)


def preload(collections: Iterable[str]) -> None:
    """What every run would do the same way under the adopted configuration, done once here: the
    collection loader (ansible-playbook has no option that changes it; importing ansible.builtin parses
    its routing table, ~70 ms a run), the built-in plugins a run loads with their settings' definitions,
    and the Python plugins and module utilities of `collections`, calling the `warm_up()` of those
    that have one (performer_render compiles the role's templates). A run finds them loaded and loads
    anything else itself."""
    from ansible import constants
    from ansible.plugins import loader

    loader.init_plugin_loader([])
    importlib.import_module("ansible_collections.ansible.builtin")
    for plugin_type in PRELOADED_PLUGIN_TYPES:
        list(getattr(loader, f"{plugin_type}_loader").all(class_only=True))  # a generator
    builtin_callbacks = Path(loader.__file__).parent / "callback"
    for source in sorted(builtin_callbacks.glob("[!_]*.py")):
        # By the short name a run's listing records them under; only where that name finds the built-in.
        if Path(loader.callback_loader.find_plugin(source.stem) or "") == source:
            loader.callback_loader.get(source.stem, class_only=True)
    for name in constants.INVENTORY_ENABLED:
        loader.inventory_loader.get(name)
    loader.strategy_loader.get(constants.DEFAULT_STRATEGY, class_only=True)
    loader.cache_loader.get(constants.CACHE_PLUGIN, class_only=True)
    for collection in collections:
        package = importlib.import_module(f"ansible_collections.{collection}")
        plugins = Path(next(iter(package.__path__))) / "plugins"
        for source in sorted(plugins.glob("*/*.py")):
            if source.parent.name != "modules" and source.stem != "__init__":
                name = f"{package.__name__}.plugins.{source.parent.name}.{source.stem}"
                getattr(importlib.import_module(name), "warm_up", lambda: None)()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if not args or any(arg.startswith("-") for arg in args):
        print("usage: python -m hourglass_operator.warm_ansible SOCKET [COLLECTION...]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    WarmAnsible(args[0], args[1:]).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
