"""`StaticChainReader`: the `ChainReader` answers from a YAML (or JSON) file instead of a chain.

For tests and local setups without a blockchain. The file holds exactly what the JSON-RPC reader
would read (keys are camelCase; quote every 0x value, because YAML reads an unquoted 0x… as a
number):

    chainId: 31337
    ecdsaCertificateVerifier:            # required when any operator set uses ECDSA
      domainSeparator: "0x…"             # the verifier's domainSeparator() (64 hex digits)
    avss:
      - address: "0x…"                   # the AVS; each AVS once (case-insensitive)
        aggregatorOperatorSetId: 0       # registrar.getAvsConfig(): a set listed below
        executorOperatorSetIds: [1]      #   (each a set listed below)
        operatorSets:
          - id: 0                        # uint32, unique within the AVS
            curveType: ECDSA             # KeyRegistrar.getOperatorSetCurveType: ECDSA or BN254
            members:                     # operators with a key in the set (may be empty)
              - address: "0x…"           # the operator
                socket: "host:port"      # registrar.getOperatorSocket (optional, default "")
                ecdsaAddress: "0x…"      # ECDSA sets: KeyRegistrar.getECDSAAddress
          - id: 1
            curveType: BN254
            members:
              - address: "0x…"
                bn254:                   # BN254 sets: KeyRegistrar.getBN254Key, as the hex of
                  g1: "0x…"              #   gnark's Marshal bytes (G1 64 bytes, G2 128 bytes)
                  g2: "0x…"

There is no name/version form of the ECDSA verifier's domain: the deployed verifier's domain has no
chain id and only the major version (upstream contract §5), so only its `domainSeparator()` value,
read once from the contract (`cast call <verifier> "domainSeparator()(bytes32)"`), is accepted.

Unknown keys are errors. Every validation error names the YAML path and the rule, for example
`avss[0].operatorSets[1].curveType: must be ECDSA or BN254`. Addresses are kept lower-case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hourglass_executor.chain import (
    AvsConfig,
    ChainReaderError,
    OperatorNotRegisteredError,
    OperatorSetMember,
    UnknownOperatorSetError,
)
from hourglass_executor.signing.address import to_lower_address
from hourglass_executor.signing.layouts import (
    bn254_certificate_digest,
    ecdsa_certificate_digest,
    result_message_hash,
)
from hourglass_executor.signing.signer import BN254, CURVE_TYPES, ECDSA, CurveType
from hourglass_executor.strict_yaml import DOCUMENT, YamlSyntaxError, parse_yaml
from hourglass_executor.validation import is_hex_bytes

G1_SIZE, G2_SIZE = 64, 128


class ChainConfigError(ValueError):
    """A static chain file that does not follow the documented format; `path` is the YAML path."""

    def __init__(self, path: str, problem: str, source: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.source = source
        located = f"{path}: {problem}" if path else problem
        super().__init__(f"{source}: {located}" if source else located)


@dataclass(frozen=True)
class StaticOperatorSet:
    avs: str
    operator_set_id: int
    curve_type: CurveType
    members: Mapping[str, OperatorSetMember]  # by lower-case operator address


@dataclass(frozen=True)
class StaticAvs:
    address: str
    config: AvsConfig
    operator_sets: Mapping[int, StaticOperatorSet]


class StaticChainReader:
    """A `ChainReader` over fixed data (see the module docstring for the file format)."""

    def __init__(
        self, chain_id: int, avss: Iterable[StaticAvs], ecdsa_domain_separator: bytes | None = None
    ) -> None:
        if ecdsa_domain_separator is not None and len(ecdsa_domain_separator) != 32:
            raise ValueError("the ECDSA domain separator is 32 bytes")
        self._chain_id = chain_id
        self._ecdsa_domain_separator = ecdsa_domain_separator
        self._avss: dict[str, StaticAvs] = {}
        for avs in avss:
            key = avs.address.lower()
            if key in self._avss:
                raise ValueError(f"AVS {key} is given twice")
            self._avss[key] = avs

    @classmethod
    def from_file(cls, path: str | Path) -> StaticChainReader:
        source = str(path)
        try:
            data, duplicates = parse_yaml(Path(path).read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ChainConfigError("", "cannot be read: not UTF-8 text", source) from None
        except YamlSyntaxError as exc:
            where, message = exc.problem
            raise ChainConfigError("" if where == DOCUMENT else where, message, source) from None
        if duplicates:
            raise ChainConfigError(duplicates[0].where, duplicates[0].message, source)
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

    def avss(self) -> list[StaticAvs]:
        return list(self._avss.values())

    def _avs(self, avs: str) -> StaticAvs:
        found = self._avss.get(avs.lower())
        if found is None:
            to_lower_address(avs, "avs address")  # a malformed address is a ValueError
            raise UnknownOperatorSetError(f"AVS {avs} has no registrar")
        return found

    def _operator_set(self, avs: str, operator_set_id: int) -> StaticOperatorSet:
        found = self._avs(avs).operator_sets.get(operator_set_id)
        if found is None:
            raise UnknownOperatorSetError(f"AVS {avs.lower()} has no operator set {operator_set_id}")
        return found

    async def avs_config(self, avs: str, block: int) -> AvsConfig:
        return self._avs(avs).config

    async def operator_set_member(
        self, avs: str, operator_set_id: int, operator: str, block: int
    ) -> OperatorSetMember:
        return self.lookup_member(avs, operator_set_id, operator)

    def lookup_member(self, avs: str, operator_set_id: int, operator: str) -> OperatorSetMember:
        """`operator_set_member` without the event loop (the file has no blocks)."""
        operator_set = self._operator_set(avs, operator_set_id)
        member = operator_set.members.get(operator.lower())
        if member is None:
            to_lower_address(operator, "operator address")
            raise OperatorNotRegisteredError(
                f"operator {operator.lower()} has no {operator_set.curve_type} key in operator set "
                f"{operator_set_id} of AVS {operator_set.avs}"
            )
        return member

    async def message_hash(self, task_id: str, output: bytes) -> bytes:
        return result_message_hash(task_id, output)

    async def certificate_digest(
        self, curve: CurveType, reference_timestamp: int, message_hash: bytes, block: int = 0
    ) -> bytes:
        if curve == BN254:
            return bn254_certificate_digest(reference_timestamp, message_hash)
        if curve != ECDSA:
            raise ValueError(f"curve must be ECDSA or BN254, got {curve!r}")
        if self._ecdsa_domain_separator is None:
            raise ChainReaderError("the static chain file has no ecdsaCertificateVerifier.domainSeparator")
        return ecdsa_certificate_digest(self._ecdsa_domain_separator, reference_timestamp, message_hash)

    async def close(self) -> None:
        return None


# --- parsing the YAML document ---------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _mapping(
    value: object, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
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


def _hex(value: object, path: str, size: int) -> str:
    """A quoted "0x" string of exactly `size` bytes, lower-cased."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ChainConfigError(path, "must be a quoted string (YAML reads an unquoted 0x… value as a number)")
    if not is_hex_bytes(value, size):
        raise ChainConfigError(path, f"must be '0x' followed by {2 * size} hex digits")
    return value.lower()


