"""Keccak Merkle trees laid out as EigenLayer's `Merkle` library reads them (`merkleizeKeccak`,
`verifyInclusionKeccak`): leaves padded with zero hashes to a power of two, parent =
keccak256(left ‖ right), a proof is the siblings bottom-up concatenated, the index picks the side.
Used for the global table root (operator-table leaves) and for BN254 operator-info proofs.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import keccak

ZERO = bytes(32)


def _padded(leaves: Sequence[bytes]) -> list[bytes]:
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    width = 1
    while width < len(leaves):
        width *= 2
    return [*leaves, *([ZERO] * (width - len(leaves)))]


def root(leaves: Sequence[bytes]) -> bytes:
    layer = _padded(leaves)
    while len(layer) > 1:
        layer = [keccak(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def proof(leaves: Sequence[bytes], index: int) -> bytes:
    layer = _padded(leaves)
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} is outside 0..{len(leaves) - 1}")
    siblings = b""
    while len(layer) > 1:
        siblings += layer[index ^ 1]
        index //= 2
        layer = [keccak(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return siblings
