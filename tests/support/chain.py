"""The local chain for tests: `devnet`, a session-scoped hack/devnet instance (Anvil with the EigenLayer
task contracts, the devnet AVSs, operators and transported operator tables; see docs/devnet.md), and
`fresh_devnet`, an instance of one test's own (for tests that stop Anvil or must not see others' tasks),
and certificates signed with the devnet's test keys as executors and an aggregator would make them.

Use them from a conftest.py: `from tests.support.chain import devnet, fresh_devnet  # noqa: F401`.
They skip, saying why, only when npm/node (Anvil and solc come from the npm registry) or Go (the
eigenlayer-contracts module comes from the Go module proxy) are missing; anything else that goes
wrong is a failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hourglass_executor.signing import bn254
from hourglass_executor.signing.ecdsa import EcdsaSigner

from hack.aggregator.chain import TaskCreated
from hack.devnet import certificates
from hack.devnet.devnet import Devnet

REQUIRED_TOOLS = {
    "npm": "Anvil and solc-js come from the npm registry",
    "node": "solc-js runs on node",
    "go": "the EigenLayer contracts come from the eigenlayer-contracts Go module",
}


def skip_without_tools() -> None:
    missing = [f"{tool} ({why})" for tool, why in REQUIRED_TOOLS.items() if shutil.which(tool) is None]
    if missing:
        pytest.skip("the devnet cannot run here: missing " + "; ".join(missing))


def start_devnet(state_dir: Path) -> Devnet:
    skip_without_tools()
    return Devnet.up(state_dir)


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    instance = start_devnet(tmp_path_factory.mktemp("devnet"))
    yield instance
    instance.stop()


@pytest.fixture
def fresh_devnet(tmp_path: Path) -> Iterator[Devnet]:
    instance = start_devnet(tmp_path / "devnet")
    yield instance
    instance.stop()


def ecdsa_certificate(devnet: Devnet, task: TaskCreated, result: bytes, *signing_keys: str) -> bytes:
    """An ECDSA certificate over `result` signed by each of `signing_keys` (hex private keys)."""
    message_hash = devnet.message_hash(task.task_hash, result)
    digest = devnet.certificate_digest("ECDSA", task.reference_timestamp, message_hash)
    signers = [EcdsaSigner(key) for key in signing_keys]
    signatures = {signer.address: signer.sign_digest(digest) for signer in signers}
    return certificates.ecdsa_certificate(task.reference_timestamp, message_hash, signatures)


def bn254_certificate(
    devnet: Devnet, task: TaskCreated, result: bytes, signing_key: bytes, apk_key: bytes | None = None
) -> bytes:
    """A BN254 certificate over `result` signed with `signing_key`, claiming `apk_key`'s G2 key
    (default: the signing key's) as the signers' aggregate key; no non-signers."""
    message_hash = devnet.message_hash(task.task_hash, result)
    digest = devnet.certificate_digest("BN254", task.reference_timestamp, message_hash)
    return certificates.bn254_certificate(
        task.reference_timestamp,
        message_hash,
        bn254.sign_solidity(signing_key, digest),
        bn254.public_key_g2(apk_key or signing_key),
    )
