"""The demo's executor on the local chain (run by hack/demo.sh; `make demo`):

    python -m hack.demo_executor configure --devnet-dir DIR --dir DIR --namespace NS --kubeconfig FILE \\
        --image REPO:TAG --task-port N --management-port N
    python -m hack.demo_executor wait-serving --address HOST:PORT [--timeout SECONDS]

`configure` sets up the devnet's executor operator for AVS 1 (its ECDSA operator set 1 and BN254
operator set 2), as a node operator would: its signing keys in keystore files (ECDSA: an Ethereum v3
keystore; BN254: an EIP-2335 keystore; each password in a file beside it), the executor
configuration (`executor.yaml`: kubernetes mode in NS, `chain.type: rpc` at the devnet's RPC URL with
its contract addresses, the keystores), and its socket on chain (`registrar.updateSocket` to
127.0.0.1:<task port>, where the aggregator finds it). Prints the configuration's path.
`wait-serving` waits until the executor's gRPC health says SERVING (it has deployed its performer).

TEST KEYS ONLY: the devnet's keys are public; the keystores only show the format.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hack.devnet.devnet import Devnet
from tests.support.keystores import bn254_keystore, ecdsa_keystore, write_keystore


def _keystore(directory: Path, name: str, keystore_of: Any, key: Any) -> dict[str, str]:
    password = secrets.token_hex(16)
    password_file = directory / f"{name}.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    path = write_keystore(directory / f"{name}.json", keystore_of(key, password))
    return {"keystoreFile": str(path), "passwordFile": str(password_file)}


def configure(args: argparse.Namespace) -> Path:
    devnet = Devnet.attach(args.devnet_dir)
    manifest = devnet.manifest
    avs = manifest["avss"][0]["address"]
    executor = manifest["accounts"]["executor"]
    keys = args.dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    repository, _, tag = args.image.rpartition(":")
    config = {
        "grpcPort": args.task_port,
        "managementServerGrpcPort": args.management_port,
        "logFormat": "text",
        "operator": {
            "address": executor["address"],
            "operatorPrivateKey": {"privateKey": executor["privateKey"]},
            "signingKeys": {
                "ecdsa": _keystore(
                    keys, "ecdsa", ecdsa_keystore, executor["ecdsaKeysByAvs"][avs]["ecdsaKey"]
                ),
                "bls": _keystore(
                    keys, "bn254", bn254_keystore, bytes.fromhex(executor["bn254Key"].removeprefix("0x"))
                ),
            },
        },
        "l1Chain": {"rpcUrl": manifest["rpcUrl"], "chainId": manifest["chainId"]},
        "chain": {
            "type": "rpc",
            "contracts": devnet.executor_contracts,
        },
        "avsPerformers": [
            {
                "avsAddress": avs,
                "deploymentMode": "kubernetes",
                "image": {"repository": repository, "tag": tag},
            }
        ],
        "kubernetes": {
            "namespace": args.namespace,
            "kubeConfigPath": str(args.kubeconfig),
            "endpointResolver": "hourglass_executor.examples.local_resolver:resolve",
            "deletePerformersOnShutdown": True,
        },
        "storage": {"type": "sqlite", "sqlite": {"path": str(args.dir / "executor.sqlite3")}},
        "authentication": {"enabled": True},
    }
    path = args.dir / "executor.yaml"
    header = "# Written by hack/demo.sh (hack/demo_executor.py). TEST KEYS ONLY: the devnet's public keys.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False))
    socket = f"127.0.0.1:{args.task_port}"
    devnet.update_socket(executor["address"], socket, avs=avs)
    print(
        f"executor operator {executor['address']}: socket {socket} registered for AVS {avs}", file=sys.stderr
    )
    return path


def wait_serving(address: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if (
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.demo_executor", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    setup = verbs.add_parser("configure")
    setup.add_argument("--devnet-dir", type=Path, required=True, help="the devnet instance's state directory")
    setup.add_argument("--dir", type=Path, required=True, help="where the keystores and executor.yaml go")
    setup.add_argument("--namespace", required=True)
    setup.add_argument("--kubeconfig", type=Path, required=True)
    setup.add_argument("--image", required=True, help="the performer image, REPOSITORY:TAG")
    setup.add_argument("--task-port", type=int, required=True)
    setup.add_argument("--management-port", type=int, required=True)
    wait = verbs.add_parser("wait-serving")
    wait.add_argument("--address", required=True)
    wait.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args(argv)
    if args.verb == "configure":
        print(configure(args))
        return 0
    if wait_serving(args.address, args.timeout):
        return 0
    print(f"the executor at {args.address} is not SERVING after {args.timeout:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
