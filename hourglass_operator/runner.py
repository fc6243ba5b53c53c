"""Runs one ansible-playbook for a batch of custom resources through ansible-runner and reads back
what happened to each of them.

Each run gets a private data dir with the batch's extra vars (every CR string marked unsafe) and the
batch itself (`batch_var`) in a JSON file there, named by the extra var `<batch_var>_file`, and runs
the watch's playbook (or a generated one that applies its role) against localhost, with the
operator's own Python as interpreter; Ansible finds the roles and modules of the collection
hourglass.operator on that Python's path (or ANSIBLE_COLLECTIONS_PATH).

Per-CR outcomes reach the loop through a side channel, not through ansible-runner's events: the run
gets the extra var `_hourglass_results_file` (a file in its private data dir) and the
`performer_status` module appends one JSON line per CR there. Events cannot carry them: the
display callback drops the `res` of any event larger than MAX_EVENT_RES (700 kB), which a batch of
100 Performers with 8 kB of env each reaches. For the same reason events keep their data only when
a task failed (`only_failed_event_data`): that is all the loop reads of them (the failing task and
its message), and it spares writing every batch-sized fact to the artifact dir. A run that fails
before the status task reports no outcome for its CRs, and the failing task and its message are
reported. The other way, every run gets `_hourglass_work_waiting_file`, a file of the work dir that
exists while other work waits for a run (`work_waiting`); the module then stops waiting for the
objects it deletes.

The modules reach the API server through the loop's own connection (`connection`: the settings of its
client, written for each run to a file private to the run and named in the environment), which spares
every module process importing the Kubernetes client (plugins/module_utils/kube_rest.py). With
`warm`, ansible-runner's command is `warm_ansible_client`, which has a warm, pre-imported Ansible
(`warm_ansible`, started with the first run) fork the run instead of starting a cold ansible-playbook.

A cancelled run is noticed within CANCEL_POLL_SECONDS and killed with every process it started
(`warm_ansible.kill_tree`): ansible-runner kills only the process group of its command, which
Ansible's workers leave (each calls setsid), so the task under way would go on writing. A run's
private data dir (its extra vars, batch and API connection) is removed when the run ends, however it
ends, and any left by an earlier process when the runner starts. The runs of a runner share one
artifact dir, which the runner prunes itself when a run ends, to the newest `max_artifacts` runs that
ended, never one going on (ansible-runner's own rotation, on each run's start, removes whatever is
oldest, a run going on included, and fails when another run removed a directory first).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ansible_runner
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    write_settings,
)

from hourglass_operator.extravars import dump_unsafe
from hourglass_operator.runs import OnResult, ResultsTail, RunResult, read_results, summarize_events
from hourglass_operator.warm_ansible import SOCKET_ENV, children, kill_tree

log = logging.getLogger(__name__)

RESULTS_VAR = "_hourglass_results_file"
# A file that exists while other work waits for a run (`work_waiting`): the module stops waiting
# for deletions then.
WORK_WAITING_VAR = "_hourglass_work_waiting_file"
# How often ansible-runner looks at a run's cancel event. Its default, 5 s, is all the time a leader
# that lost its lease has before a standby may lead (it notices at 10 s, a standby may lead at 15 s).
CANCEL_POLL_SECONDS = 0.1


def collection_of(content_root: Path) -> list[str]:
    """The collection the content root is (`namespace.name` of its galaxy.yml), if it is one: the warm
    server preloads its plugins."""
    try:
        galaxy = yaml.safe_load((content_root / "galaxy.yml").read_text(encoding="utf-8"))
        return [f"{galaxy['namespace']}.{galaxy['name']}"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return []


class AnsibleBatchRunner:
    """The `runs.BatchRunner` that runs ansible-playbook through ansible-runner."""

    def __init__(
        self,
        content_root: Path,
        work_dir: Path,
        *,
        kubeconfig: str | None = None,
        max_artifacts: int = 20,
        verbosity: int = 0,
        connection: Callable[[], dict[str, Any] | None] | None = None,
        warm: bool = False,
        batch_var: str | None = None,
    ) -> None:
        self.content_root = content_root.resolve()
        self.work_dir = work_dir
        self.kubeconfig = kubeconfig
        self.max_artifacts = max_artifacts
        self.verbosity = verbosity
        self.connection = connection
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.warm = warm
        self.batch_var = batch_var
        self._warm_lock = threading.Lock()
        self._warm_server: subprocess.Popen | None = None
        self._warm_socket = ""
        self._warm_client = self.work_dir / "warm-ansible-playbook"
        self._work_waiting_file = self.work_dir / "work-waiting"
        self._artifacts_lock = threading.Lock()
        self._running: set[str] = set()  # the reconcile ids of the runs going on
        # Left by an earlier process with the same work dir: the data dirs hold the API credentials.
        self.work_waiting(False)
        shutil.rmtree(self.work_dir / "runs", ignore_errors=True)
        self._prune_artifacts()

    def work_waiting(self, waiting: bool) -> None:
        """Creates the file every run is told to look for (`WORK_WAITING_VAR`), or removes it."""
        if waiting:
            self._work_waiting_file.touch()
        else:
            self._work_waiting_file.unlink(missing_ok=True)

    def _warm_command(self) -> tuple[str, str]:
        """The client command and the socket of the warm server, which is (re)started when needed.
        The socket lives in a short temporary directory: Unix socket paths are limited to 107 bytes."""
        with self._warm_lock:
            if self._warm_server is None or self._warm_server.poll() is not None:
                if not self._warm_socket:
                    self._warm_socket = str(Path(tempfile.mkdtemp(prefix="hourglass-warm-")) / "socket")
                    # Without site (-S): the client starts for every run and needs only this package.
                    package_parent = str(Path(__file__).resolve().parent.parent)
                    self._warm_client.write_text(
                        f"#!{sys.executable} -S\nimport sys\n\nsys.path.insert(0, {package_parent!r})\n"
                        "from hourglass_operator.warm_ansible_client import main\n\nsys.exit(main())\n"
                    )
                    self._warm_client.chmod(0o755)
                self._warm_server = subprocess.Popen(
                    [sys.executable, "-m", "hourglass_operator.warm_ansible", self._warm_socket,
                     *collection_of(self.content_root)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None, text=True,
                )  # fmt: skip
                # A client that finds no socket runs cold: wait until the server listens (or died).
                if self._warm_server.stdout:
                    self._warm_server.stdout.readline()
                    self._warm_server.stdout.close()
            return str(self._warm_client), self._warm_socket

    def warm_up(self) -> None:
        """With `warm`, starts the warm server and has it take the runs' configuration and preload, by
        running an empty play the way every run goes (through ansible-runner), so that the first real
        run is already forked from a warm Ansible."""
        if not self.warm:
            return
        playbook = self.work_dir / "warm-up.yml"
        playbook.write_text(
            "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks: []\n"
        )
        result = self.run({}, role=None, playbook=playbook, cancel=threading.Event(), reconcile_id="warm-up")
        if not result.ok:
            raise RuntimeError(f"the warm-up run failed: {result.failure}")

    def close(self) -> None:
        """Stops the warm server, if one was started."""
        with self._warm_lock:
            if self._warm_server is not None and self._warm_server.poll() is None:
                self._warm_server.terminate()
                self._warm_server.wait(10)
            if self._warm_socket:
                shutil.rmtree(Path(self._warm_socket).parent, ignore_errors=True)

    def _envvars(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        env = {
            "ANSIBLE_CONFIG": str(self.content_root / "ansible.cfg"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_GATHERING": "explicit",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
        if self.kubeconfig:
            env["K8S_AUTH_KUBECONFIG"] = self.kubeconfig
        return env

    def _playbook(self, data_dir: Path, role: Path | None, playbook: Path | None) -> str:
        if playbook:
            return str(playbook)
        generated = data_dir / "project" / "run-role.yml"
        generated.parent.mkdir(parents=True, exist_ok=True)
        generated.write_text(
            "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n"
            f"  roles:\n    - role: {role}\n"
        )
        return str(generated)

    def _batch_file(self, data_dir: Path, batch: Iterable[Any] | None) -> dict[str, str]:
        """The batch (when there is one: a list, or any iterable such as the controller's generator)
        written to a file of the run, and the extra var naming it. As a variable, Ansible parses, tags
        and copies every value of it in the play (extra vars are deep-copied whole; host variables
        tagged value by value), and templates it again into the arguments of each task that takes it:
        more CPU than the batch's reconcile. The role's module reads the file itself (plain JSON:
        nothing there is ever a template)."""
        if batch is None:
            return {}
        path = data_dir / "batch.json"
        with path.open("w", encoding="utf-8") as file:
            # Item by item: `batch` may be a generator, whose items then never all exist at once.
            file.write("[")
            for index, item in enumerate(batch):
                file.write(("," if index else "") + json.dumps(item, separators=(",", ":")))
            file.write("]")
        return {f"{self.batch_var}_file": str(path)}

    def run(
        self,
        extravars: dict[str, Any],
        *,
        role: Path | None,
        playbook: Path | None,
        cancel: threading.Event,
        reconcile_id: str | None = None,
        on_result: OnResult | None = None,
    ) -> RunResult:
        reconcile_id = reconcile_id or uuid.uuid4().hex[:12]
        data_dir = self.work_dir / "runs" / reconcile_id
        with self._artifacts_lock:
            self._running.add(reconcile_id)
        try:
            return self._run(data_dir, reconcile_id, extravars, role, playbook, cancel, on_result)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            with self._artifacts_lock:
                self._running.discard(reconcile_id)
            self._prune_artifacts()

    def _run(
        self,
        data_dir: Path,
        reconcile_id: str,
        extravars: dict[str, Any],
        role: Path | None,
        playbook: Path | None,
        cancel: threading.Event,
        on_result: OnResult | None,
    ) -> RunResult:
        (data_dir / "env").mkdir(parents=True, exist_ok=True)
        results_file = data_dir / "results.jsonl"
        extravars = dict(extravars)  # the caller's stay as they are
        batch = extravars.pop(self.batch_var, None) if self.batch_var else None
        extravars.update({
            RESULTS_VAR: str(results_file), WORK_WAITING_VAR: str(self._work_waiting_file),
            **self._batch_file(data_dir, batch),
        })  # fmt: skip
        (data_dir / "env" / "extravars").write_text(dump_unsafe(extravars), encoding="utf-8")
        # As a file: ansible-runner drops the `settings` argument when the run has no such file.
        (data_dir / "env" / "settings").write_text(json.dumps({"pexpect_timeout": CANCEL_POLL_SECONDS}))
        envvars = self._envvars()
        settings = self.connection() if self.connection else None
        if settings:
            write_settings(str(data_dir / "kube-connection.json"), settings)
            envvars[CONNECTION_ENV] = str(data_dir / "kube-connection.json")
        playbook_path = self._playbook(data_dir, role, playbook)
        command: dict[str, Any] = {"playbook": playbook_path}
        if self.warm:
            client, envvars[SOCKET_ENV] = self._warm_command()
            command = {"binary": client, "cmdline": shlex.quote(playbook_path)}
        started = time.monotonic()
        with ResultsTail(results_file, on_result) if on_result else contextlib.nullcontext():
            runner = ansible_runner.run(
                private_data_dir=str(data_dir),
                artifact_dir=str(self.work_dir / "artifacts"),
                ident=reconcile_id,
                **command,
                inventory="localhost,",
                envvars=envvars,
                quiet=True,
                verbosity=self.verbosity,
                cancel_callback=cancelled(cancel, data_dir),
                suppress_env_files=True,
                only_failed_event_data=True,
            )
        duration = time.monotonic() - started
        result = summarize_events(runner.status, runner.rc, runner.events)
        result.duration, result.reconcile_id = duration, reconcile_id
        result.per_cr = read_results(results_file)
        return result

    def _prune_artifacts(self) -> None:
        """Removes the artifacts of all runs that ended but the newest `max_artifacts` (0 keeps all, as
        with ansible-runner's rotation); those of the runs going on stay. A directory that vanishes
        meanwhile is skipped."""
        artifacts = self.work_dir / "artifacts"
        if self.max_artifacts < 1:
            return
        with self._artifacts_lock:
            try:
                names = set(os.listdir(artifacts)) - self._running
            except FileNotFoundError:
                return
            ended = []
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    ended.append((os.stat(artifacts / name).st_mtime_ns, name))
            ended.sort(reverse=True)
            for _, name in ended[self.max_artifacts :]:
                shutil.rmtree(artifacts / name, ignore_errors=True)


def cancelled(cancel: threading.Event, data_dir: Path) -> Callable[[], bool]:
    """ansible-runner's cancel callback for a run: once `cancel` is set, kills the run's process with
    every process it started, before ansible-runner kills that process's group (not the workers)."""
    # ansible-runner names the run's extra vars file so in the command: `-e @<file>`.
    marker = ("@" + os.path.join(os.path.abspath(data_dir), "env/extravars")).encode()
    killed = False

    def callback() -> bool:
        nonlocal killed
        if not cancel.is_set():
            return False
        if not killed:
            killed = True
            for pid in children(os.getpid()):
                try:
                    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if marker in arguments:
                    log.info("killing a cancelled run", extra={"processes": len(kill_tree(pid))})
        return True

    return callback
