"""The chain reads an executor needs per task, behind one interface (`ChainReader`), and a static one.

`StaticChainReader` answers from a YAML file, for tests and local setups without a blockchain; a
JSON-RPC reader (operator sets from the AllocationManager/KeyRegistrar, digests from the certificate
verifiers) will implement the same protocol later. The file format (keys are camelCase; quote every
0x value, because YAML reads an unquoted 0x… as a number):

    chainId: 31337
    ecdsaCertificateVerifier:          # required when any operator set uses ECDSA
      name: EigenLayer                 # EIP-712 domain of the ECDSA certificate verifier ...
      version: "v1.0.0"
      verifyingContract: "0x…"         # (40 hex digits)
      # domainSeparator: "0x…"         # ... or its precomputed domain separator (64 hex), not both
    avss:
      - address: "0x…"                 # the AVS address; each AVS once (case-insensitive)
        operatorSets:
          - id: 0                      # uint32, unique within the AVS
            curveType: ECDSA           # ECDSA or BN254
            aggregatorAddress: "0x…"   # the key whose signature TaskSubmissions carry
            operators: ["0x…", "0x…"]  # member operator addresses (may be empty)

Unknown keys are errors. Every validation error names the YAML path, for example
`avss[0].operatorSets[1].curveType: must be ECDSA or BN254`. Addresses are kept lower-case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from .signing.address import to_lower_address
from .signing.layouts import bn254_certificate_digest, ecdsa_certificate_digest, eip712_domain_separator
from .signing.signer import BN254, CURVE_TYPES, ECDSA, CurveType


class ChainReaderError(Exception):
    """A chain read that cannot be answered."""


class UnknownOperatorSetError(ChainReaderError, LookupError):
    """The AVS has no such operator set (or the AVS is unknown)."""


@dataclass(frozen=True)
class OperatorSetInfo:
    avs_address: str
    operator_set_id: int
    curve_type: CurveType
    aggregator_address: str
    members: tuple[str, ...]


@runtime_checkable
class ChainReader(Protocol):
    """What an executor reads from the chain for a task. Addresses compare case-insensitively."""

    def operator_set(self, avs_address: str, operator_set_id: int) -> OperatorSetInfo:
        """The operator set; UnknownOperatorSetError when the AVS has none with that id."""
        ...

    def is_member(self, avs_address: str, operator_set_id: int, operator_address: str) -> bool: ...

    def certificate_digest(
        self,
        curve_type: CurveType,
        avs_address: str,
        operator_set_id: int,
        reference_timestamp: int,
        message_hash: bytes,
    ) -> bytes:
        """The 32-byte digest an operator of the set signs for a certificate over `message_hash`."""
        ...


class ChainConfigError(ValueError):
    """A static chain file that does not follow the documented format; `path` is the YAML path."""

    def __init__(self, path: str, problem: str, source: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.source = source
        located = f"{path}: {problem}" if path else problem
        super().__init__(f"{source}: {located}" if source else located)


class StaticChainReader:
    """A `ChainReader` over fixed data (see the module docstring for the YAML format)."""

    def __init__(
        self,
        chain_id: int,
        operator_sets: Iterable[OperatorSetInfo],
        ecdsa_domain_separator: bytes | None = None,
    ) -> None:
        self._chain_id = chain_id
        self._ecdsa_domain_separator = ecdsa_domain_separator
        self._sets: dict[tuple[str, int], OperatorSetInfo] = {}
        for info in operator_sets:
            key = (to_lower_address(info.avs_address), info.operator_set_id)
            if key in self._sets:
                raise ValueError(f"operator set {key[1]} of AVS {key[0]} is given twice")
            self._sets[key] = info
        if ecdsa_domain_separator is not None and len(ecdsa_domain_separator) != 32:
            raise ValueError("the ECDSA domain separator is 32 bytes")

    @classmethod
    def from_file(cls, path: str | Path) -> StaticChainReader:
        source = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ChainConfigError("", f"not valid YAML: {exc}", source) from exc
        return cls.from_mapping(data, source)

    @classmethod
    def from_mapping(cls, data: object, source: str | None = None) -> StaticChainReader:
        try:
            return _parse(data)
        except ChainConfigError as exc:
            raise ChainConfigError(exc.path, exc.problem, source) from None

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def ecdsa_domain_separator(self) -> bytes | None:
        return self._ecdsa_domain_separator

    def operator_sets(self) -> list[OperatorSetInfo]:
        return list(self._sets.values())

    def operator_set(self, avs_address: str, operator_set_id: int) -> OperatorSetInfo:
        # Keys are well-formed lower-case addresses, so a hit needs no further parsing (a task
        # looks its operator set up several times); a miss checks the address to raise the right error.
        info = self._sets.get((avs_address.lower(), operator_set_id))
        if info is None:
            to_lower_address(avs_address, "avs address")
            raise UnknownOperatorSetError(f"AVS {avs_address} has no operator set {operator_set_id}")
        return info

    def is_member(self, avs_address: str, operator_set_id: int, operator_address: str) -> bool:
        info = self._sets.get((avs_address.lower(), operator_set_id))
        if info is None:
            to_lower_address(avs_address, "avs address")
            return False
        return operator_address.lower() in info.members or (
            to_lower_address(operator_address, "operator address") in info.members
        )

    def certificate_digest(
        self,
        curve_type: CurveType,
        avs_address: str,
        operator_set_id: int,
        reference_timestamp: int,
        message_hash: bytes,
    ) -> bytes:
        info = self.operator_set(avs_address, operator_set_id)
        if info.curve_type != curve_type:
            raise ChainReaderError(
                f"operator set {operator_set_id} of AVS {avs_address} uses {info.curve_type}, "
                f"not {curve_type}"
            )
        if curve_type == BN254:
            return bn254_certificate_digest(reference_timestamp, message_hash)
        if self._ecdsa_domain_separator is None:
            raise ChainReaderError("no ECDSA certificate verifier is configured")
        return ecdsa_certificate_digest(self._ecdsa_domain_separator, reference_timestamp, message_hash)


# --- parsing the YAML document ---------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _mapping(
    value: object, path: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ChainConfigError(path, "must be a mapping")
    for key in value:
        if key not in required and key not in optional:
            raise ChainConfigError(
                _join(path, str(key)), f"unknown key (expected one of {', '.join(required + optional)})"
            )
    for key in required:
        if key not in value:
            raise ChainConfigError(_join(path, key), "is required")
    return dict(value)


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ChainConfigError(path, "must be a list")
    return value


def _uint(value: object, path: str, bits: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < 1 << bits:
        raise ChainConfigError(path, f"must be an integer in [{minimum}, 2^{bits})")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ChainConfigError(path, "must be a non-empty string")
    return value


def _hex(value: object, path: str, size: int) -> str:
    """A quoted "0x" string of exactly `size` bytes, lower-cased."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ChainConfigError(path, "must be a quoted string (YAML reads an unquoted 0x… value as a number)")
    if not isinstance(value, str) or not re.fullmatch(rf"0x[0-9a-fA-F]{{{2 * size}}}", value):
        raise ChainConfigError(path, f"must be '0x' followed by {2 * size} hex digits")
    return value.lower()


