"""Default addresses of the EigenLayer contracts the JSON-RPC chain reader calls, per chain id.

The same as the Go executor's defaults (ponos `pkg/config`, `CoreContracts`), checked against the
eigenlayer-contracts deployment table (its README) where it lists them:

- 1 (mainnet), 11155111 (sepolia): all five.
- 8453 (base), 84532 (base-sepolia): the TaskMailbox and the certificate verifiers only; these are
  L2s, the AllocationManager and the KeyRegistrar live on their L1.
- 31337 (anvil): what the Go executor uses for a local Anvil, the Sepolia addresses (an Anvil
  forking Sepolia). A chain deployed from scratch (hack/devnet) has other addresses: give them in
  `chain.contracts` (the devnet's manifest lists them).

Explicit `chain.contracts` entries override these; a contract that is neither given nor defaulted
is a configuration error naming `chain.contracts.<name>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

CONTRACT_KEYS: Final = (
    "allocationManager",
    "keyRegistrar",
    "taskMailbox",
    "bn254CertificateVerifier",
    "ecdsaCertificateVerifier",
)

NETWORK_NAMES: Final[Mapping[int, str]] = {
    1: "mainnet",
    11155111: "sepolia",
    8453: "base",
    84532: "base-sepolia",
    31337: "anvil",
}

_MAINNET: Final = {
    "allocationManager": "0x948a420b8CC1d6BFd0B6087C2E7c344a2CD0bc39",
    "keyRegistrar": "0x54f4bC6bDEbe479173a2bbDc31dD7178408A57A4",
    "taskMailbox": "0x132b466d9d5723531F68797519DfED701aC2C749",
    "bn254CertificateVerifier": "0x3F55654b2b2b86bB11bE2f72657f9C33bf88120A",
    "ecdsaCertificateVerifier": "0xd0930ee96D07de4F9d493c259232222e46B6EC25",
}
_SEPOLIA: Final = {
    "allocationManager": "0x42583067658071247ec8CE0A516A58f682002d07",
    "keyRegistrar": "0xA4dB30D08d8bbcA00D40600bee9F029984dB162a",
    "taskMailbox": "0xB99CC53e8db7018f557606C2a5B066527bF96b26",
    "bn254CertificateVerifier": "0xff58A373c18268F483C1F5cA03Cf885c0C43373a",
    "ecdsaCertificateVerifier": "0xb3Cd1A457dEa9A9A6F6406c6419B1c326670A96F",
}
_L2_KEYS: Final = ("taskMailbox", "bn254CertificateVerifier", "ecdsaCertificateVerifier")

DEFAULT_CONTRACTS: Final[Mapping[int, Mapping[str, str]]] = {
    1: _MAINNET,
    11155111: _SEPOLIA,
    8453: {key: _MAINNET[key] for key in _L2_KEYS},
    84532: {key: _SEPOLIA[key] for key in _L2_KEYS},
    31337: _SEPOLIA,
}


def known_networks() -> str:
    """ "1 (mainnet), 11155111 (sepolia), ..." for error messages."""
    return ", ".join(f"{chain_id} ({name})" for chain_id, name in NETWORK_NAMES.items())


def resolve_contracts(chain_id: int, explicit: Mapping[str, str | None]) -> tuple[dict[str, str], list[str]]:
    """(the contract addresses in effect, lower-cased; the keys that have none)."""
    defaults = DEFAULT_CONTRACTS.get(chain_id, {})
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for key in CONTRACT_KEYS:
        address = explicit.get(key) or defaults.get(key)
        if address:
            resolved[key] = address.lower()
        else:
            missing.append(key)
    return resolved, missing
