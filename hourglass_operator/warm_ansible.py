"""A warm ansible-playbook: one process that has imported Ansible forks a child for each run, instead
of every run starting a cold `ansible-playbook` (about a CPU-second of imports and set-up each, and
every run building the modules' AnsiballZ payloads again, which the children here share).

ansible-runner still runs every playbook: its command is `warm_ansible_client` (see there), which
hands its arguments, environment, working directory and standard streams to this server over a Unix
socket and exits with the run's exit code. The server adopts the environment of its first request
before importing Ansible (Ansible reads its configuration at import); a later request whose
environment differs in anything but the per-run entries (PER_RUN) runs a cold ansible-playbook
instead, so a warm run is always configured as a cold one would be. Once configured, the server also
does the set-up every run would repeat identically (`preload`), so that the children inherit it.

Each run is a child of the server, killed with every process below it (`kill_tree`, through the
parent links of /proc: Ansible's workers detach into sessions of their own, so a process group is not
enough) when its client goes away (ansible-runner cancelled the run) and when the server ends
(SIGTERM: before it exits). When the server dies, a run is told by its parent-death signal (SIGTERM,
which ansible-playbook passes on to its workers). The server is the child subreaper of the runs'
trees: what is left of a run whose child died (killed by the kernel's OOM killer, say) is orphaned to
it, not to init, and killed. A run that cannot be forked fails (exit code 250); the server goes on.
No process is added per run: one would be a fork of the warm server, as large as it.

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
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

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
FAILED = 250  # the exit code of a run that could not be started (ansible-playbook's for an error)
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36  # prctl(2)


@cache
def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    """Linux's prctl(2) with one argument."""
    import ctypes

    if _libc().prctl(option, ctypes.c_ulong(value), *[ctypes.c_ulong(0)] * 3) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"prctl({option}, {value}): {os.strerror(number)}")


def children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (from /proc)."""
    return [pid for pid, ppid in _parents().items() if ppid == parent]


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    # The command name, in parentheses, may hold spaces and parentheses itself.
                    parents[int(entry)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def descendants(root: int) -> set[int]:
    """Every process below `root`, through the parent links of /proc (sessions do not matter)."""
    below: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        below.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for pid in below.get(todo.pop(), ()):
            if pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def kill_tree(root: int, *, with_root: bool = True) -> set[int]:
    """Kills every process below `root` (and `root` with `with_root`), whatever its session or group.
    All are stopped first, the tree read again until it holds no process not stopped yet, so that none
    forks, or exits and leaves its children to another parent, while the tree is read; then all are
    killed. Returns the processes killed."""
    stopped: set[int] = set()
    while True:
        found = descendants(root) | ({root} if with_root else set())
        new = found - stopped
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return stopped


def reap_all() -> None:
    """Waits for every child of this process to end (after `kill_tree`)."""
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)


def configuration_of(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in PER_RUN}


def receive_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The request on `conn` and the client's descriptors (its stdin, stdout and stderr). A request
    that cannot be read closes them: the server would otherwise hold a dead client's pipes open."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    try:
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
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


class WarmAnsible:
    def __init__(self, socket_path: str, collections: Iterable[str] = ()) -> None:
        self.socket_path = socket_path
        self.collections = tuple(collections)  # whose plugins `preload` imports
        self.adopted: dict[str, str] | None = None  # the configuration Ansible was imported with
        self.children: dict[int, socket.socket] = {}  # pid -> the connection of its client
        self.by_connection: dict[socket.socket, int] = {}
        self.pid = os.getpid()
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
        """Serves clients until the operator ends (or SIGTERM: `main`); then kills every run."""
        # What is left of a run whose child died is orphaned to this process, not to init.
        prctl(PR_SET_CHILD_SUBREAPER, 1)
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
        try:
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
        finally:
            if os.getpid() == self.pid:  # (a child never returns here: it leaves with os._exit)
                kill_tree(self.pid, with_root=False)
                reap_all()

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
        try:
            pid = os.fork()
        except OSError as error:  # that run fails, not the server
            say(fds, f"warm ansible: could not fork the run: {error}")
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"exit": FAILED}).encode() + b"\n")
            conn.close()
            return
        if pid == 0:
            self._run(request, fds, cold, conn)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.by_connection[conn] = pid

    def _run(self, request: dict[str, Any], fds: list[int], cold: bool, conn: socket.socket) -> NoReturn:
        """The child of one run: ansible-playbook on the client's arguments, streams, directory and
        environment. Told by its parent-death signal (SIGTERM, which ansible-playbook passes on to its
        workers) when the server dies."""
        code = FAILED
        try:
            os.setsid()  # out of the operator's process group (a signal to it is not one to the runs)
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(number, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != self.pid:  # the server died before the line above
                os._exit(code)
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
            kill_tree(pid)
        self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        pid = self.by_connection.pop(conn, None)
        if pid is not None:
            self.children.pop(pid, None)
        conn.close()

    def _reap(self) -> None:
        """Collects every run that ended, those whose client went away too (no zombies are left), and
        kills what is left of the runs whose child died: orphaned to this server, the processes that
        are not the child of a run."""
        ended: list[tuple[socket.socket, int]] = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = self.children.pop(pid, None)
            if conn is not None:
                ended.append((conn, status))
        if ended:
            for stray in set(children(self.pid)) - set(self.children):
                kill_tree(stray)
        for conn, status in ended:
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            self._forget(conn)


def say(fds: list[int], message: str) -> None:
    """Writes `message` to a run's standard error (the client's, among `fds`), if it has one."""
    if len(fds) > 2:
        with contextlib.suppress(OSError):
            os.write(fds[2], message.encode() + b"\n")


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