def _address(value: object, path: str) -> str:
    return _hex(value, path, 20)


def _domain_separator(value: object, path: str, chain_id: int) -> bytes:
    verifier = _mapping(value, path, (), ("name", "version", "verifyingContract", "domainSeparator"))
    domain_keys = [key for key in ("name", "version", "verifyingContract") if key in verifier]
    if "domainSeparator" in verifier:
        if domain_keys:
            raise ChainConfigError(
                _join(path, domain_keys[0]), "give either domainSeparator or name/version/verifyingContract"
            )
        return bytes.fromhex(_hex(verifier["domainSeparator"], _join(path, "domainSeparator"), 32)[2:])
    for key in ("name", "version", "verifyingContract"):
        if key not in verifier:
            raise ChainConfigError(_join(path, key), "is required (or give domainSeparator instead)")
    return eip712_domain_separator(
        _string(verifier["name"], _join(path, "name")),
        _string(verifier["version"], _join(path, "version")),
        chain_id,
        _address(verifier["verifyingContract"], _join(path, "verifyingContract")),
    )


def _operator_set(value: object, path: str, avs_address: str) -> OperatorSetInfo:
    entry = _mapping(value, path, ("id", "curveType", "aggregatorAddress", "operators"), ())
    curve_type = entry["curveType"]
    if curve_type not in CURVE_TYPES:
        raise ChainConfigError(_join(path, "curveType"), f"must be {' or '.join(CURVE_TYPES)}")
    members: list[str] = []
    for index, operator in enumerate(_list(entry["operators"], _join(path, "operators"))):
        member = _address(operator, f"{_join(path, 'operators')}[{index}]")
        if member in members:
            raise ChainConfigError(
                f"{_join(path, 'operators')}[{index}]", f"operator {member} is listed twice"
            )
        members.append(member)
    return OperatorSetInfo(
        avs_address=avs_address,
        operator_set_id=_uint(entry["id"], _join(path, "id"), 32),
        curve_type=curve_type,
        aggregator_address=_address(entry["aggregatorAddress"], _join(path, "aggregatorAddress")),
        members=tuple(members),
    )


def _parse(data: object) -> StaticChainReader:
    document = _mapping(data, "", ("chainId", "avss"), ("ecdsaCertificateVerifier",))
    chain_id = _uint(document["chainId"], "chainId", 256, minimum=1)
    sets: list[OperatorSetInfo] = []
    seen_avss: set[str] = set()
    first_ecdsa_path = None
    for avs_index, avs_value in enumerate(_list(document["avss"], "avss")):
        avs_path = f"avss[{avs_index}]"
        avs = _mapping(avs_value, avs_path, ("address", "operatorSets"), ())
        avs_address = _address(avs["address"], f"{avs_path}.address")
        if avs_address in seen_avss:
            raise ChainConfigError(f"{avs_path}.address", f"AVS {avs_address} is listed twice")
        seen_avss.add(avs_address)
        seen_ids: set[int] = set()
        for set_index, set_value in enumerate(_list(avs["operatorSets"], f"{avs_path}.operatorSets")):
            set_path = f"{avs_path}.operatorSets[{set_index}]"
            info = _operator_set(set_value, set_path, avs_address)
            if info.operator_set_id in seen_ids:
                raise ChainConfigError(
                    f"{set_path}.id", f"operator set {info.operator_set_id} is listed twice"
                )
            seen_ids.add(info.operator_set_id)
            if info.curve_type == ECDSA and first_ecdsa_path is None:
                first_ecdsa_path = set_path
            sets.append(info)
    separator = None
    if "ecdsaCertificateVerifier" in document:
        separator = _domain_separator(
            document["ecdsaCertificateVerifier"], "ecdsaCertificateVerifier", chain_id
        )
    elif first_ecdsa_path is not None:
        raise ChainConfigError(
            "ecdsaCertificateVerifier", f"is required because {first_ecdsa_path} uses curveType ECDSA"
        )
    return StaticChainReader(chain_id, sets, separator)
