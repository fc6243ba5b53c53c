"""The chain reads an executor makes per task, behind one async interface (`ChainReader`).

They mirror the Go executor call by call (upstream contract §5), every operator-set read at the
task's block (`task_block_number`; 0 means the latest block):

- `avs_config`: `AllocationManager.getAVSRegistrar(avs)` → `registrar.getAvsConfig()`: which
  operator set is the aggregator's;
- `operator_set_member`: `registrar.getOperatorSocket(operator)`,
  `KeyRegistrar.getOperatorSetCurveType(opSet)` and the operator's key in the set
  (`getECDSAAddress` / `getBN254Key`): the executor's membership check, the aggregator's key, and
  the curve that signs the result;
- `message_hash`: `TaskMailbox.getMessageHash(taskHash, result)`;
- `certificate_digest`: the 32 bytes the executor's key signs for a certificate (BN254:
  `calculateCertificateDigest`; ECDSA: keccak256 of `calculateCertificateDigestBytes`, the EIP-712
  digest under the verifier's own `domainSeparator()`).

Implementations: `rpc.RpcChainReader` (JSON-RPC, `chain.type: rpc`, the default) and
`static.StaticChainReader` (a YAML file with the same data, for tests and local setups).

Errors: `ChainReaderError` is a read that cannot be answered now (transport, timeout, a revert or
an undecodable answer): the task gets UNAVAILABLE. Its subclasses are answers about the chain's
content: `UnknownOperatorSetError` (the set has no curve type, or the AVS has no registrar) and
`OperatorNotRegisteredError` (the operator has no key in the set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hourglass_executor.signing.signer import BN254, CURVE_TYPES, ECDSA, CurveType

__all__ = [
    "BN254",
    "CURVE_TYPES",
    "ECDSA",
    "AvsConfig",
    "ChainConfigError",
    "ChainReader",
    "ChainReaderError",
    "CurveType",
    "OperatorNotRegisteredError",
    "OperatorSetMember",
    "StaticChainReader",
    "UnknownOperatorSetError",
]


class ChainReaderError(Exception):
    """A chain read that cannot be answered (transport, timeout, revert, undecodable answer)."""


class UnknownOperatorSetError(ChainReaderError, LookupError):
    """The operator set has no curve type (it does not exist), or the AVS has no registrar."""


class OperatorNotRegisteredError(ChainReaderError, LookupError):
    """The operator has no key registered in the operator set."""


@dataclass(frozen=True)
class AvsConfig:
    aggregator_operator_set_id: int
    executor_operator_set_ids: tuple[int, ...]


@dataclass(frozen=True)
class OperatorSetMember:
    """An operator's registration in an operator set."""

    operator: str  # lower-case address
    curve_type: CurveType
    socket: str  # registrar.getOperatorSocket (may be "")
    ecdsa_address: str | None  # ECDSA: KeyRegistrar.getECDSAAddress (lower-case)
    bn254_g1: bytes | None  # BN254: KeyRegistrar.getBN254Key as gnark Marshal bytes (64)
    bn254_g2: bytes | None  # (128)


@runtime_checkable
class ChainReader(Protocol):
    """What an executor reads from the chain for a task (async). Block 0 means the latest block."""

    async def avs_config(self, avs: str, block: int) -> AvsConfig:
        """The AVS registrar's config; UnknownOperatorSetError when the AVS has no registrar."""
        ...

    async def operator_set_member(
        self, avs: str, operator_set_id: int, operator: str, block: int
    ) -> OperatorSetMember:
        """`operator`'s registration in the set; UnknownOperatorSetError (no curve type),
        OperatorNotRegisteredError (no key)."""
        ...

    async def message_hash(self, task_id: str, output: bytes) -> bytes:
        """TaskMailbox.getMessageHash(taskId, output): keccak256(abi.encode(bytes32, bytes))."""
        ...

    async def certificate_digest(
        self, curve: CurveType, reference_timestamp: int, message_hash: bytes, block: int = 0
    ) -> bytes:
        """The 32-byte digest the executor's key signs for a certificate over `message_hash`, as the
        verifier defines it at `block` (the task's block; 0: the latest)."""
        ...

    async def close(self) -> None: ...


from hourglass_executor.chain.static import ChainConfigError, StaticChainReader  # noqa: E402