def _address(value: object, path: str) -> str:
    return _hex(value, path, 20)


def _member(value: object, path: str, curve: CurveType) -> OperatorSetMember:
    key_field = "ecdsaAddress" if curve == ECDSA else "bn254"
    other = "bn254" if curve == ECDSA else "ecdsaAddress"
    if isinstance(value, Mapping) and other in value:
        raise ChainConfigError(_join(path, other), f"not used in a {curve} operator set (give {key_field})")
    entry = _mapping(value, path, ("address", key_field), ("socket",))
    socket = entry.get("socket", "")
    if not isinstance(socket, str):
        raise ChainConfigError(_join(path, "socket"), "must be a string")
    ecdsa_address = g1 = g2 = None
    if curve == ECDSA:
        ecdsa_address = _address(entry["ecdsaAddress"], _join(path, "ecdsaAddress"))
        if int(ecdsa_address, 16) == 0:
            raise ChainConfigError(_join(path, "ecdsaAddress"), "must not be the zero address (no key)")
    else:
        key_path = _join(path, "bn254")
        key = _mapping(entry["bn254"], key_path, ("g1", "g2"))
        g1 = bytes.fromhex(_hex(key["g1"], _join(key_path, "g1"), G1_SIZE)[2:])
        g2 = bytes.fromhex(_hex(key["g2"], _join(key_path, "g2"), G2_SIZE)[2:])
        if not any(g1):
            raise ChainConfigError(_join(key_path, "g1"), "must not be zero (no key)")
    return OperatorSetMember(
        operator=_address(entry["address"], _join(path, "address")),
        curve_type=curve,
        socket=socket,
        ecdsa_address=ecdsa_address,
        bn254_g1=g1,
        bn254_g2=g2,
    )


