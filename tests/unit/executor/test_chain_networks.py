"""Per-chain default contract addresses (chain/networks.py) and how explicit ones override them."""

from __future__ import annotations

import pytest
from hourglass_executor.chain.networks import (
    CONTRACT_KEYS,
    DEFAULT_CONTRACTS,
    NETWORK_NAMES,
    resolve_contracts,
)
from hourglass_executor.signing.address import to_checksum_address

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("chain_id", sorted(DEFAULT_CONTRACTS))
def test_every_default_is_a_checksummed_address(chain_id):
    for key, address in DEFAULT_CONTRACTS[chain_id].items():
        assert key in CONTRACT_KEYS
        assert to_checksum_address(address) == address, f"{chain_id} {key}: {address} is not EIP-55"


def test_the_known_networks_and_what_they_carry():
    assert NETWORK_NAMES == {
        1: "mainnet",
        11155111: "sepolia",
        8453: "base",
        84532: "base-sepolia",
        31337: "anvil",
    }
    for l1 in (1, 11155111, 31337):
        assert set(DEFAULT_CONTRACTS[l1]) == set(CONTRACT_KEYS)
    for l2 in (8453, 84532):  # the AllocationManager and the KeyRegistrar live on the L1
        assert set(DEFAULT_CONTRACTS[l2]) == {
            "taskMailbox",
            "bn254CertificateVerifier",
            "ecdsaCertificateVerifier",
        }
    # As the Go executor: a local Anvil (31337) gets the Sepolia deployment's addresses.
    assert DEFAULT_CONTRACTS[31337] == DEFAULT_CONTRACTS[11155111]
    assert DEFAULT_CONTRACTS[1]["taskMailbox"] == "0x132b466d9d5723531F68797519DfED701aC2C749"


def test_explicit_addresses_override_and_missing_ones_are_named():
    mailbox = "0x" + "7A" * 20
    resolved, missing = resolve_contracts(1, {"taskMailbox": mailbox, "keyRegistrar": None})
    assert missing == []
    assert resolved["taskMailbox"] == mailbox.lower()
    assert resolved["keyRegistrar"] == DEFAULT_CONTRACTS[1]["keyRegistrar"].lower()
    _, missing = resolve_contracts(8453, {})
    assert missing == ["allocationManager", "keyRegistrar"]
    _, missing = resolve_contracts(5, {"taskMailbox": mailbox})
    assert missing == [
        "allocationManager",
        "keyRegistrar",
        "bn254CertificateVerifier",
        "ecdsaCertificateVerifier",
    ]
