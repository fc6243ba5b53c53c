"""Play the aggregator against a running executor: submit a few signed sample tasks to its
ExecutorService, print each result and its signatures, and check them as an aggregator would.

Run from the repository root (it uses the test aggregator of tests/support, with Anvil's public
development key #1 as the aggregator key — a test key, never for anything real):

    PYTHONPATH=. .venv/bin/python executor/examples/submit_tasks.py \\
        --executor 127.0.0.1:9090 --chain executor/examples/chain-static.yaml [--wait 120]

Exits 0 when every result verifies, 1 otherwise. `--wait` first waits (up to that many seconds)
until the executor's health service reports SERVING.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2_grpc
from hourglass_executor.chain import StaticChainReader

from hack.aggregator.signatures import ResultInvalid
from tests.support.aggregator import AVS, EXECUTOR, TestAggregator

SAMPLES = [
    {"op": "echo", "data": "hello from the demo aggregator"},
    {"op": "keccak256", "data": "abc"},
    {"op": "version"},
]


def short(data: bytes) -> str:
    text = "0x" + data.hex()
    return text if len(text) <= 26 else f"{text[:14]}…{text[-8:]} ({len(data)} bytes)"


async def wait_serving(address: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the executor at {address} is not SERVING after {seconds:g} s")
            await asyncio.sleep(0.5)


async def submit(address: str, aggregator: TestAggregator, avs: str) -> bool:
    ok = True
    async with grpc.aio.insecure_channel(address) as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        for sample in SAMPLES:
            payload = json.dumps(sample).encode()
            submission = aggregator.submission(payload, avs=avs)
            print(f"task {submission.task_id[:18]}…  payload {payload.decode()}")
            try:
                result = await stub.SubmitTask(submission, timeout=30)
            except grpc.aio.AioRpcError as error:
                print(f"  refused: {error.code().name}: {error.details()}")
                ok = False
                continue
            output = result.output
            shown = output.decode() if sample["op"] != "keccak256" else "0x" + output.hex()
            print(f"  output            {shown!r}")
            print(f"  operator          {result.operator_address} (result version {result.version})")
            print(f"  result_signature  {short(result.result_signature)}")
            print(f"  auth_signature    {short(result.auth_signature)}")
            try:
                aggregator.verify(submission, result)
                print(f"  verified: both signatures recover to the executor's key {EXECUTOR.address}")
            except ResultInvalid as problem:
                print(f"  NOT VALID: {problem}")
                ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", required=True, metavar="HOST:PORT", help="the executor's grpcPort")
    parser.add_argument("--chain", required=True, metavar="FILE", help="the executor's static chain file")
    parser.add_argument("--avs", default=AVS, help=f"AVS address (default {AVS})")
    parser.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait until SERVING first")
    args = parser.parse_args(argv)
    aggregator = TestAggregator(StaticChainReader.from_file(args.chain))

    async def run() -> bool:
        if args.wait:
            await wait_serving(args.executor, args.wait)
        return await submit(args.executor, aggregator, args.avs)

    return 0 if asyncio.run(run()) else 1


if __name__ == "__main__":
    sys.exit(main())
