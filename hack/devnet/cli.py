"""Command line of the local chain: `python -m hack.devnet.cli build|up|down|status|manifest` (devnet.sh).

build     install the tools, compile the contracts and deploy into the state cache (what `up` does
          first); prints the cached deployment's directory
up        start the devnet from the cached deployment (deploying into the cache first when needed) and
          print the manifest path; --port N (default: a free one), --state-dir DIR (default <cache>/run);
          a running devnet is left as it is
down      stop it (the chain is dropped: the next `up` starts again from the cached deployment)
status    say whether it runs, and where
manifest  print the manifest JSON (RPC URL, contracts, AVSs, accounts; TEST KEYS ONLY)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hack.devnet.devnet import Devnet, cached_deployment
from hack.devnet.errors import DevnetError
from hack.devnet.toolchain import install


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devnet", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("verb", choices=("build", "up", "down", "status", "manifest"))
    parser.add_argument("--port", type=int, help="up: the RPC port on 127.0.0.1")
    parser.add_argument("--state-dir", type=Path, help="the instance directory (default <cache>/run)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except DevnetError as error:
        print(f"devnet {args.verb}: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.verb == "build":
        started = time.monotonic()
        cached = cached_deployment(install())
        print(f"devnet deployment cached in {time.monotonic() - started:.1f} s", file=sys.stderr)
        print(cached)
        return 0
    if args.verb == "up":
        try:
            running = Devnet.attach(args.state_dir)
        except DevnetError:
            running = None
        if running is not None and running.running():
            print(f"devnet already running at {running.rpc_url}", file=sys.stderr)
        else:
            started = time.monotonic()
            devnet = Devnet.up(args.state_dir, args.port)
            print(f"devnet up at {devnet.rpc_url} in {time.monotonic() - started:.1f} s", file=sys.stderr)
            running = devnet
        print(running.state_dir / "manifest.json")
        return 0
    devnet = Devnet.attach(args.state_dir)
    if args.verb == "down":
        devnet.stop()
        print("devnet stopped", file=sys.stderr)
    elif args.verb == "status":
        state = "running" if devnet.running() else "stopped"
        print(f"{state}: {devnet.rpc_url} (state in {devnet.state_dir})")
        return 0 if devnet.running() else 3
    else:
        print(json.dumps(devnet.manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