def _operator_set(value: object, path: str, avs: str) -> StaticOperatorSet:
    entry = _mapping(value, path, ("id", "curveType", "members"))
    set_id = _uint(entry["id"], _join(path, "id"), 32)
    curve = entry["curveType"]
    if curve not in CURVE_TYPES:
        raise ChainConfigError(_join(path, "curveType"), f"must be {' or '.join(CURVE_TYPES)}")
    members: dict[str, OperatorSetMember] = {}
    for index, member_value in enumerate(_list(entry["members"], _join(path, "members"))):
        member_path = f"{_join(path, 'members')}[{index}]"
        member = _member(member_value, member_path, curve)
        if member.operator in members:
            raise ChainConfigError(
                _join(member_path, "address"), f"operator {member.operator} is listed twice"
            )
        members[member.operator] = member
    return StaticOperatorSet(avs, set_id, curve, members)


def _avs(value: object, path: str) -> StaticAvs:
    entry = _mapping(
        value, path, ("address", "aggregatorOperatorSetId", "executorOperatorSetIds", "operatorSets")
    )
    address = _address(entry["address"], _join(path, "address"))
    sets: dict[int, StaticOperatorSet] = {}
    for index, set_value in enumerate(_list(entry["operatorSets"], _join(path, "operatorSets"))):
        set_path = f"{_join(path, 'operatorSets')}[{index}]"
        operator_set = _operator_set(set_value, set_path, address)
        if operator_set.operator_set_id in sets:
            raise ChainConfigError(
                _join(set_path, "id"), f"operator set {operator_set.operator_set_id} is listed twice"
            )
        sets[operator_set.operator_set_id] = operator_set

    def listed(set_id_value: object, id_path: str) -> int:
        set_id = _uint(set_id_value, id_path, 32)
        if set_id not in sets:
            raise ChainConfigError(id_path, f"operator set {set_id} is not in {_join(path, 'operatorSets')}")
        return set_id

    aggregator_set = listed(entry["aggregatorOperatorSetId"], _join(path, "aggregatorOperatorSetId"))
    ids_path = _join(path, "executorOperatorSetIds")
    executor_sets = tuple(
        listed(set_id, f"{ids_path}[{index}]")
        for index, set_id in enumerate(_list(entry["executorOperatorSetIds"], ids_path))
    )
    return StaticAvs(address, AvsConfig(aggregator_set, executor_sets), sets)


def _parse(data: object) -> StaticChainReader:
    document = _mapping(data, "", ("chainId", "avss"), ("ecdsaCertificateVerifier",))
    chain_id = _uint(document["chainId"], "chainId", 256, minimum=1)
    avss: list[StaticAvs] = []
    seen: set[str] = set()
    first_ecdsa_path = None
    for index, avs_value in enumerate(_list(document["avss"], "avss")):
        avs_path = f"avss[{index}]"
        avs = _avs(avs_value, avs_path)
        if avs.address in seen:
            raise ChainConfigError(f"{avs_path}.address", f"AVS {avs.address} is listed twice")
        seen.add(avs.address)
        if first_ecdsa_path is None:
            for set_index, operator_set in enumerate(avs.operator_sets.values()):
                if operator_set.curve_type == ECDSA:
                    first_ecdsa_path = f"{avs_path}.operatorSets[{set_index}]"
                    break
        avss.append(avs)
    separator = None
    if "ecdsaCertificateVerifier" in document:
        verifier_value = document["ecdsaCertificateVerifier"]
        if isinstance(verifier_value, Mapping):
            for key in ("name", "version", "verifyingContract"):
                if key in verifier_value:
                    raise ChainConfigError(
                        f"ecdsaCertificateVerifier.{key}",
                        "not accepted: the verifier's EIP-712 domain has no chain id and only the major "
                        "version, so give its domainSeparator() value instead",
                    )
        verifier = _mapping(verifier_value, "ecdsaCertificateVerifier", ("domainSeparator",))
        separator = bytes.fromhex(
            _hex(verifier["domainSeparator"], "ecdsaCertificateVerifier.domainSeparator", 32)[2:]
        )
    elif first_ecdsa_path is not None:
        raise ChainConfigError(
            "ecdsaCertificateVerifier", f"is required because {first_ecdsa_path} uses curveType ECDSA"
        )
    return StaticChainReader(chain_id, avss, separator)
