"""The chain as the test aggregator sees it: the reads and the one transaction an Hourglass aggregator
makes, over JSON-RPC with web3.py, against any chain with the EigenLayer task contracts (nothing here
knows the devnet).

Reads (each at a given block where the Go aggregator pins one):
- `task_created_logs` / `task_created_in`: TaskMailbox `TaskCreated` events (eth_getLogs, a receipt);
- `task_config`: TaskMailbox.getExecutorOperatorSetTaskConfig (curve, consensus, SLA);
- `avs_config`: AllocationManager.getAVSRegistrar → registrar.getAvsConfig;
- `curve_type`, `ecdsa_address`, `bn254_key`: the KeyRegistrar;
- `members`, `socket`: AllocationManager.getMembers, registrar.getOperatorSocket;
- `operator_set_weights`, `operator_infos`: the set's operator table calculator (CrossChainRegistry
  .getOperatorTableCalculator → getOperatorSetWeights / the BN254 calculator's getOperatorInfos);
- `operator_info_tree_root`: BN254CertificateVerifier.getOperatorSetInfo at a reference timestamp;
- `message_hash`, `certificate_digest`: TaskMailbox.getMessageHash and the verifiers' digests (ECDSA:
  keccak256 of calculateCertificateDigestBytes, as the Go aggregator checks result signatures).

The transaction: `submit_result`, TaskMailbox.submitResult signed locally with the aggregator
account's private key (no unlocked accounts, so it works against any RPC), returning the decoded
`TaskVerified`. ABIs: the eigenlayer-contracts bindings the Go executor pins (hack/eigenlayer), and
for the two interfaces that module lacks (the AVS's TaskAVSRegistrarBase and the middleware's
BN254 table calculator) the fragments below, written from their documented interfaces.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from hourglass_executor.signing import BN254, ECDSA, CurveType, bn254, keccak256
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from hack.devnet.rpc import ErrorDecoder
from hack.eigenlayer.bindings import binding

RPC_TIMEOUT = 30
CURVES: Mapping[int, CurveType | None] = {0: None, 1: ECDSA, 2: BN254}  # IKeyRegistrarTypes.CurveType
STAKE_PROPORTION_THRESHOLD = 1  # ITaskMailboxTypes.ConsensusType
# Core contracts the aggregator uses, by the manifest's / docs' key.
CONTRACT_BINDINGS = {
    "allocationManager": "AllocationManager",
    "keyRegistrar": "KeyRegistrar",
    "taskMailbox": "TaskMailbox",
    "bn254CertificateVerifier": "BN254CertificateVerifier",
    "ecdsaCertificateVerifier": "ECDSACertificateVerifier",
    "crossChainRegistry": "CrossChainRegistry",
}

_OPERATOR_SET = {
    "name": "operatorSet",
    "type": "tuple",
    "components": [{"name": "avs", "type": "address"}, {"name": "id", "type": "uint32"}],
}
# eigenlayer-middleware's TaskAVSRegistrarBase: the two reads an aggregator makes (contract §5).
TASK_AVS_REGISTRAR_ABI = [
    {
        "type": "function",
        "name": "getAvsConfig",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [
            {
                "name": "",
                "type": "tuple",
                "components": [
                    {"name": "aggregatorOperatorSetId", "type": "uint32"},
                    {"name": "executorOperatorSetIds", "type": "uint32[]"},
                ],
            }
        ],
    },
    {
        "type": "function",
        "name": "getOperatorSocket",
        "stateMutability": "view",
        "inputs": [{"name": "operator", "type": "address"}],
        "outputs": [{"name": "", "type": "string"}],
    },
]
# eigenlayer-middleware's IBN254TableCalculator.getOperatorInfos (what the Go aggregator reads).
BN254_TABLE_CALCULATOR_ABI = [
    {
        "type": "function",
        "name": "getOperatorInfos",
        "stateMutability": "view",
        "inputs": [_OPERATOR_SET],
        "outputs": [
            {
                "name": "",
                "type": "tuple[]",
                "components": [
                    {
                        "name": "pubkey",
                        "type": "tuple",
                        "components": [{"name": "X", "type": "uint256"}, {"name": "Y", "type": "uint256"}],
                    },
                    {"name": "weights", "type": "uint256[]"},
                ],
            }
        ],
    }
]


class ChainError(Exception):
    """A read or transaction failed; `revert` names the contract's custom error when it reverted."""

    def __init__(self, message: str, revert: str | None = None) -> None:
        super().__init__(message)
        self.revert = revert


