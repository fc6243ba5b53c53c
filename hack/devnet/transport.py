"""Operator-table transport, the way the multichain flow does it, on one chain (source = destination).

1. At a reference block, read every active generation reservation of the CrossChainRegistry and its
   operator table bytes (`calculateOperatorTableBytes`: set, curve, config, the calculator's table).
2. Global table root = Merkle root (merkle.py) of the leaves keccak256(0x8e ‖ tableBytes)
   (`LeafCalculatorMixin.calculateOperatorTableLeaf`).
3. The generator (a one-operator BN254 set whose key only the devnet holds) signs
   `getGlobalTableUpdateSignableDigest(root, referenceTimestamp, referenceBlock)` with the
   Solidity-compatible hash-to-curve; `confirmGlobalTableRoot` verifies that certificate on chain.
4. `updateOperatorTable` per set, with its Merkle proof: the certificate verifiers then hold the
   tables at that reference timestamp, and `createTask` picks it up as the latest one.

The reference timestamp is the reference block's timestamp and must be newer than the updater's
latest one; when the latest block is not newer (two transports, or the updater's initialisation, in
the same second) the transport waits for a newer block (the devnet Anvil mines one every second;
the deploy-time Anvil mines only transactions, so there it mines an empty one once the clock is past).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_utils import keccak
from hourglass_executor.signing import bn254

from hack.devnet import keys, merkle
from hack.devnet.rpc import Rpc

OPERATOR_TABLE_LEAF_SALT = b"\x8e"


@dataclass(frozen=True)
class Transport:
    reference_timestamp: int
    reference_block: int
    global_table_root: bytes
    operator_sets: tuple[tuple[str, int], ...]  # (avs, id) in leaf order


def operator_table_leaf(table_bytes: bytes) -> bytes:
    return keccak(OPERATOR_TABLE_LEAF_SALT + table_bytes)


def transport_operator_tables(rpc: Rpc, updater: object, registry: object, transporter: str) -> Transport:
    """Confirms a new global table root and updates every reserved set's table; returns what it did."""
    block = _reference_block(rpc, rpc.call(updater.functions.getLatestReferenceTimestamp()))
    number, timestamp = block["number"], block["timestamp"]
    operator_sets = [
        (avs, set_id)
        for avs, set_id in rpc.call(registry.functions.getActiveGenerationReservations(), block=number)
    ]
    tables = [
        rpc.call(registry.functions.calculateOperatorTableBytes(operator_set), block=number)
        for operator_set in operator_sets
    ]
    leaves = [operator_table_leaf(table) for table in tables]
    root = merkle.root(leaves)

    generator_key = keys.bn254_key("generator")
    digest = rpc.call(updater.functions.getGlobalTableUpdateSignableDigest(root, timestamp, number))
    certificate = (
        rpc.call(updater.functions.GENERATOR_REFERENCE_TIMESTAMP()),
        rpc.call(updater.functions.getGlobalTableUpdateMessageHash(root, timestamp, number)),
        bn254.g1_to_solidity(bn254.sign_solidity(generator_key, digest)),
        bn254.g2_to_solidity(bn254.public_key_g2(generator_key)),
        [],
    )
    rpc.transact(transporter, updater.functions.confirmGlobalTableRoot(certificate, root, timestamp, number))
    for index, table in enumerate(tables):
        rpc.transact(
            transporter,
            updater.functions.updateOperatorTable(timestamp, root, index, merkle.proof(leaves, index), table),
            action=f"updateOperatorTable for {operator_sets[index]}",
        )
    return Transport(timestamp, number, root, tuple(operator_sets))


def _reference_block(rpc: Rpc, latest_reference_timestamp: int) -> dict:
    while True:
        block = rpc.w3.eth.get_block("latest")
        if block["timestamp"] > latest_reference_timestamp:
            return block
        # Anvil stamps blocks with the wall clock (whole seconds).
        if time.time() >= latest_reference_timestamp + 1:
            rpc.rpc("evm_mine")
        else:
            time.sleep(0.05)
