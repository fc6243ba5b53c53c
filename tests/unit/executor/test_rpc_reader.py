"""The JSON-RPC chain reader's transport and error paths against a tiny local JSON-RPC server
(tests/support/fake_rpc.py): batching, the block-keyed cache, retries on transport errors only, the
time limit, errors that name the contract and call but never the URL, and the reader's answers for
curve types, missing keys and registrars. Its real reads are tested against Anvil
(tests/chain/test_rpc_chain_reader.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from hourglass_executor.chain import (
    ChainReaderError,
    OperatorNotRegisteredError,
    UnknownOperatorSetError,
)
from hourglass_executor.chain.contracts import function
from hourglass_executor.chain.jsonrpc import JsonRpcClient, RpcError
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
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.layouts import ecdsa_certificate_digest, result_message_hash
from web3 import AsyncWeb3

from tests.support.fake_rpc import CONTRACTS, INVALID_CURVE_TYPE, ecdsa_digest_bytes, fake_rpc, word

pytestmark = pytest.mark.unit

CODEC = AsyncWeb3().codec
AVS = "0x" + "ab" * 20
REGISTRAR = "0x" + "e1" * 20
OPERATOR = "0x" + "0e" * 20
KEY = "0x" + "4b" * 20
TASK_ID = "0x" + "0f" * 32
SEPARATOR = bytes.fromhex("5e" * 32)


def encode(fn, *values) -> str:
    return "0x" + CODEC.encode(list(fn.output_types), list(values)).hex()


class Chain:
    """What the fake node answers: an AVS with a registrar, one ECDSA operator set (id 1)."""

    def __init__(self) -> None:
        self.registrar = REGISTRAR
        self.curve = 1
        self.ecdsa_key = KEY
        self.message_hash_offset = 0  # != 0: the TaskMailbox disagrees with the local computation
        self.separator = SEPARATOR  # the ECDSA verifier's domainSeparator() (its proxy can be upgraded)

    def __call__(self, to: str, data: bytes, tag: str):
        selector = data[:4]
        if selector == GET_AVS_REGISTRAR.selector:
            return encode(GET_AVS_REGISTRAR, self.registrar)
        if selector == GET_AVS_CONFIG.selector:
            return "0x" if to == AVS else encode(GET_AVS_CONFIG, (0, [1, 2]))
        if selector == GET_OPERATOR_SOCKET.selector:
            return "0x" if to == AVS else encode(GET_OPERATOR_SOCKET, "executor:9090")
        if selector == GET_CURVE_TYPE.selector:
            return word(self.curve)
        if selector == GET_ECDSA_ADDRESS.selector:
            return encode(GET_ECDSA_ADDRESS, self.ecdsa_key) if self.curve == 1 else INVALID_CURVE_TYPE
        if selector == GET_BN254_KEY.selector:
            return encode(GET_BN254_KEY, (0, 0), ([0, 0], [0, 0])) if self.curve == 2 else INVALID_CURVE_TYPE
        if selector == GET_MESSAGE_HASH.selector:
            task, output = CODEC.decode(["bytes32", "bytes"], data[4:])
            digest = keccak256(CODEC.encode(["bytes32", "bytes"], [task, output]))
            return word((int.from_bytes(digest, "big") + self.message_hash_offset) % 2**256)
        if selector == DOMAIN_SEPARATOR.selector:
            return word(self.separator)
        if selector == ECDSA_DIGEST_BYTES.selector:
            ts, message_hash = CODEC.decode(["uint32", "bytes32"], data[4:])
            return encode(ECDSA_DIGEST_BYTES, ecdsa_digest_bytes(self.separator, ts, message_hash))
        return {"code": -32000, "message": f"unexpected call {selector.hex()}"}


def reader(url: str, **settings) -> RpcChainReader:
    return RpcChainReader(url, CONTRACTS, **{"timeout": 2.0, "retries": 2, **settings})


def run(scenario):
    return asyncio.run(scenario())


# --- the transport -----------------------------------------------------------------------------


def test_calls_made_together_go_out_as_one_batch_and_each_gets_its_answer():
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(data[4:])) as node:
            client = JsonRpcClient(node.url, timeout=2, retries=0, cache_size=10)
            answers = await asyncio.gather(
                *(client.eth_call(AVS, b"\0\0\0\0" + bytes([i]), 0) for i in range(5))
            )
            await client.close()
            return answers, node.http_requests, client.stats

    answers, requests, stats = run(scenario)
    assert [int.from_bytes(a, "big") for a in answers] == [0, 1, 2, 3, 4]
    assert len(requests) == 1 and len(requests[0]) == 5
    assert [call["params"][1] for call in requests[0]] == ["latest"] * 5
    assert (stats.http_requests, stats.calls) == (1, 5)


def test_reads_at_a_block_are_cached_and_reads_at_latest_are_not():
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(1)) as node:
            client = JsonRpcClient(node.url, timeout=2, retries=0, cache_size=2)
            for _ in range(3):
                await client.eth_call(AVS, b"call", 7)
            await asyncio.gather(client.eth_call(AVS, b"same", 8), client.eth_call(AVS, b"same", 8))
            await client.eth_call(AVS, b"call", 0)
            await client.eth_call(AVS, b"call", 0)
            await client.eth_call(AVS, b"other", 9)  # evicts the oldest (block 7)
            await client.eth_call(AVS, b"call", 7)
            await client.close()
            return [(c["params"][0]["data"], c["params"][1]) for c in node.calls], client.stats

    calls, stats = run(scenario)
    assert calls == [
        ("0x" + b"call".hex(), "0x7"),
        ("0x" + b"same".hex(), "0x8"),  # two identical reads in flight share one call
        ("0x" + b"call".hex(), "latest"),
        ("0x" + b"call".hex(), "latest"),
        ("0x" + b"other".hex(), "0x9"),
        ("0x" + b"call".hex(), "0x7"),
    ]
    assert stats.cache_hits == 2


def test_an_empty_answer_at_a_block_is_not_cached():
    """Some nodes answer "0x" (not an error) for a block beyond their head: it is asked again."""
    answers = ["0x", word(1)]

    async def scenario():
        async with fake_rpc(lambda to, data, tag: answers.pop(0) if len(answers) > 1 else answers[0]) as node:
            client = JsonRpcClient(node.url, timeout=2, retries=0, cache_size=10)
            results = [await client.eth_call(AVS, b"call", 7) for _ in range(3)]
            await client.close()
            return results, len(node.calls)

    results, calls = run(scenario)
    assert [int.from_bytes(r, "big") if r else r for r in results] == [b"", 1, 1]
    assert calls == 2, "the empty answer must be read again, the value then kept"


@pytest.mark.parametrize("status", [503, 502, 429])
def test_transient_http_errors_are_retried_with_back_off(status):
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(5)) as node:
            node.fail_next = [status, status]
            client = JsonRpcClient(node.url, timeout=5, retries=2, cache_size=10)
            started = time.monotonic()
            answer = await client.eth_call(AVS, b"x", 3)
            took = time.monotonic() - started
            await client.close()
            return answer, len(node.http_requests), took

    answer, requests, took = run(scenario)
    assert int.from_bytes(answer, "big") == 5
    assert requests == 3
    assert took >= 0.05 + 0.1  # back-off 0.05 s, then 0.1 s


def test_retries_are_bounded_and_the_error_names_the_status_not_the_url():
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(5)) as node:
            node.fail_next = [503] * 10
            client = JsonRpcClient(node.url, timeout=5, retries=1, cache_size=10)
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 3)
            await client.close()
            return failed.value, len(node.http_requests)

    error, requests = run(scenario)
    assert requests == 2
    assert str(error) == "HTTP 503 (2 attempts)" and error.transient


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda node: node.fail_next.append(401), "HTTP 401"),
        (lambda node: setattr(node, "raw_body", b"<html>proxy error</html>"), "undecodable JSON-RPC answer"),
    ],
)
def test_client_errors_and_undecodable_answers_are_not_retried(setup, message):
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(5)) as node:
            setup(node)
            client = JsonRpcClient(node.url, timeout=5, retries=3, cache_size=10)
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 3)
            await client.close()
            return failed.value, len(node.http_requests)

    error, requests = run(scenario)
    assert requests == 1
    assert message in str(error) and not error.transient


def test_a_revert_is_not_retried_and_is_named_by_the_contracts_errors():
    async def scenario():
        chain = Chain()
        chain.curve = 2  # getECDSAAddress reverts with InvalidCurveType
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            with pytest.raises(ChainReaderError) as failed:
                await rpc._call(CONTRACTS["keyRegistrar"], GET_ECDSA_ADDRESS, ((AVS, 1), OPERATOR), 5)
            await rpc.close()
            return failed.value, len(node.http_requests)

    error, requests = run(scenario)
    assert requests == 1
    assert str(error) == (
        f"KeyRegistrar.getECDSAAddress at {CONTRACTS['keyRegistrar']}, block 5 reverted: InvalidCurveType()"
    )


def test_a_node_that_refuses_batches_gets_single_requests():
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(data[4:])) as node:
            node.refuse_batches = True
            client = JsonRpcClient(node.url, timeout=2, retries=0, cache_size=10)
            first = await asyncio.gather(
                *(client.eth_call(AVS, b"\0\0\0\0" + bytes([i]), 0) for i in range(3))
            )
            second = await asyncio.gather(
                *(client.eth_call(AVS, b"\0\0\0\0" + bytes([i]), 0) for i in range(2))
            )
            await client.close()
            return first + second, [isinstance(body, list) for body in node.http_requests]

    answers, batched = run(scenario)
    assert [int.from_bytes(a, "big") for a in answers] == [0, 1, 2, 0, 1]
    assert batched == [True, False, False, False, False, False]


def test_a_hanging_node_fails_within_the_timeout():
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(1)) as node:
            node.delay = 5
            client = JsonRpcClient(node.url, timeout=0.5, retries=3, cache_size=10)
            started = time.monotonic()
            with pytest.raises(RpcError) as failed:
                await client.eth_call(AVS, b"x", 3)
            took = time.monotonic() - started
            await client.close()
            return failed.value, took

    error, took = run(scenario)
    assert 0.45 <= took < 1.5  # one timeout, not one per retry (4 x 0.5 s and back-offs: over 2 s)
    assert str(error).startswith("no answer within 0.5 s") and error.transient


def test_a_node_that_is_down_fails_fast_without_showing_the_url(caplog):
    async def scenario():
        async with fake_rpc(lambda to, data, tag: word(1)) as node:
            url = node.url
        rpc = reader(url, timeout=3.0, retries=2)  # nothing listens there any more
        started = time.monotonic()
        with pytest.raises(ChainReaderError) as failed:
            await rpc.avs_config(AVS, 12)
        took = time.monotonic() - started
        await rpc.close()
        return failed.value, took

    with caplog.at_level(logging.DEBUG):
        error, took = run(scenario)
    assert took < 1.0  # refused at once; back-off 0.05 + 0.1 s
    assert str(error) == (
        f"AllocationManager.getAVSRegistrar at {CONTRACTS['allocationManager']}, block 12: cannot connect "
        "to the RPC endpoint (connection refused or unreachable) (3 attempts)"
    )
    assert "SECRET-API-KEY" not in caplog.text and "127.0.0.1" not in caplog.text


def test_debug_logging_never_shows_the_url(caplog):
    async def scenario():
        async with fake_rpc(Chain()) as node:
            rpc = reader(node.url)
            await rpc.avs_config(AVS, 3)
            await rpc.close()

    with caplog.at_level(logging.DEBUG):
        run(scenario)
    assert "SECRET-API-KEY" not in caplog.text


# --- the reader's answers ----------------------------------------------------------------------


def test_operator_set_member_reads_socket_curve_and_key_in_two_round_trips():
    async def scenario():
        async with fake_rpc(Chain()) as node:
            rpc = reader(node.url)
            member = await rpc.operator_set_member(AVS, 1, OPERATOR, 12)
            again = await rpc.operator_set_member(AVS, 1, OPERATOR, 12)
            await rpc.close()
            return member, again, node.http_requests

    member, again, requests = run(scenario)
    assert (member.operator, member.curve_type, member.socket, member.ecdsa_address) == (
        OPERATOR,
        "ECDSA",
        "executor:9090",
        KEY,
    )
    assert again == member
    assert [len(body) if isinstance(body, list) else 1 for body in requests] == [4, 1]  # cached afterwards


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda c: setattr(c, "curve", 0), UnknownOperatorSetError, "has no curve type"),
        (lambda c: setattr(c, "registrar", "0x" + "00" * 20), UnknownOperatorSetError, "has no registrar"),
        (lambda c: setattr(c, "registrar", AVS), UnknownOperatorSetError, "has no task registrar"),
        (lambda c: setattr(c, "ecdsa_key", "0x" + "00" * 20), OperatorNotRegisteredError, "has no ECDSA key"),
        (lambda c: setattr(c, "curve", 2), OperatorNotRegisteredError, "has no BN254 key"),
        (lambda c: setattr(c, "curve", 7), ChainReaderError, "unknown curve type 7"),
    ],
)
def test_operator_set_member_answers(change, error, message):
    chain = Chain()
    change(chain)

    async def scenario():
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            with pytest.raises(error) as failed:
                await rpc.operator_set_member(AVS, 1, OPERATOR, 12)
            await rpc.close()
            return failed.value

    assert message in str(run(scenario))


def test_an_avs_without_a_task_registrar_is_an_unknown_operator_set():
    chain = Chain()
    chain.registrar = AVS  # getAVSRegistrar falls back to the AVS itself, which has no code here

    async def scenario():
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            with pytest.raises(UnknownOperatorSetError, match="has no task registrar"):
                await rpc.avs_config(AVS, 3)
            await rpc.close()

    run(scenario)


def lagging(chain: Chain, head: dict[str, int], selector: bytes | None = None) -> Callable:
    """`chain` on a node at block `head["block"]` that answers "0x" (not an error) for a later block, as
    Erigon and some load-balanced providers do; only for calls of `selector` if given."""

    def answer(to: str, data: bytes, tag: str):
        ahead = tag != "latest" and int(tag, 16) > head["block"]
        if ahead and selector in (None, data[:4]):
            return "0x"
        return chain(to, data, tag)

    return answer


@pytest.mark.parametrize("selector", [None, GET_OPERATOR_SOCKET.selector], ids=["every call", "socket"])
def test_a_node_behind_the_tasks_block_is_asked_again_once_it_caught_up(selector):
    head = {"block": 99}  # the aggregator sent a task of block 100 before this node had it

    async def scenario():
        async with fake_rpc(lagging(Chain(), head, selector)) as node:
            rpc = reader(node.url, retries=0)
            with pytest.raises(ChainReaderError):
                await rpc.operator_set_member(AVS, 1, OPERATOR, 100)
            head["block"] = 100
            member = await rpc.operator_set_member(AVS, 1, OPERATOR, 100)
            sent = len(node.calls)
            again = await rpc.operator_set_member(AVS, 1, OPERATOR, 100)
            await rpc.close()
            return member, again, len(node.calls) - sent

    member, again, calls = run(scenario)
    assert member.ecdsa_address == KEY and again == member
    assert calls == 0, "the answer found once the node caught up is kept"


ZERO = "0x" + "00" * 20


@pytest.mark.parametrize(
    ("fork_a", "error"),
    [
        (lambda c: setattr(c, "ecdsa_key", ZERO), OperatorNotRegisteredError),
        (lambda c: setattr(c, "curve", 0), UnknownOperatorSetError),
        (lambda c: setattr(c, "registrar", ZERO), UnknownOperatorSetError),
        (lambda c: setattr(c, "curve", 2), OperatorNotRegisteredError),  # getECDSAAddress reverted
    ],
    ids=["no key", "no curve type", "no registrar", "other curve"],
)
def test_a_negative_answer_at_a_block_is_read_again(fork_a, error):
    """A block at the chain's head can be reorganised away: an answer that says "absent" is not kept,
    so a retry at the same block sees the fork that has the registration."""
    chain = Chain()
    fork_a(chain)

    async def scenario():
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            with pytest.raises(error):
                await rpc.operator_set_member(AVS, 1, OPERATOR, 1000)
            fork_a_calls = len(node.calls)
            chain.__init__()  # fork B: block 1000 has the registration
            member = await rpc.operator_set_member(AVS, 1, OPERATOR, 1000)
            sent = len(node.calls)
            await rpc.operator_set_member(AVS, 1, OPERATOR, 1000)
            await rpc.close()
            return member, sent - fork_a_calls, len(node.calls) - sent

    member, reread, afterwards = run(scenario)
    assert member.ecdsa_address == KEY, f"the negative answer was kept: {member}"
    assert reread >= 1 and afterwards == 0


def test_an_avs_without_a_registrar_at_a_block_is_read_again():
    chain = Chain()
    chain.registrar = ZERO

    async def scenario():
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            with pytest.raises(UnknownOperatorSetError, match="has no registrar"):
                await rpc.avs_config(AVS, 1000)
            chain.registrar = REGISTRAR  # the other fork
            config = await rpc.avs_config(AVS, 1000)
            await rpc.close()
            return config

    assert run(scenario).executor_operator_set_ids == (1, 2)


def test_the_pure_functions_are_cross_checked_once_then_computed_locally():
    async def scenario():
        async with fake_rpc(Chain()) as node:
            rpc = reader(node.url)
            message_hash = await rpc.message_hash(TASK_ID, b"16")
            digest = await rpc.certificate_digest("ECDSA", 77, message_hash)
            first = len(node.calls)
            for output in (b"17", b"18"):
                message_hash = await rpc.message_hash(TASK_ID, output)
                await rpc.certificate_digest("ECDSA", 78, message_hash)
            await rpc.close()
            return digest, first, len(node.calls)

    digest, first, total = run(scenario)
    message_hash = result_message_hash(TASK_ID, b"16")
    assert digest == ecdsa_certificate_digest(SEPARATOR, 77, message_hash)
    assert first == 3  # getMessageHash, then domainSeparator + calculateCertificateDigestBytes
    assert total == first  # afterwards: no round trip


def test_the_domain_separator_follows_a_verifier_upgrade_from_the_next_task_block():
    """The ECDSA verifier is an upgradeable proxy whose domain has its major version in it: a task is
    signed with its `domainSeparator()` at the task's block, read with the task's checks (in their
    first batch, so no more round trips). tests/unit/executor/test_rpc_signing_block.py has the
    whole executor's view of it."""
    chain = Chain()
    upgraded = bytes.fromhex("77" * 32)

    async def task(rpc: RpcChainReader, node, block: int) -> tuple[bytes, int, int]:
        sent = len(node.http_requests)
        await rpc.operator_set_member(AVS, 1, OPERATOR, block)
        checks = len(node.http_requests) - sent
        message_hash = await rpc.message_hash(TASK_ID, b"out")
        digest = await rpc.certificate_digest("ECDSA", 7, message_hash, block)
        return digest, checks, len(node.http_requests) - sent - checks

    async def scenario():
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            first = await task(rpc, node, 100)  # with the one-time cross-checks
            chain.separator = upgraded
            same_block = await task(rpc, node, 100)
            next_block = await task(rpc, node, 101)
            await rpc.close()
            return first, same_block, next_block, rpc._local_ok

    first, same_block, next_block, verdicts = run(scenario)
    message_hash = result_message_hash(TASK_ID, b"out")
    assert first[0] == ecdsa_certificate_digest(SEPARATOR, 7, message_hash)
    assert same_block == (first[0], 0, 0)  # block 100 was read: its answer, no round trip
    assert next_block[0] == ecdsa_certificate_digest(upgraded, 7, message_hash), (
        "signed under the verifier's old domain after its upgrade"
    )
    assert next_block[1:] == (2, 0)  # the checks' two round trips, none to sign
    assert set(verdicts.values()) == {True}


