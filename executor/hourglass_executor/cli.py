"""The `hourglass-executor` command.

hourglass-executor validate --config FILE   # exit 0 when valid, 2 with every problem when not
hourglass-executor validate --config-only --config FILE   # the file only (for another machine)
hourglass-executor run --config FILE        # validate, then run the executor until SIGTERM/SIGINT
hourglass-executor --version                # the version, e.g. "hourglass-executor 0.1.0"

`validate` refuses every configuration `run` refuses: the file (model and rules, `config/`), then
what it points to on this machine — store, static chain file, signing keys and their passwords,
`valueFromEnv` variables, Kubernetes client configuration, endpoint resolver, the performer TLS
files — with the start-up function `run` uses (`server/startup.py`), so both say the same
`<key>: <reason>`. `--config-only` skips the second part, for a configuration that will run
elsewhere (the executor role validates on the machine running ansible-playbook). Only what depends
on the moment is left to `run`: a port in use, an API server that does not answer, the chain
endpoint's chain id.

`run` logs JSON lines (or text, `logFormat`) on stderr and exits 0 after a graceful stop, 1 when it
cannot start (one log line, `cannot start`, whose reason names the configuration key; never a
traceback), 2 for an invalid configuration. Its first line, `starting`, carries the version.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from hourglass_executor import __version__, logs
from hourglass_executor.config import ConfigError, ExecutorConfig, load_config

EXIT_INVALID_CONFIG = 2
EXIT_START_FAILED = 1


def summary(config: ExecutorConfig) -> str:
    """One line describing the configuration, without secrets (no keys, passwords or RPC URL)."""
    performers = len(config.avs_performers)
    mode = config.deployment_mode
    where = (
        f" in namespace {config.kubernetes.namespace}" if mode == "kubernetes" and config.kubernetes else ""
    )
    storage = config.storage.type
    if path := config.storage.sqlite_path():
        storage += f" ({path})"
    return (
        f"operator {config.operator.address}; {performers} performer{'s' if performers != 1 else ''}, "
        f"{mode} mode{where}; grpcPort {config.grpc_port}, management port {config.management_port}; "
        f"chain {config.l1_chain.chain_id} ({config.chain.type} reads); storage {storage}; "
        f"authentication {'enabled' if config.authentication.enabled else 'disabled'}"
    )


def run(config: ExecutorConfig) -> int:
    """Starts the executor's gRPC servers and blocks until shutdown; returns the exit code."""
    logs.setup(debug=config.debug, fmt=config.log_format)
    logging.getLogger("hourglass_executor").info(
        "starting", extra={"version": __version__, "config": summary(config)}
    )
    from hourglass_executor.server.app import Executor  # grpc servers: only for `run`

    try:
        return asyncio.run(Executor(config).serve())
    except Exception as error:  # a defect, not the configuration: still one line (the traceback at debug)
        logging.getLogger("hourglass_executor").error(
            "stopped by an unexpected error",
            extra={"reason": f"{type(error).__name__}: {error}"},
            exc_info=config.debug,
        )
        return EXIT_START_FAILED


def _load(path: str) -> ExecutorConfig | None:
    try:
        return load_config(path)
    except ConfigError as err:
        print(f"{path}: invalid executor configuration:", file=sys.stderr)
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


def _startup_problems(config: ExecutorConfig) -> list[str]:
    """What `run` would stop at on this machine before serving (see `server/startup.py`)."""
    from hourglass_executor.server import startup  # grpc and the signing libraries: not for --config-only

    return asyncio.run(startup.check(config))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hourglass-executor", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "validate the configuration and start the executor"),
        ("validate", "check the configuration and what it points to here; report every problem"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--config", required=True, metavar="FILE", help="executor configuration (YAML)")
        if name == "validate":
            command.add_argument(
                "--config-only",
                action="store_true",
                help="check the file only, not the keys, files, variables and credentials it points to "
                "on this machine (for a configuration that runs elsewhere)",
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID_CONFIG
    if args.command == "validate":
        problems = [] if args.config_only else _startup_problems(config)
        if problems:
            print(f"{args.config}: invalid executor configuration:", file=sys.stderr)
            for problem in problems:
                print(problem, file=sys.stderr)
            return EXIT_INVALID_CONFIG
        note = (
            " (the file only: what it points to on this machine was not checked)" if args.config_only else ""
        )
        print(f"{args.config}: valid; {summary(config)}{note}")
        return 0
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
