"""The ECDSA certificate digest the JSON-RPC reader gives for a task's block is the verifier's at
that block, from the first call (its one-time cross-check with the contract) on, and a read at an
older block (another request's checks, which may come from anyone) never changes the digest
signed for the latest block. The fake node's verifier was upgraded at block 1000
(tests/unit/executor/test_rpc_signing_block.py)."""

from __future__ import annotations

import asyncio

from hourglass_executor.chain import ECDSA
from hourglass_executor.chain.rpc import RpcChainReader
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.layouts import ecdsa_certificate_digest

from tests.support.fake_rpc import CONTRACTS, fake_rpc
from tests.unit.executor.test_rpc_signing_block import NEW, OLD, UPGRADE_BLOCK, answer

TIMESTAMP = 1_700_000_000
MESSAGE_HASH = keccak256(b"a task's result")
BEFORE_UPGRADE = UPGRADE_BLOCK - 500


def digests(blocks: tuple[int, ...]) -> list[bytes]:
    """The ECDSA certificate digests one reader gives for `blocks`, asked in that order."""

    async def scenario() -> list[bytes]:
        async with fake_rpc(answer) as node:
            chain = RpcChainReader(node.url, CONTRACTS, timeout=3.0, retries=0)
            try:
                return [
                    await chain.certificate_digest(ECDSA, TIMESTAMP, MESSAGE_HASH, block) for block in blocks
                ]
            finally:
                await chain.close()

    return asyncio.run(scenario())


def signed_under(separator: bytes) -> bytes:
    return ecdsa_certificate_digest(separator, TIMESTAMP, MESSAGE_HASH)


def test_the_first_digest_asked_for_an_old_block_is_the_verifiers_at_that_block():
    assert digests((BEFORE_UPGRADE, BEFORE_UPGRADE)) == [signed_under(OLD), signed_under(OLD)]


def test_a_read_at_an_old_block_does_not_change_the_digest_of_the_latest_block():
    assert digests((0, BEFORE_UPGRADE, 0)) == [signed_under(NEW), signed_under(OLD), signed_under(NEW)]
