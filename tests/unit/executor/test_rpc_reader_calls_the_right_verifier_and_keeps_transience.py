"""The RPC reader asks the BN254 verifier for its digest, keeps errors transient, surfaces prefetch bugs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from eth_abi import encode
from hourglass_executor.chain.jsonrpc import RpcError
from hourglass_executor.chain.rpc import (
    BN254_DIGEST,
    DOMAIN_SEPARATOR,
    ECDSA_DIGEST_BYTES,
    GET_AVS_REGISTRAR,
    GET_CURVE_TYPE,
    GET_ECDSA_ADDRESS,
    GET_OPERATOR_SOCKET,
    RpcChainReader,
)
from hourglass_executor.signing.keccak import keccak256

from tests.support.fake_rpc import CONTRACTS, INVALID_CURVE_TYPE, ecdsa_digest_bytes, fake_rpc, word

pytestmark = pytest.mark.unit

AVS = "0x" + "ab" * 20
REGISTRAR = "0x" + "e1" * 20
OPERATOR = "0x" + "0e" * 20
KEY = "0x" + "4b" * 20
SEPARATOR = bytes.fromhex("5e" * 32)
MESSAGE_HASH = bytes.fromhex("77" * 32)
# BN254CertificateVerifier.calculateCertificateDigest: keccak256(abi.encode(TYPEHASH, ts, messageHash)).
BN254_TYPEHASH = keccak256(b"BN254Certificate(uint32 referenceTimestamp,bytes32 messageHash)")


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def reader(url: str) -> RpcChainReader:
    return RpcChainReader(url, CONTRACTS, timeout=2.0, retries=0)


def chain(to: str, data: bytes, tag: str) -> Any:
    selector = data[:4]
    if selector == BN254_DIGEST.selector:
        if to != CONTRACTS["bn254CertificateVerifier"]:
            return {"code": 3, "message": "execution reverted", "data": "0x"}
        ts, message_hash = int.from_bytes(data[4:36], "big"), data[36:68]
        return word(keccak256(encode(["bytes32", "uint32", "bytes32"], [BN254_TYPEHASH, ts, message_hash])))
    if selector == GET_AVS_REGISTRAR.selector:
        return "0x" + encode(["address"], [REGISTRAR]).hex()
    if selector == GET_OPERATOR_SOCKET.selector:
        return "0x" + encode(["string"], ["executor:9090"]).hex()
    if selector == GET_CURVE_TYPE.selector:
        return word(1)
    if selector == GET_ECDSA_ADDRESS.selector:
        return "0x" + encode(["address"], [KEY]).hex()
    if selector == DOMAIN_SEPARATOR.selector:
        return word(SEPARATOR)
    if selector == ECDSA_DIGEST_BYTES.selector:
        ts, message_hash = int.from_bytes(data[4:36], "big"), data[36:68]
        return "0x" + encode(["bytes"], [ecdsa_digest_bytes(SEPARATOR, ts, message_hash)]).hex()
    return INVALID_CURVE_TYPE


def test_the_bn254_digest_is_cross_checked_with_the_bn254_verifier() -> None:
    async def scenario() -> tuple[bytes, list[str]]:
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            digest = await rpc.certificate_digest("BN254", 1_700_000_000, MESSAGE_HASH)
            await rpc.close()
            return digest, [call["params"][0]["to"] for call in node.calls]

    digest, destinations = run(scenario)
    expected = keccak256(BN254_TYPEHASH + (1_700_000_000).to_bytes(32, "big") + MESSAGE_HASH)
    assert digest == expected
    assert destinations == [CONTRACTS["bn254CertificateVerifier"]]


def test_an_unreachable_node_gives_a_transient_error_naming_the_call() -> None:
    async def scenario() -> RpcError:
        async with fake_rpc(chain) as node:
            node.fail_next = [503] * 5
            rpc = reader(node.url)
            with pytest.raises(RpcError) as failed:
                await rpc.avs_config(AVS, 7)
            await rpc.close()
            return failed.value

    error = run(scenario)
    assert error.transient
    assert str(error).startswith(
        f"AllocationManager.getAVSRegistrar at {CONTRACTS['allocationManager']}, block 7"
    )


def test_a_bug_in_the_separator_prefetch_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(block: int) -> bytes:
        raise RuntimeError("a bug")

    async def scenario() -> None:
        async with fake_rpc(chain) as node:
            rpc = reader(node.url)
            await rpc.certificate_digest("ECDSA", 1, MESSAGE_HASH, 5)  # from now on checks prefetch it
            member = await rpc.operator_set_member(AVS, 1, OPERATOR, 6)
            assert member.ecdsa_address == KEY
            monkeypatch.setattr(rpc, "_read_separator", broken)
            try:
                with pytest.raises(RuntimeError, match="a bug"):
                    await rpc.operator_set_member(AVS, 1, OPERATOR, 7)
            finally:
                await rpc.close()

    run(scenario)