@dataclass(frozen=True)
class TaskCreated:
    """A decoded TaskMailbox `TaskCreated` event and where it was mined."""

    task_hash: bytes
    creator: str
    avs: str
    executor_operator_set_id: int
    reference_timestamp: int  # operatorTableReferenceTimestamp
    refund_collector: str
    avs_fee: int
    task_deadline: int  # unix seconds
    payload: bytes
    block_number: int
    transaction_hash: bytes

    @property
    def task_id(self) -> str:
        """The task hash as the 0x-prefixed hex string the executor's gRPC API carries."""
        return "0x" + self.task_hash.hex()


@dataclass(frozen=True)
class TaskConfig:
    curve: CurveType
    consensus_type: int
    threshold_bips: int
    task_sla: int


@dataclass(frozen=True)
class TaskVerified:
    """The decoded `TaskVerified` event of a submitResult transaction."""

    aggregator: str
    task_hash: bytes
    avs: str
    executor_operator_set_id: int
    executor_cert: bytes
    result: bytes
    block_number: int
    transaction_hash: bytes


@dataclass(frozen=True)
class Bn254OperatorInfo:
    public_key_g1: bytes  # gnark Marshal bytes
    weights: tuple[int, ...]


class ChainView:
    """JSON-RPC access to the contracts of one chain (`contracts`: addresses by CONTRACT_BINDINGS key)."""

    def __init__(self, rpc_url: str, contracts: Mapping[str, str], *, timeout: float = RPC_TIMEOUT) -> None:
        missing = [key for key in CONTRACT_BINDINGS if not contracts.get(key)]
        if missing:
            raise ValueError(f"contract addresses missing: {', '.join(missing)}")
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.errors = ErrorDecoder()
        self._contracts = {
            key: self._contract(contracts[key], binding(name).abi) for key, name in CONTRACT_BINDINGS.items()
        }
        self.errors.add_abi(TASK_AVS_REGISTRAR_ABI)

    def _contract(self, address: str, abi: list[dict]) -> Contract:
        self.errors.add_abi(abi)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def contract(self, key: str) -> Contract:
        return self._contracts[key]

    def _call(self, function: Any, block: int | str, what: str) -> Any:
        try:
            return function.call(block_identifier=block)
        except ContractLogicError as error:
            data = error.data if isinstance(error.data, str) else None
            revert = self.errors.decode(data)
            raise ChainError(f"{what} reverted: {revert}", revert) from None
        except (OSError, Web3RPCError) as error:
            raise ChainError(f"{what} failed: {_transport_problem(error)}") from None

    # -- tasks ------------------------------------------------------------------------------------

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def task_created_logs(self, from_block: int, to_block: int | str = "latest") -> list[TaskCreated]:
        """Every TaskCreated of the TaskMailbox in [from_block, to_block] (one eth_getLogs)."""
        event = self.contract("taskMailbox").events.TaskCreated()
        try:
            logs = event.get_logs(from_block=from_block, to_block=to_block)
        except (OSError, Web3RPCError) as error:
            raise ChainError(f"eth_getLogs of TaskCreated failed: {_transport_problem(error)}") from None
        return [task_created(log) for log in logs]

    def task_created_in(self, transaction_hash: bytes | str) -> TaskCreated:
        """The TaskCreated event of a createTask transaction."""
        receipt = self.w3.eth.get_transaction_receipt(transaction_hash)
        events = self.contract("taskMailbox").events.TaskCreated().process_receipt(receipt)
        if len(events) != 1:
            raise ChainError(
                f"transaction {Web3.to_hex(transaction_hash)} has {len(events)} TaskCreated events"
            )
        return task_created(events[0])

    def task_config(self, avs: str, operator_set_id: int, block: int) -> TaskConfig:
        mailbox = self.contract("taskMailbox")
        config = self._call(
            mailbox.functions.getExecutorOperatorSetTaskConfig((avs, operator_set_id)),
            block,
            f"getExecutorOperatorSetTaskConfig({avs}, {operator_set_id})",
        )
        _hook, sla, _fee_token, curve_type, _collector, (consensus_type, value), _metadata = config
        curve = CURVES.get(curve_type)
        if curve is None:
            raise ChainError(f"operator set ({avs}, {operator_set_id}) has no task config (curve type NONE)")
        threshold = int.from_bytes(value[-32:]) if consensus_type == STAKE_PROPORTION_THRESHOLD else 0
        return TaskConfig(curve, consensus_type, threshold, sla)

    def message_hash(self, task_hash: bytes, output: bytes) -> bytes:
        function = self.contract("taskMailbox").functions.getMessageHash(task_hash, output)
        return bytes(self._call(function, "latest", "getMessageHash"))

    def certificate_digest(self, curve: CurveType, reference_timestamp: int, message_hash: bytes) -> bytes:
        if curve == BN254:
            verifier = self.contract("bn254CertificateVerifier")
            function = verifier.functions.calculateCertificateDigest(reference_timestamp, message_hash)
            return bytes(self._call(function, "latest", "calculateCertificateDigest"))
        verifier = self.contract("ecdsaCertificateVerifier")
        function = verifier.functions.calculateCertificateDigestBytes(reference_timestamp, message_hash)
        return keccak256(bytes(self._call(function, "latest", "calculateCertificateDigestBytes")))

    # -- the AVS and its operator sets --------------------------------------------------------------

    def registrar(self, avs: str, block: int) -> Contract:
        allocation = self.contract("allocationManager")
        address = self._call(allocation.functions.getAVSRegistrar(avs), block, f"getAVSRegistrar({avs})")
        if int(address, 16) == 0:
            raise ChainError(f"AVS {avs} has no registrar")
        return self.w3.eth.contract(address=address, abi=TASK_AVS_REGISTRAR_ABI)

    def avs_config(self, registrar: Contract, block: int) -> tuple[int, tuple[int, ...]]:
        """(aggregatorOperatorSetId, executorOperatorSetIds) of registrar.getAvsConfig()."""
        aggregator_set, executor_sets = self._call(registrar.functions.getAvsConfig(), block, "getAvsConfig")
        return aggregator_set, tuple(executor_sets)

    def socket(self, registrar: Contract, operator: str, block: int) -> str:
        return self._call(registrar.functions.getOperatorSocket(operator), block, "getOperatorSocket")

    def curve_type(self, avs: str, operator_set_id: int, block: int) -> CurveType | None:
        registry = self.contract("keyRegistrar")
        function = registry.functions.getOperatorSetCurveType((avs, operator_set_id))
        return CURVES.get(self._call(function, block, "getOperatorSetCurveType"))

    def members(self, avs: str, operator_set_id: int, block: int) -> list[str]:
        allocation = self.contract("allocationManager")
        function = allocation.functions.getMembers((avs, operator_set_id))
        return list(self._call(function, block, f"getMembers({avs}, {operator_set_id})"))

    def ecdsa_address(self, avs: str, operator_set_id: int, operator: str, block: int) -> str | None:
        """The operator's ECDSA signing address in the set, None when it has none."""
        function = self.contract("keyRegistrar").functions.getECDSAAddress((avs, operator_set_id), operator)
        address = self._call(function, block, "getECDSAAddress")
        return None if int(address, 16) == 0 else address

    def bn254_key(
        self, avs: str, operator_set_id: int, operator: str, block: int
    ) -> tuple[bytes, bytes] | None:
        """The operator's BN254 key in the set as gnark bytes (G1, G2), None when it has none."""
        function = self.contract("keyRegistrar").functions.getBN254Key((avs, operator_set_id), operator)
        (x, y), (g2_x, g2_y) = self._call(function, block, "getBN254Key")
        if x == 0 and y == 0:
            return None
        return bn254.g1_from_solidity(x, y), bn254.g2_from_solidity(g2_x, g2_y)

    # -- operator tables ------------------------------------------------------------------------------

    def table_calculator(self, avs: str, operator_set_id: int, block: int) -> str:
        registry = self.contract("crossChainRegistry")
        function = registry.functions.getOperatorTableCalculator((avs, operator_set_id))
        address = self._call(function, block, f"getOperatorTableCalculator({avs}, {operator_set_id})")
        if int(address, 16) == 0:
            raise ChainError(f"operator set ({avs}, {operator_set_id}) has no operator table calculator")
        return address

    def operator_set_weights(self, avs: str, operator_set_id: int, block: int) -> dict[str, tuple[int, ...]]:
        """Operator (lower-case) → its stake weights, from the set's table calculator."""
        calculator = self._contract(
            self.table_calculator(avs, operator_set_id, block), binding("IOperatorTableCalculator").abi
        )
        function = calculator.functions.getOperatorSetWeights((avs, operator_set_id))
        operators, weights = self._call(function, block, "getOperatorSetWeights")
        return {operator.lower(): tuple(w) for operator, w in zip(operators, weights, strict=True)}

    def operator_infos(self, avs: str, operator_set_id: int, block: int) -> list[Bn254OperatorInfo]:
        """The BN254 set's operator infos in table order (the leaves of its operatorInfoTreeRoot)."""
        calculator = self._contract(
            self.table_calculator(avs, operator_set_id, block), BN254_TABLE_CALCULATOR_ABI
        )
        infos = self._call(
            calculator.functions.getOperatorInfos((avs, operator_set_id)), block, "getOperatorInfos"
        )
        return [Bn254OperatorInfo(bn254.g1_from_solidity(x, y), tuple(weights)) for (x, y), weights in infos]

    def operator_info_tree_root(self, avs: str, operator_set_id: int, reference_timestamp: int) -> bytes:
        """The operatorInfoTreeRoot the BN254 verifier holds for the set at `reference_timestamp`."""
        verifier = self.contract("bn254CertificateVerifier")
        function = verifier.functions.getOperatorSetInfo((avs, operator_set_id), reference_timestamp)
        return bytes(self._call(function, "latest", "getOperatorSetInfo")[0])

    # -- submitResult ----------------------------------------------------------------------------------

    def wait_for_block_after(self, timestamp: int, timeout: float) -> None:
        """Waits for a latest block whose timestamp is past `timestamp`: the TaskMailbox refuses a result
        in its task's creation second (TimestampAtCreation), and gas is estimated at the latest block."""
        deadline = time.monotonic() + timeout
        while self.w3.eth.get_block("latest")["timestamp"] <= timestamp:
            if time.monotonic() > deadline:
                raise ChainError(f"no block after timestamp {timestamp} within {timeout} s")
            time.sleep(0.1)

    def submit_result(
        self, task_hash: bytes, certificate: bytes, result: bytes, private_key: str, *, timeout: float = 60
    ) -> TaskVerified:
        """TaskMailbox.submitResult from the account of `private_key`, signed here; its TaskVerified."""
        mailbox = self.contract("taskMailbox")
        created = self._call(mailbox.functions.getTaskInfo(task_hash), "latest", "getTaskInfo")[1]
        self.wait_for_block_after(created, timeout)
        receipt = self.send(
            mailbox.functions.submitResult(task_hash, certificate, result),
            private_key,
            "submitResult",
            timeout,
        )
        return task_verified(mailbox, receipt)

    def create_task(self, avs: str, operator_set_id: int, payload: bytes, private_key: str) -> TaskCreated:
        """TaskMailbox.createTask from the account of `private_key` (refunds to itself); its TaskCreated.
        (An AVS's consumer creates tasks, not an aggregator: this is for demos and tests.)"""
        creator = Account.from_key(private_key).address
        call = self.contract("taskMailbox").functions.createTask((creator, (avs, operator_set_id), payload))
        receipt = self.send(call, private_key, "createTask")
        return self.task_created_in(receipt["transactionHash"])

    def send(self, call: Any, private_key: str, what: str, timeout: float = 60) -> Any:
        """Sends the contract call as a transaction signed with `private_key`; the mined receipt. A revert
        (at gas estimation or mined) is a ChainError naming the contract's error."""
        account = Account.from_key(private_key)
        try:
            transaction = call.build_transaction(
                {
                    "from": account.address,
                    "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
                    "chainId": self.w3.eth.chain_id,
                }
            )
        except ContractLogicError as error:  # gas estimation ran it
            revert = self.errors.decode(error.data if isinstance(error.data, str) else None)
            raise ChainError(f"{what} reverted: {revert}", revert) from None
        except (OSError, Web3RPCError) as error:
            raise ChainError(f"{what} failed: {_transport_problem(error)}") from None
        signed = account.sign_transaction(transaction)
        transaction_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(transaction_hash, timeout=timeout)
        if receipt["status"] != 1:
            raise ChainError(f"{what} transaction {transaction_hash.hex()} failed (status 0)")
        return receipt


