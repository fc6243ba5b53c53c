"""The contract functions the JSON-RPC reader calls, from the generated ABI files in `abi/`.

`abi/*.json` is written by hack/abi/generate.py (from the eigenlayer-contracts Go bindings the Go
executor pins; the registrar's from the upstream contract §5) and shipped as package data. Encoding
and decoding use web3.py's ABI codec (eth-abi). A revert's custom error is named from the same
files (each carries its contract's `error` entries).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from eth_abi.exceptions import DecodingError, EncodingError
from web3 import AsyncWeb3
from web3 import utils as abi_utils

_CODEC = AsyncWeb3().codec


class AbiDecodingError(ValueError):
    """Return data that does not decode as the function's outputs."""


@functools.cache
def load_abi(stem: str) -> tuple[dict[str, Any], ...]:
    """The ABI entries of `abi/<stem>.json`."""
    text = resources.files("hourglass_executor.chain").joinpath("abi", f"{stem}.json").read_text("utf-8")
    return tuple(json.loads(text))


@dataclass(frozen=True)
class ContractFunction:
    contract: str  # the ABI file's stem, e.g. "KeyRegistrar" (for messages)
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    def encode(self, *args: Any) -> bytes:
        """The call data: selector ‖ ABI-encoded arguments."""
        try:
            return self.selector + _CODEC.encode(list(self.input_types), list(args))
        except EncodingError as error:
            raise ValueError(f"{self.contract}.{self.name}: cannot encode the arguments: {error}") from None

    def decode(self, data: bytes) -> tuple[Any, ...]:
        try:
            return tuple(_CODEC.decode(list(self.output_types), data))
        except (DecodingError, OverflowError, ValueError) as error:
            raise AbiDecodingError(
                f"{len(data)} bytes do not decode as ({', '.join(self.output_types)}): {error}"
            ) from None


@functools.cache
def function(contract: str, name: str) -> ContractFunction:
    """The function `name` of `abi/<contract>.json`."""
    for entry in load_abi(contract):
        if entry.get("type") == "function" and entry.get("name") == name:
            return ContractFunction(
                contract=contract,
                name=name,
                selector=bytes(abi_utils.function_abi_to_4byte_selector(entry)),
                input_types=tuple(abi_utils.get_abi_input_types(entry)),
                output_types=tuple(abi_utils.get_abi_output_types(entry)),
            )
    raise LookupError(f"abi/{contract}.json has no function {name}")


@functools.cache
def _errors(contract: str) -> dict[bytes, tuple[str, tuple[str, ...]]]:
    errors = {}
    for entry in load_abi(contract):
        if entry.get("type") == "error":
            types = tuple(abi_utils.get_abi_input_types(entry))
            selector = bytes(
                abi_utils.function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
            )
            errors[selector] = (entry["name"], types)
    return errors


def describe_revert(contract: str, data: bytes) -> str:
    """A readable name for revert data: the contract's custom error, Error(string), or the raw bytes."""
    if len(data) < 4:
        return "no reason given" if not data else f"revert data 0x{data.hex()}"
    selector, body = data[:4], data[4:]
    if selector == bytes.fromhex("08c379a0"):  # Error(string)
        try:
            return f"Error({_CODEC.decode(['string'], body)[0]!r})"
        except (DecodingError, ValueError):
            pass
    known = _errors(contract).get(selector)
    if known is not None:
        name, types = known
        try:
            values = _CODEC.decode(list(types), body)
            return f"{name}({', '.join(map(str, values))})"
        except (DecodingError, ValueError):
            return name
    return f"revert data 0x{data[:68].hex()}"
