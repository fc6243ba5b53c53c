"""Signers are described for logs by their ECDSA address or their BN254 G1 public key (not the G2 key)."""

from __future__ import annotations

import pytest
from hourglass_executor.signing.bn254 import Bn254Signer
from hourglass_executor.signing.ecdsa import EcdsaSigner
from hourglass_executor.signing_keys import describe

from tests.support.golden import VECTORS

pytestmark = pytest.mark.unit


def test_signers_are_described_by_their_address_or_g1_public_key() -> None:
    # crypto-libs: the key 1 has the G1 generator (1, 2) as its G1 public key.
    [one] = [key for key in VECTORS["bn254"]["keys"] if int(key["privateKey"], 16) == 1]
    assert one["g1"] == (1).to_bytes(32, "big").hex() + (2).to_bytes(32, "big").hex()
    assert describe(Bn254Signer((1).to_bytes(32, "big"))) == "0x" + one["g1"]
    ecdsa = VECTORS["ecdsa"]["keys"][0]
    assert describe(EcdsaSigner(ecdsa["privateKey"])) == ecdsa["address"]
