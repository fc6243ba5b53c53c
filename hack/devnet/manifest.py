"""The devnet manifest: one JSON document with everything a test, the demo or a Go tool needs to use the
chain (RPC URL, contract addresses, AVSs with their sets, members and keys, accounts, the latest table
transport). Layout agreed in docs/devnet.md; TEST KEYS ONLY.
"""

from __future__ import annotations

import json
from pathlib import Path

from hack.devnet import deploy, keys, layout
from hack.devnet.transport import Transport

NOTE = "TEST KEYS ONLY: every private key in this file is public (Anvil's mnemonic, fixed BN254 scalars)."
# The contracts of the agreed manifest layout first, then the rest of what the devnet deployed.
CONTRACT_ORDER = (
    "allocationManager", "delegationManager", "keyRegistrar", "permissionController", "taskMailbox",
    "bn254CertificateVerifier", "ecdsaCertificateVerifier", "operatorTableUpdater", "crossChainRegistry",
    "strategyManager", "eigenPodManager", "ecdsaTableCalculator", "bn254TableCalculator", "proxyAdmin",
    "pauserRegistry",
)  # fmt: skip


def _account(index: int) -> dict[str, str]:
    key = keys.mnemonic_key(index)
    return {"address": key.address, "privateKey": key.private_key_hex}


def _ecdsa(index: int) -> dict[str, str]:
    key = keys.mnemonic_key(index)
    return {"ecdsaKey": key.private_key_hex, "ecdsaAddress": key.address}


def accounts() -> dict[str, dict]:
    avs_addresses = [keys.mnemonic_key(spec.account).address for spec in layout.AVSS]
    bn254 = {role: "0x" + keys.bn254_key(label).hex() for role, label in layout.BN254_KEY_LABELS.items()}
    generator_avs, generator_id = deploy.generator_operator_set()
    executor_keys = {
        avs: _ecdsa(layout.ECDSA_SIGNING_KEYS[("executor", index)]) for index, avs in enumerate(avs_addresses)
    }
    return {
        "deployer": _account(keys.DEPLOYER),
        "aggregator": {
            **_account(keys.AGGREGATOR),
            **_ecdsa(keys.AGGREGATOR_ECDSA),
            "bn254Key": bn254["aggregator"],
        },
        "executor": {
            **_account(keys.EXECUTOR),
            **_ecdsa(keys.EXECUTOR_ECDSA_AVS_1),  # the AVS 1 key; each AVS's own is in ecdsaKeysByAvs
            "bn254Key": bn254["executor"],
            "ecdsaKeysByAvs": executor_keys,
        },
        "stranger": {**_account(keys.STRANGER), **_ecdsa(keys.STRANGER_ECDSA), "bn254Key": bn254["stranger"]},
        "taskCreator": _account(keys.TASK_CREATOR),
        "generator": {
            "bn254Key": "0x" + keys.bn254_key("generator").hex(),
            "operatorSet": {"avs": generator_avs, "id": generator_id},
        },
    }


def transport_entry(transport: Transport) -> dict:
    return {
        "referenceTimestamp": transport.reference_timestamp,
        "referenceBlock": transport.reference_block,
        "globalTableRoot": "0x" + transport.global_table_root.hex(),
        "operatorSets": [{"avs": avs, "id": set_id} for avs, set_id in transport.operator_sets],
    }


def deployment(contracts: deploy.CoreContracts, avss: list[dict], transport: Transport) -> dict:
    """The manifest without its rpcUrl (what the state cache keeps beside the chain state)."""
    addresses = contracts.as_dict()
    return {
        "note": NOTE,
        "chainId": deploy.CHAIN_ID,
        "contracts": {name: addresses[name] for name in CONTRACT_ORDER},
        "avss": avss,
        "accounts": accounts(),
        "transport": transport_entry(transport),
    }


def write(path: Path, manifest: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)
