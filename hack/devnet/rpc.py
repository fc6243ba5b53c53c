"""A thin web3.py layer for the devnet scripts: deploy, transact from Anvil's unlocked dev accounts,
and turn a revert into a DevnetError that names the contract's custom error (e.g.
`VerificationFailed()`), decoded with the ABIs of every contract the devnet knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from hack.devnet.errors import DevnetError

RPC_TIMEOUT = 60


class RevertError(DevnetError):
    """A call or transaction reverted; `error` is the decoded custom error, e.g. "InvalidSignature()"."""

    def __init__(self, action: str, error: str, data: str | None) -> None:
        super().__init__(f"{action} reverted: {error}")
        self.error = error
        self.data = data


def _signature(entry: dict) -> str:
    def kind(param: dict) -> str:
        if param["type"].startswith("tuple"):
            return "(" + ",".join(kind(c) for c in param["components"]) + ")" + param["type"][5:]
        return param["type"]

    return f"{entry['name']}({','.join(kind(p) for p in entry['inputs'])})"


class ErrorDecoder:
    """Maps revert data to "Name(args)" with the custom errors of the ABIs it was given."""

    def __init__(self) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}

    def add_abi(self, abi: Iterable[dict]) -> None:
        for entry in abi:
            if entry.get("type") == "error":
                signature = _signature(entry)
                types = signature[len(entry["name"]) + 1 : -1]
                self._errors[function_signature_to_4byte_selector(signature)] = (
                    entry["name"],
                    _split_types(types),
                )

    def decode(self, data: str | None) -> str:
        if not data or data == "0x":
            return "revert without data"
        raw = bytes.fromhex(data.removeprefix("0x"))
        selector, payload = raw[:4], raw[4:]
        if selector == bytes.fromhex("08c379a0"):  # Error(string)
            return f"Error({abi_decode(['string'], payload)[0]!r})"
        if selector == bytes.fromhex("4e487b71"):  # Panic(uint256)
            return f"Panic({abi_decode(['uint256'], payload)[0]:#x})"
        known = self._errors.get(selector)
        if known is None:
            return f"unknown error 0x{raw.hex()}"
        name, types = known
        try:
            values = abi_decode(types, payload) if types else ()
        except Exception:  # malformed payload: still name the error
            return f"{name}(0x{payload.hex()})"
        return f"{name}({', '.join(str(v) for v in values)})"


def _split_types(types: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in types:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        parts.append(current)
    return parts


def _revert_data(error: ContractLogicError) -> str | None:
    data = error.data
    if isinstance(data, dict):
        data = data.get("data")
    return data if isinstance(data, str) else None


class Rpc:
    """JSON-RPC access to one Anvil: contracts by address, transactions from its unlocked accounts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT}))
        self.errors = ErrorDecoder()

    def contract(self, address: str, abi: list[dict]) -> Contract:
        self.errors.add_abi(abi)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def deploy(self, sender: str, abi: list[dict], bytecode: str, *args: Any, name: str = "contract") -> str:
        self.errors.add_abi(abi)
        constructor = self.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args)
        receipt = self.transact(sender, constructor, action=f"deploying {name}")
        return receipt["contractAddress"]

    def transact(
        self, sender: str, call: ContractFunction | ContractConstructor, *, action: str | None = None
    ) -> TxReceipt:
        """Sends `call` from `sender` (an unlocked Anvil account) and returns the mined receipt."""
        action = action or getattr(call, "fn_name", "transaction")
        try:
            tx_hash = call.transact({"from": sender})
        except ContractLogicError as error:
            data = _revert_data(error)
            raise RevertError(action, self.errors.decode(data), data) from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RPC_TIMEOUT)
        if receipt["status"] != 1:
            raise DevnetError(f"{action}: transaction {tx_hash.hex()} failed (status 0)")
        return receipt

    def call(self, call: ContractFunction, *, block: int | str = "latest") -> Any:
        try:
            return call.call(block_identifier=block)
        except ContractLogicError as error:
            data = _revert_data(error)
            raise RevertError(getattr(call, "fn_name", "call"), self.errors.decode(data), data) from None

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))
        if "error" in response:
            raise DevnetError(f"{method}: {response['error']}")
        return response["result"]
