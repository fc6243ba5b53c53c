"""The Go executor's `contracts` and `overrideContracts` keys: where it takes its core contracts
from (ponos `cmd/executor/run.go`). This executor takes only their addresses (its ABIs are built in).

- `contracts`: `{"contracts": [{name, address, chainId, abiVersions}, ...]}`. The Go executor reads
  it as a JSON string (viper hands the string's text to encoding/json); upstream's YAML loader
  (`NewExecutorConfigFromYamlBytes`) takes a mapping of that shape instead. Both are accepted here;
  an empty string is not set, as upstream.
- `overrideContracts.taskMailbox: {contract, chainIds}`: `contract` is one contract `{name, address,
  chainId, abiVersions}` as a JSON string (or a mapping); like upstream's `OverrideContract`, it
  replaces the contract of its `name` on the chain ids of `chainIds` (on every chain when empty),
  and its own `chainId` is not used. A missing or empty `contract` overrides nothing, as upstream.

`upstream_addresses` gives what they set for `l1Chain.chainId`, by `chain.contracts` key (upstream
names mapped by `CONTRACT_NAMES`; other names and other chains' entries are ignored): the model
completes `chain.contracts` with them (its own keys win), and the rules count them as given. Keys
inside the JSON that upstream does not read are ignored, as encoding/json ignores them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from pydantic_core import PydanticCustomError

from hourglass_executor.config.errors import Problem, fail
from hourglass_executor.config.types import integer_value

CONTRACT_NAMES: Final[Mapping[str, str]] = {
    "AllocationManager": "allocationManager",
    "KeyRegistrar": "keyRegistrar",
    "TaskMailbox": "taskMailbox",
    "BN254CertificateVerifier": "bn254CertificateVerifier",
    "ECDSACertificateVerifier": "ecdsaCertificateVerifier",
}


MAX_JSON_DEPTH: Final = 64  # upstream's JSON nests 4 deep; json.loads can crash far deeper
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]")


def _depth(text: str) -> int:
    """How deep the arrays and objects of the JSON `text` nest (the ABIs are strings: not counted)."""
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def json_object(value: Any) -> Any:
    """A BeforeValidator: a JSON object, given as JSON text or as a mapping; "" is None (not set)."""
    if value == "":
        return None
    document = value
    if isinstance(value, str):
        if _depth(value) > MAX_JSON_DEPTH:
            raise fail(f"not JSON that can be read: nested more than {MAX_JSON_DEPTH} deep")
        try:
            document = json.loads(value)
        except json.JSONDecodeError as error:  # its message says where, never what
            raise fail(f"not JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
        except ValueError:  # int() refuses more than 4300 digits
            raise fail("not JSON that can be read: a number of more than 4300 digits") from None
    if not isinstance(document, dict):
        raise fail("must be a JSON object (a string of JSON, or a mapping)")
    return document


def as_object(value: Any) -> dict[str, Any]:
    """`json_object(value)`, or {} where the model refuses it."""
    try:
        return json_object(value) or {}
    except PydanticCustomError:
        return {}


def _entries(raw: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, entry) of the mappings in `contracts.contracts`."""
    entries = as_object(raw.get("contracts")).get("contracts")
    if not isinstance(entries, list):
        return []
    return [(f"contracts.contracts[{i}]", e) for i, e in enumerate(entries) if isinstance(e, dict)]


def _key(contract: dict[str, Any]) -> str | None:
    name = contract.get("name")
    return CONTRACT_NAMES.get(name) if isinstance(name, str) else None


def _address(contract: dict[str, Any]) -> str | None:
    address = contract.get("address")
    return address if isinstance(address, str) and address else None


def upstream_addresses(raw: Mapping[str, Any], chain_id: int) -> dict[str, str]:
    """The addresses `contracts` and `overrideContracts` (which wins) of `raw` (the configuration's
    data) set for `chain_id`, by `chain.contracts` key; what the model refuses is skipped."""
    found: dict[str, str] = {}
    for _, entry in _entries(raw):
        key, address = _key(entry), _address(entry)
        if key and address and integer_value(entry.get("chainId")) == chain_id:
            found.setdefault(key, address)  # the first, as upstream's lookup; a second one is refused
    overrides = raw.get("overrideContracts")
    mailbox = overrides.get("taskMailbox") if isinstance(overrides, dict) else None
    if isinstance(mailbox, dict):
        contract = as_object(mailbox.get("contract"))
        chain_ids = mailbox.get("chainIds", [])
        applies = isinstance(chain_ids, list) and (
            not chain_ids or chain_id in {integer_value(i) for i in chain_ids}
        )
        key, address = _key(contract), _address(contract)
        if applies and key and address:
            found[key] = address
    return found


def duplicate_contracts(raw: Mapping[str, Any], chain_id: int) -> list[Problem]:
    """A contract `contracts` names twice for `chain_id` (one of those `CONTRACT_NAMES` maps)."""
    seen: dict[str, str] = {}
    problems = []
    for path, entry in _entries(raw):
        key = _key(entry)
        if key is None or integer_value(entry.get("chainId")) != chain_id:
            continue
        if key in seen:
            problems.append(
                Problem(
                    f"{path}.name",
                    f"duplicate of {seen[key]}.name ({entry['name']} twice for chain id {chain_id})",
                )
            )
        seen.setdefault(key, path)
    return problems
