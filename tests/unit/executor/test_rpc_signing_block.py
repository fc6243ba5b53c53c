"""Which ECDSA domain separator a task's result is signed with, through the whole executor with the
JSON-RPC reader against a fake node (tests/support/fake_rpc.py) whose verifier was upgraded at
block 1000, as a major version does.

A SubmitTask's chain reads come before its aggregator signature is checked (they find the
aggregator's key), so they may come from anyone and name any block. Each task must be signed with
the separator of its own block, whatever other requests read before or meanwhile; a separator kept
"of the newest block seen" let one unsigned request at a block beyond the head fail every later
ECDSA task, or pick the separator later tasks were signed with.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain.rpc import (
    DOMAIN_SEPARATOR,
    ECDSA_DIGEST_BYTES,
    GET_AVS_CONFIG,
    GET_AVS_REGISTRAR,
    GET_BN254_KEY,
    GET_CURVE_TYPE,
    GET_ECDSA_ADDRESS,
    GET_MESSAGE_HASH,
    GET_OPERATOR_SOCKET,
    RpcChainReader,
)
from hourglass_executor.signing.ecdsa import recover_address
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.layouts import ecdsa_certificate_digest, result_message_hash
from web3 import AsyncWeb3

from tests.support.aggregator import AGGREGATOR, AGGREGATOR_SET, ECDSA_SET, EXECUTOR, TestAggregator
from tests.support.executor_harness import executor_config, running_executor, static_chain, task_stub
from tests.support.fake_rpc import CONTRACTS, INVALID_CURVE_TYPE, ecdsa_digest_bytes, fake_rpc, word
from tests.support.local_backend import LocalBackend

pytestmark = pytest.mark.unit

CODEC = AsyncWeb3().codec
REGISTRAR = "0x" + "e1" * 20
HEAD = 100_000  # the node's newest block
UPGRADE_BLOCK = 1000
OLD, NEW = bytes.fromhex("01" * 32), bytes.fromhex("02" * 32)
PAYLOAD = b'{"op": "echo"}'


def separator_at(block: int) -> bytes:
    return NEW if block == 0 or block >= UPGRADE_BLOCK else OLD


def encode(fn, *values) -> str:
    return "0x" + CODEC.encode(list(fn.output_types), list(values)).hex()


def answer(to: str, data: bytes, tag: str):
    """The chain of tests/support/aggregator.py (ECDSA sets: the executor's, the aggregator's)."""
    block = 0 if tag == "latest" else int(tag, 16)
    if block > HEAD:
        return {"code": -32000, "message": "header not found"}
    selector, arguments = data[:4], data[4:]
    if selector == GET_AVS_REGISTRAR.selector:
        return encode(GET_AVS_REGISTRAR, REGISTRAR)
    if selector == GET_AVS_CONFIG.selector:
        return encode(GET_AVS_CONFIG, (AGGREGATOR_SET, [ECDSA_SET]))
    if selector == GET_OPERATOR_SOCKET.selector:
        return encode(GET_OPERATOR_SOCKET, "executor:9090")
    if selector == GET_CURVE_TYPE.selector:
        return word(1)
    if selector == GET_ECDSA_ADDRESS.selector:
        (_, set_id), operator = CODEC.decode(list(GET_ECDSA_ADDRESS.input_types), arguments)
        keys = {ECDSA_SET: EXECUTOR.address, AGGREGATOR_SET: AGGREGATOR.address}
        registered = keys.get(set_id, "").lower() == operator.lower()
        return encode(GET_ECDSA_ADDRESS, operator if registered else "0x" + "00" * 20)
    if selector == GET_BN254_KEY.selector:
        return INVALID_CURVE_TYPE
    if selector == GET_MESSAGE_HASH.selector:
        task, output = CODEC.decode(["bytes32", "bytes"], arguments)
        return word(keccak256(CODEC.encode(["bytes32", "bytes"], [task, output])))
    if selector == DOMAIN_SEPARATOR.selector:
        return word(separator_at(block))
    if selector == ECDSA_DIGEST_BYTES.selector:
        timestamp, message_hash = CODEC.decode(["uint32", "bytes32"], arguments)
        return encode(ECDSA_DIGEST_BYTES, ecdsa_digest_bytes(separator_at(block), timestamp, message_hash))
    return {"code": -32000, "message": f"unexpected call {selector.hex()}"}


def signed_with(submission: executor_pb2.TaskSubmission, result: executor_pb2.TaskResult) -> bytes | None:
    """The separator (OLD or NEW) under which the result signature recovers to the executor's key."""
    message_hash = result_message_hash(submission.task_id, result.output)
    for separator in (OLD, NEW):
        digest = ecdsa_certificate_digest(separator, submission.reference_timestamp, message_hash)
        if recover_address(digest, result.result_signature).lower() == EXECUTOR.address.lower():
            return separator
    return None


async def submit(stub, submission: executor_pb2.TaskSubmission) -> executor_pb2.TaskResult | grpc.StatusCode:
    try:
        return await stub.SubmitTask(submission, timeout=20)
    except grpc.aio.AioRpcError as error:
        return error.code()


async def with_executor(scenario):
    async with fake_rpc(answer) as node:
        chain = RpcChainReader(node.url, CONTRACTS, timeout=3.0, retries=0)
        aggregator = TestAggregator(static_chain())
        config = executor_config()
        try:
            async with running_executor(config, LocalBackend(), chain=chain) as executor:  # type: ignore[arg-type]
                channel, stub = task_stub(executor)
                async with channel:
                    return await scenario(stub, aggregator)
        finally:
            await chain.close()


def unsigned(aggregator: TestAggregator, block: int) -> executor_pb2.TaskSubmission:
    forged = aggregator.submission(PAYLOAD, task_block_number=block)
    forged.signature = b"\x00" * 65
    return forged


def test_an_unsigned_request_at_a_block_beyond_the_head_does_not_fail_later_tasks():
    async def scenario(stub, aggregator):
        refused = await submit(stub, unsigned(aggregator, 2**62))
        tasks = [aggregator.submission(PAYLOAD, task_block_number=1234 + i) for i in range(2)]
        return refused, [(task, await submit(stub, task)) for task in tasks]

    refused, answered = asyncio.run(with_executor(scenario))
    assert refused == grpc.StatusCode.UNAVAILABLE  # its own reads fail: the node has no such block
    for task, result in answered:
        assert isinstance(result, executor_pb2.TaskResult), f"block {task.task_block_number}: {result}"
        assert signed_with(task, result) == NEW


def test_each_task_is_signed_with_the_separator_of_its_own_block():
    async def scenario(stub, aggregator):
        answered = []
        # Newer blocks and the latest one read first, by unsigned requests and by signed tasks.
        for block in (1500, 0):
            assert await submit(stub, unsigned(aggregator, block)) == grpc.StatusCode.UNAUTHENTICATED
        for block in (1500, 500, 0, 999, 1000):
            task = aggregator.submission(PAYLOAD, task_block_number=block)
            answered.append((block, await submit(stub, task), task))
        return answered

    for block, result, task in asyncio.run(with_executor(scenario)):
        assert isinstance(result, executor_pb2.TaskResult), f"task at block {block}: {result}"
        assert signed_with(task, result) == separator_at(block), f"task at block {block}"