def task_verified(mailbox: Contract, receipt: Any) -> TaskVerified:
    """The TaskVerified event of a mined submitResult transaction of `mailbox`."""
    (event,) = mailbox.events.TaskVerified().process_receipt(receipt)
    args = event["args"]
    return TaskVerified(
        aggregator=args["aggregator"],
        task_hash=bytes(args["taskHash"]),
        avs=args["avs"],
        executor_operator_set_id=args["executorOperatorSetId"],
        executor_cert=bytes(args["executorCert"]),
        result=bytes(args["result"]),
        block_number=receipt["blockNumber"],
        transaction_hash=bytes(receipt["transactionHash"]),
    )


def task_created(event: Any) -> TaskCreated:
    """A decoded TaskCreated log (from eth_getLogs or a receipt) of the TaskMailbox."""
    args = event["args"]
    return TaskCreated(
        task_hash=bytes(args["taskHash"]),
        creator=args["creator"],
        avs=args["avs"],
        executor_operator_set_id=args["executorOperatorSetId"],
        reference_timestamp=args["operatorTableReferenceTimestamp"],
        refund_collector=args["refundCollector"],
        avs_fee=args["avsFee"],
        task_deadline=args["taskDeadline"],
        payload=bytes(args["payload"]),
        block_number=event["blockNumber"],
        transaction_hash=bytes(event["transactionHash"]),
    )


def _transport_problem(error: Exception) -> str:
    """What went wrong, without the RPC URL (it may carry an API key): a JSON-RPC error's message,
    else the kind of transport failure."""
    if isinstance(error, Web3RPCError):
        return str(error)
    return f"cannot reach the RPC endpoint ({type(error).__name__})"
