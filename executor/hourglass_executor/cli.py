"""The `hourglass-executor` command.

hourglass-executor validate --config FILE   # exit 0 when valid, 2 with every problem when not
                                            # (a static chain file too, when it is on this machine)
hourglass-executor run --config FILE        # validate, then run the executor until SIGTERM/SIGINT

`run` logs JSON lines (or text, `logFormat`) on stderr and exits 0 after a graceful stop, 1 when it
cannot start (the log line names the configuration key), 2 for an invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from hourglass_executor import logs
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
    logging.getLogger("hourglass_executor").info("starting", extra={"config": summary(config)})
    from hourglass_executor.server.app import Executor  # grpc servers: only for `run`

    return asyncio.run(Executor(config).serve())


def _load(path: str) -> ExecutorConfig | None:
    try:
        return load_config(path)
    except ConfigError as err:
        print(f"{path}: invalid executor configuration:", file=sys.stderr)
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


def _check_chain_file(config: ExecutorConfig) -> tuple[str | None, str]:
    """(the problem `run` would stop at, or None; a note) for a static chain file. A file that is not
    there is only noted: `validate` may run elsewhere than the executor (the playbook feeds the
    configuration on stdin, and the file is mounted into the pod)."""
    if config.chain.type != "static" or config.chain.file is None:
        return None, ""
    if not Path(config.chain.file).is_file():
        return None, f" (chain.file {config.chain.file} is not on this machine: not checked)"
    from hourglass_executor.server.components import StartupError, load_static_chain

    try:
        load_static_chain(config)
    except StartupError as error:
        return str(error), ""
    return None, ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hourglass-executor", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "validate the configuration and start the executor"),
        ("validate", "check the configuration file and report every problem"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--config", required=True, metavar="FILE", help="executor configuration (YAML)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID_CONFIG
    if args.command == "validate":
        problem, note = _check_chain_file(config)
        if problem:
            print(f"{args.config}: invalid executor configuration:", file=sys.stderr)
            print(problem, file=sys.stderr)
            return EXIT_INVALID_CONFIG
        print(f"{args.config}: valid; {summary(config)}{note}")
        return 0
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
