"""`hourglass-operator run`: the Performer operator's runner loop.

Every flag has an environment variable (shown in --help) so that the shipped Deployment can be
configured either way; a flag wins over its variable, and an empty variable means the default. A
value that is not one the flag takes (a number out of range, not finite, a boolean other than
true/false/1/0/yes/no/on/off) stops the start with one line naming the flag and its variable, exit
code 2 (`flag_types.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import caller

import hourglass_operator
from hourglass_operator import health, logs, startup
from hourglass_operator.controller import Controller
from hourglass_operator.discovery import wait_for_plural, warn_if_status_fields_missing
from hourglass_operator.flag_types import EnvBoolean, Parser, address, seconds, whole_number
from hourglass_operator.leader import LeaderElector
from hourglass_operator.performer_adapter import PerformerAdapter
from hourglass_operator.role_vars import (
    RoleVarsError,
    check_watches_vars,
    parse_role_vars,
    role_default,
    with_role_vars,
)
from hourglass_operator.rollouts import parse_limit
from hourglass_operator.runner import AnsibleBatchRunner
from hourglass_operator.startup import StartupError
from hourglass_operator.status_sync import StatusSync
from hourglass_operator.watches import Watch, WatchesError, load_watches

log = logging.getLogger("hourglass_operator")
DEFAULT_CONTENT = Path(__file__).resolve().parent.parent
API_CONNECTIONS = 32  # informer watches, concurrent finalizer patches and status syncs
RELEASE_TIMEOUT_SECONDS = 25.0  # the elector's last renewal (10 s at most) and its release (10 s)


def _env(name: str, default: str) -> str:
    """The environment variable `name`, or `default` when it is unset or empty."""
    return os.environ.get(name) or default


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="hourglass-operator", description="Reconciles Performers with Ansible.")
    p.add_argument("--version", action="version", version=f"%(prog)s {hourglass_operator.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run the operator", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    a = run.add_argument
    a(
        "--watches-file",
        type=Path,
        default=Path(_env("WATCHES_FILE", str(DEFAULT_CONTENT / "watches.yaml"))),
        help="operator-sdk watches.yaml (env WATCHES_FILE)",
    )
    a(
        "--role-vars",
        default=_env("ROLE_VARS", ""),
        help="YAML or JSON mapping of role variables set on every watch's runs, over the watches file's "
        "vars; checked against the role's argument specs at start-up (env ROLE_VARS)",
    )
    a(
        "--content-root",
        type=Path,
        default=Path(_env("ANSIBLE_CONTENT_ROOT", str(DEFAULT_CONTENT))),
        help="directory with ansible.cfg, roles/, playbooks/ and plugins/ (env ANSIBLE_CONTENT_ROOT)",
    )
    a(
        "--namespaces",
        default=_env("WATCH_NAMESPACE", ""),
        help="comma-separated namespaces to watch; empty means all (env WATCH_NAMESPACE)",
    )
    a(
        "--max-concurrent-reconciles",
        type=whole_number("MAX_CONCURRENT_RECONCILES", 1),
        default=_env("MAX_CONCURRENT_RECONCILES", "1"),
        help="ansible runs at the same time (env MAX_CONCURRENT_RECONCILES)",
    )
    a(
        "--max-batch-size",
        type=whole_number("MAX_BATCH_SIZE", 1),
        default=_env("MAX_BATCH_SIZE", "250"),
        help="custom resources per ansible run (env MAX_BATCH_SIZE)",
    )
    a(
        "--batch-window",
        type=seconds("BATCH_WINDOW"),
        default=_env("BATCH_WINDOW", "0.25"),
        help="seconds a batch smaller than --max-batch-size waits for more due keys while another ansible "
        "run is in progress, so that changes arriving together share one run; with no run in progress a "
        "change starts at once (env BATCH_WINDOW)",
    )
    a(
        "--rollout-max-unavailable",
        default=_env("ROLLOUT_MAX_UNAVAILABLE", "25%"),
        help="at most this many Performers (a number, or a percentage of those watched) have their pod "
        "replaced at a time because the operator renders it differently now (a new version, other "
        "--role-vars); the others keep serving on their old pods until their turn. A change of a "
        "Performer's own spec is never held back (env ROLLOUT_MAX_UNAVAILABLE)",
    )
    a(
        "--status-fast-path",
        action=EnvBoolean,
        env="STATUS_FAST_PATH",
        default=_env("STATUS_FAST_PATH", "true"),
        help="follow pod status changes without an ansible run when nothing else changed "
        "(env STATUS_FAST_PATH=false disables)",
    )
    a(
        "--warm-ansible",
        action=EnvBoolean,
        env="WARM_ANSIBLE",
        default=_env("WARM_ANSIBLE", "true"),
        help="fork each ansible run from a warm, pre-imported Ansible instead of starting a cold "
        "ansible-playbook (env WARM_ANSIBLE=false disables)",
    )
    a(
        "--leader-elect",
        action=EnvBoolean,
        env="LEADER_ELECT",
        default=_env("LEADER_ELECT", "false"),
        help="hold a Lease before reconciling (env LEADER_ELECT=true)",
    )
    a(
        "--leader-election-namespace",
        default=_env("LEADER_ELECTION_NAMESPACE", _env("POD_NAMESPACE", "default")),
        help="namespace of the Lease (env LEADER_ELECTION_NAMESPACE, else POD_NAMESPACE)",
    )
    a(
        "--leader-election-id",
        default=_env("LEADER_ELECTION_ID", "hourglass-operator"),
        help="name of the Lease (env LEADER_ELECTION_ID)",
    )
    a(
        "--metrics-bind-address",
        type=address("METRICS_BIND_ADDRESS"),
        default=_env("METRICS_BIND_ADDRESS", ":8080"),
        help="address of /metrics; 0 disables (env METRICS_BIND_ADDRESS)",
    )
    a(
        "--health-probe-bind-address",
        type=address("HEALTH_PROBE_BIND_ADDRESS"),
        default=_env("HEALTH_PROBE_BIND_ADDRESS", ":8081"),
        help="address of /healthz and /readyz (env HEALTH_PROBE_BIND_ADDRESS)",
    )
    a(
        "--log-level",
        default=_env("LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="(env LOG_LEVEL)",
    )
    a("--log-format", default=_env("LOG_FORMAT", "json"), choices=["json", "text"], help="(env LOG_FORMAT)")
    a(
        "--kubeconfig",
        default=_env("KUBECONFIG", ""),
        help="kubeconfig; empty means the pod's service account in a pod, else ~/.kube/config "
        "(env KUBECONFIG)",
    )
    a(
        "--runner-dir",
        type=Path,
        default=Path(_env("RUNNER_DIR", "/tmp/hourglass-operator")),
        help="ansible-runner private data and artifacts (env RUNNER_DIR)",
    )
    a(
        "--graceful-shutdown-timeout",
        type=seconds("GRACEFUL_SHUTDOWN_TIMEOUT"),
        default=_env("GRACEFUL_SHUTDOWN_TIMEOUT", "60"),
        help="seconds a running batch may take to finish after SIGTERM (env GRACEFUL_SHUTDOWN_TIMEOUT)",
    )
    a(
        "--ansible-verbosity",
        type=whole_number("ANSIBLE_VERBOSITY", 0),
        default=_env("ANSIBLE_VERBOSITY", "0"),
        help="(env ANSIBLE_VERBOSITY)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    logs.setup(args.log_level, args.log_format)
    log.info("hourglass-operator %s starting", hourglass_operator.__version__)
    try:
        return _run(args)
    except StartupError as error:
        log.error("cannot start: %s", error)
        return 1


def _run(args: argparse.Namespace) -> int:
    try:
        watches = check_watches_vars(load_watches(args.watches_file), args.watches_file.name)
    except WatchesError as error:
        log.error("invalid watches file: %s", error)
        return 2
    try:
        watches = with_role_vars(watches, parse_role_vars(args.role_vars))
    except RoleVarsError as error:
        log.error("invalid role variables: %s", error)
        return 2
    try:
        rollout_limit = parse_limit(args.rollout_max_unavailable)
    except ValueError as error:
        log.error("%s", error)
        return 2
    api = startup.kube_client(args.kubeconfig, pool_size=API_CONNECTIONS)
    stop, is_leader = threading.Event(), threading.Event()
    namespaces = [n.strip() for n in args.namespaces.split(",") if n.strip()]
    controllers: list[Controller] = []
    exit_code = 0

    def lost_leadership() -> None:
        nonlocal exit_code
        exit_code = 1
        cancel_runs(controllers, stop)

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Served while the watched kinds are looked up: alive, and ready once every controller synced.
    if args.health_probe_bind_address != "0":
        startup.serve("--health-probe-bind-address", args.health_probe_bind_address, {
            "/healthz": health.check(lambda: all(c.healthy() for c in controllers)),
            "/readyz": health.check(
                lambda: len(controllers) == len(watches) and all(c.synced() for c in controllers)
            ),
        })  # fmt: skip
    if args.metrics_bind_address != "0":
        startup.serve("--metrics-bind-address", args.metrics_bind_address, {"/metrics": health.metrics_route})
    calls = startup.calls_client(api)  # finalizers, the status fast path's patches and Events
    served = []
    for watch in watches:
        plural = wait_for_plural(api, watch.group, watch.version, watch.kind, stop)
        if plural is None:  # stopped while waiting
            return exit_code
        served.append(dataclasses.replace(watch, plural=plural))
        if (watch.group, watch.kind) == (contract.GROUP, contract.KIND):
            fields = contract.STATUS_FIELDS
            warn_if_status_fields_missing(caller(calls), watch.group, watch.version, watch.kind, fields)
    lease = (args.leader_election_namespace, args.leader_election_id) if args.leader_elect else None
    startup.check_permissions(api, [
        permission for watch in served
        for permission in startup.required_permissions(watch.group, watch.plural, namespaces, lease)
    ])  # fmt: skip
    for watch in served:
        if (watch.group, watch.kind) == (contract.GROUP, contract.KIND):
            startup.check_node_permission(api, lost_pod_after_seconds(watch))
    watch_quotas = startup.has_permissions(api, startup.quota_permissions(namespaces))
    if not watch_quotas:
        log.warning(
            "no permission to list and watch resourcequotas: what a quota refused is retried on its"
            " back-off (up to 5 min), not as soon as the quota makes room (config/rbac/role.yaml)"
        )
    built, runners = [], []
    for watch in served:
        runner = AnsibleBatchRunner(
            args.content_root, args.runner_dir / watch.kind.lower(), kubeconfig=args.kubeconfig or None,
            max_artifacts=watch.max_runner_artifacts, verbosity=args.ansible_verbosity,
            connection=lambda: startup.connection_settings(api), warm=args.warm_ansible,
            batch_var=PerformerAdapter.items_var,
        )  # fmt: skip
        runners.append(runner)
        threading.Thread(target=warm_up, args=(runner,), name=f"warm-up-{watch.kind}", daemon=True).start()
        status_sync = None
        if args.status_fast_path and watch.kind == "Performer":
            status_sync = StatusSync(calls, group=watch.group, version=watch.version, plural=watch.plural)
        built.append(Controller(
            api, watch, runner, PerformerAdapter(watch.kind, watch.group), namespaces=namespaces,
            max_batch=args.max_batch_size, batch_window=args.batch_window,
            workers=args.max_concurrent_reconciles, stop=stop, is_leader=is_leader, status_sync=status_sync,
            client=calls, watch_quotas=watch_quotas,
            rollout_limit=rollout_limit if watch.kind == "Performer" else None,
        ))  # fmt: skip
    controllers.extend(built)
    for controller in controllers:
        controller.start()
    resign, election = threading.Event(), None  # the elector releases the lease once `resign` is set
    if args.leader_elect:
        identity = f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        election = LeaderElector(
            api, args.leader_election_namespace, args.leader_election_id, identity,
            is_leader=is_leader, stop=resign, on_lost=lost_leadership,
        ).start()  # fmt: skip
    else:
        is_leader.set()
    log.info("started", extra={"watches": [w.kind for w in watches], "namespaces": namespaces or ["*"]})
    stop.wait()
    log.info("shutting down")
    shut_down(controllers, runners, args.graceful_shutdown_timeout, resign, election)
    return exit_code


def lost_pod_after_seconds(watch: Watch) -> Any:
    """`performer_lost_pod_after_seconds` as the watch's present runs get it: its vars (the watches
    file's, under --role-vars), else its role's default."""
    name = "performer_lost_pod_after_seconds"
    return watch.vars[name] if name in watch.vars else role_default(watch.role, name)


def cancel_runs(controllers: list[Controller], stop: threading.Event) -> None:
    """Leadership lost: the runs under way are cancelled at once, not after the graceful shutdown
    timeout (60 s), since another candidate may lead a lease duration after the last renewal (15 s)."""
    for controller in controllers:
        controller.cancel_runs.set()
    stop.set()


def shut_down(
    controllers: list[Controller],
    runners: list[AnsibleBatchRunner],
    timeout: float,
    resign: threading.Event,
    election: threading.Thread | None,
) -> None:
    """Stops in order: the controllers (their runs finish within `timeout`) and the runners, and only
    then the leader election, which releases the lease. Released any sooner, it would let a standby
    lead while this process's runs still write."""
    for controller in controllers:
        controller.shutdown(timeout)
    for runner in runners:
        runner.close()
    resign.set()
    if election is not None:
        election.join(RELEASE_TIMEOUT_SECONDS)


def warm_up(runner: AnsibleBatchRunner) -> None:
    """Warms the runner's Ansible while the operator starts; without it the first run does."""
    try:
        runner.warm_up()
    except Exception as error:
        log.warning("could not warm Ansible up before the first run", extra={"error": str(error)})


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
