"""The devnet's accounts and signing keys. TEST KEYS ONLY: every one of them is public.

ECDSA keys are derived from Anvil's default mnemonic (its first ten accounts are the funded, unlocked
dev accounts); BN254 keys are fixed scalars derived from a label. The KeyRegistrar accepts a key only
once across all operator sets, so an operator that signs in two ECDSA sets has one signing key per set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from eth_account import Account
from eth_utils import keccak

MNEMONIC = "test test test test test test test test test test test junk"
BN254_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617

# Funded dev accounts (Anvil's first ten) by role.
DEPLOYER, AVS_1, AVS_2, AGGREGATOR, EXECUTOR, STRANGER, TASK_CREATOR = range(7)
# Unfunded mnemonic keys used only to sign (their addresses are what the KeyRegistrar stores).
AGGREGATOR_ECDSA, EXECUTOR_ECDSA_AVS_1, EXECUTOR_ECDSA_AVS_2, STRANGER_ECDSA = 10, 11, 12, 13


@dataclass(frozen=True)
class EcdsaKey:
    private_key: bytes
    address: str  # checksummed

    @property
    def private_key_hex(self) -> str:
        return "0x" + self.private_key.hex()


@functools.cache
def mnemonic_key(index: int) -> EcdsaKey:
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return EcdsaKey(bytes(account.key), account.address)


def bn254_key(label: str) -> bytes:
    """A fixed BN254 private key (32-byte big-endian scalar) for `label`: generator, aggregator, …"""
    scalar = int.from_bytes(keccak(f"hourglass-devnet/bn254/{label}".encode())) % BN254_ORDER
    return scalar.to_bytes(32, "big")
