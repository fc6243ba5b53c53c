"""The test aggregator set up from a devnet manifest (docs/devnet.md; or any JSON file of that shape for
another chain): the RPC URL and contract addresses, and one account's identity — its operator
address, its ECDSA and BN254 signing keys, and the private key it sends transactions with.
TEST KEYS ONLY: the devnet manifest's keys are public.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hourglass_executor.signing import BN254, ECDSA, Bn254Signer, EcdsaSigner, Signer

from hack.aggregator.aggregator import Aggregator
from hack.aggregator.chain import CONTRACT_BINDINGS, ChainView


def chain_view(manifest: Mapping[str, Any], rpc_url: str | None = None) -> ChainView:
    contracts = manifest["contracts"]
    return ChainView(rpc_url or manifest["rpcUrl"], {key: contracts[key] for key in CONTRACT_BINDINGS})


def signers_of(account: Mapping[str, Any]) -> dict[str, Signer]:
    """The account's signing keys by curve (`ecdsaKey`: hex; `bn254Key`: hex of the 32-byte scalar)."""
    signers: dict[str, Signer] = {}
    if account.get("ecdsaKey"):
        signers[ECDSA] = EcdsaSigner(account["ecdsaKey"])
    if account.get("bn254Key"):
        signers[BN254] = Bn254Signer(bytes.fromhex(account["bn254Key"].removeprefix("0x")))
    return signers


def aggregator_from_manifest(
    manifest: Mapping[str, Any], account: str = "aggregator", *, chain: ChainView | None = None
) -> Aggregator:
    """An Aggregator acting as the manifest's `account` (default the aggregator operator; "stranger" is
    an account that is no member of any aggregator set)."""
    identity = manifest["accounts"][account]
    return Aggregator(
        chain or chain_view(manifest),
        address=identity["address"],
        signers=signers_of(identity),
        transaction_key=identity.get("privateKey"),
    )