def test_a_pure_function_that_differs_from_the_contract_is_called_on_chain_from_then_on(caplog):
    chain = Chain()
    chain.message_hash_offset = 1

    async def scenario():
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            answers = [await rpc.message_hash(TASK_ID, output) for output in (b"a", b"b")]
            await rpc.close()
            return answers, len(node.calls)

    with caplog.at_level(logging.WARNING):
        answers, calls = run(scenario)
    for answer, output in zip(answers, (b"a", b"b"), strict=True):
        local = int.from_bytes(result_message_hash(TASK_ID, output), "big")
        assert int.from_bytes(answer, "big") == (local + 1) % 2**256  # the contract's value
    assert calls == 2
    assert "differs from the contract" in caplog.text


def test_an_unreachable_node_during_the_cross_check_is_tried_again_next_time():
    async def scenario():
        async with fake_rpc(Chain()) as node:
            rpc = reader(node.url, retries=0)
            node.fail_next = [503]
            with pytest.raises(ChainReaderError, match="HTTP 503"):
                await rpc.message_hash(TASK_ID, b"x")
            value = await rpc.message_hash(TASK_ID, b"x")
            await rpc.close()
            return value, rpc._local_ok

    value, verdicts = run(scenario)
    assert value == result_message_hash(TASK_ID, b"x")
    assert verdicts == {"TaskMailbox.getMessageHash": True}


def test_function_lookup_names_the_abi_file():
    with pytest.raises(LookupError, match=r"abi/KeyRegistrar\.json has no function nope"):
        function("KeyRegistrar", "nope")
