"""An aggregator's ECDSA signature only verifies against the registered address when all 20 bytes match."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.chain import OperatorSetMember
from hourglass_executor.signing import ECDSA, EcdsaSigner
from hourglass_executor.signing.layouts import aggregator_digest
from hourglass_executor.task_signing import WrongSignerError, verify_aggregator_signature

pytestmark = pytest.mark.unit

AGGREGATOR = EcdsaSigner("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
DIGEST = aggregator_digest(
    "0x" + "0f" * 32, "0x" + "ab" * 20, "0x" + "cd" * 20, 0, 1_700_000_000, 12_345_678, b'{"number": 4}'
)


def member(ecdsa_address: str) -> OperatorSetMember:
    return OperatorSetMember(AGGREGATOR.address_lower, ECDSA, "", ecdsa_address, None, None)


@pytest.mark.parametrize("index", [0, 10, 19])
def test_a_registered_address_differing_in_one_byte_is_another_signer(index: int) -> None:
    signature = AGGREGATOR.sign_digest(DIGEST)
    asyncio.run(verify_aggregator_signature(member(AGGREGATOR.address_lower), DIGEST, signature))
    other = bytearray.fromhex(AGGREGATOR.address_lower[2:])
    other[index] ^= 0x01
    with pytest.raises(WrongSignerError, match="not signed by the ECDSA key of aggregator"):
        asyncio.run(verify_aggregator_signature(member("0x" + other.hex()), DIGEST, signature))
