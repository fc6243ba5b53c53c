"""The local chain as one object: `Devnet.up()` gives a running Anvil (chain id 31337) with the EigenLayer
contracts, the two devnet AVSs, their operators and transported operator tables, and the calls tests
make on it (create a task, submit a result, move sockets, transport tables again, stop and restart).

`up` deploys from scratch only when the state cache for the current inputs is missing: the npm
versions (versions.env), the eigenlayer-contracts version (hack/eigenlayer/version.env), the
contracts in contracts/ and the deploy code (DEPLOY_CODE below). The deploy runs on a throw-away
Anvil whose dump becomes `<cache>/state/<key>/state.json` beside `deployment.json` (the manifest
without its RPC URL); every instance starts from a copy of that state in its own directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from web3.contract import Contract

from hack.aggregator.chain import TaskCreated, TaskVerified, task_created, task_verified
from hack.devnet import avs as avs_setup
from hack.devnet import deploy, manifest
from hack.devnet.anvil import Anvil, free_port
from hack.devnet.errors import DevnetError
from hack.devnet.rpc import Rpc
from hack.devnet.solidity import compile_contracts, source_key
from hack.devnet.toolchain import VERSIONS_FILE, Toolchain, cache_lock, cache_root, install
from hack.devnet.transport import Transport, transport_operator_tables
from hack.eigenlayer.bindings import VERSION_FILE as EIGENLAYER_VERSION_FILE
from hack.eigenlayer.bindings import binding

HERE = Path(__file__).parent
DEPLOY_CODE = ("deploy.py", "avs.py", "transport.py", "layout.py", "keys.py", "merkle.py", "manifest.py")
TASK_STATUSES = ("NONE", "CREATED", "VERIFIED", "EXPIRED")  # ITaskMailboxTypes.TaskStatus
RPC_READY_TIMEOUT = 30.0
# The core contracts the executor's JSON-RPC chain reader calls (its `chain.contracts` keys).
EXECUTOR_CONTRACTS = (
    "allocationManager",
    "keyRegistrar",
    "taskMailbox",
    "bn254CertificateVerifier",
    "ecdsaCertificateVerifier",
)
BLOCK_TIME_SECONDS = 1  # an empty block every second besides one per transaction (see anvil.py)
# Manifest contract name -> pkg/bindings contract whose ABI it has.
BINDINGS = {
    "allocationManager": "AllocationManager",
    "delegationManager": "DelegationManager",
    "keyRegistrar": "KeyRegistrar",
    "permissionController": "PermissionController",
    "taskMailbox": "TaskMailbox",
    "bn254CertificateVerifier": "BN254CertificateVerifier",
    "ecdsaCertificateVerifier": "ECDSACertificateVerifier",
    "operatorTableUpdater": "OperatorTableUpdater",
    "crossChainRegistry": "CrossChainRegistry",
}


def deployment_key(toolchain: Toolchain) -> str:
    parts = [
        VERSIONS_FILE.read_text(),
        EIGENLAYER_VERSION_FILE.read_text(),
        source_key(toolchain.versions["SOLC_VERSION"]),
        *((HERE / name).read_text() for name in DEPLOY_CODE),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def cached_deployment(toolchain: Toolchain) -> Path:
    """The state-cache directory for the current inputs, deploying into it first when it is missing."""
    target = cache_root() / "state" / deployment_key(toolchain)
    if (target / "deployment.json").exists():
        return target
    with cache_lock("deploy"):
        if (target / "deployment.json").exists():
            return target
        for stale in target.parent.glob(f".{target.name}.*"):  # what an interrupted deploy left
            shutil.rmtree(stale, ignore_errors=True)
        work = target.with_name(f".{target.name}.{os.getpid()}")
        work.mkdir(parents=True)
        anvil = Anvil(toolchain.anvil, free_port(), work / "state.json", preserve_history=False)
        anvil.start()
        try:
            rpc = _ready_rpc(anvil.rpc_url)
            deployment = _deploy_everything(rpc, toolchain)
        finally:
            anvil.stop()
        manifest.write(work / "deployment.json", deployment)
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    return target


def _deploy_everything(rpc: Rpc, toolchain: Toolchain) -> dict:
    artifacts = compile_contracts(toolchain)
    contracts = deploy.deploy_core(rpc, toolchain, artifacts)
    avss = avs_setup.register_avss(rpc, contracts, artifacts)
    avs_setup.register_operators(rpc, contracts)
    transport = _transport(rpc, contracts.as_dict())
    avs_setup.configure_task_mailbox(rpc, contracts, avss)
    return manifest.deployment(contracts, avss, transport)


def _transport(rpc: Rpc, contracts: dict[str, str]) -> Transport:
    updater = rpc.contract(contracts["operatorTableUpdater"], binding("OperatorTableUpdater").abi)
    registry = rpc.contract(contracts["crossChainRegistry"], binding("CrossChainRegistry").abi)
    transporter = manifest.accounts()["deployer"]["address"]
    return transport_operator_tables(rpc, updater, registry, transporter)


def _ready_rpc(url: str) -> Rpc:
    rpc = Rpc(url)
    deadline = time.monotonic() + RPC_READY_TIMEOUT
    while True:
        try:
            if rpc.w3.eth.chain_id == deploy.CHAIN_ID:
                return rpc
            raise DevnetError(f"{url} is not the devnet chain (chain id {rpc.w3.eth.chain_id})")
        except (OSError, ValueError) as error:  # requests' ConnectionError is an OSError
            if time.monotonic() > deadline:
                raise DevnetError(f"{url} does not answer JSON-RPC: {error}") from None
            time.sleep(0.05)


class Devnet:
    """A running (or stopped) devnet instance: an Anvil, its state directory and its manifest."""

    def __init__(self, anvil: Anvil, state_dir: Path, manifest_data: dict) -> None:
        self.anvil = anvil
        self.state_dir = state_dir
        self.manifest = manifest_data
        self._rpc: Rpc | None = None
        self._registrar_abi: list[dict] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def up(cls, state_dir: Path | None = None, port: int | None = None) -> Devnet:
        """Starts a devnet from the cached deployment in `state_dir` (default `<cache>/run`, whose
        previous chain is replaced) on `port` (default: a free one); returns once it answers JSON-RPC."""
        toolchain = install()
        cached = cached_deployment(toolchain)
        state_dir = Path(state_dir) if state_dir else cache_root() / "run"
        state_dir.mkdir(parents=True, exist_ok=True)
        anvil = Anvil(
            toolchain.anvil, port or free_port(), state_dir / "state.json", block_time=BLOCK_TIME_SECONDS
        )
        if anvil.running():
            raise DevnetError(f"a devnet is already running from {state_dir}")
        shutil.copyfile(cached / "state.json", anvil.state_file)
        manifest_data = json.loads((cached / "deployment.json").read_text())
        anvil.start()
        try:
            rpc = _ready_rpc(anvil.rpc_url)
        except DevnetError:
            anvil.stop(keep_state=False)
            raise
        manifest_data["rpcUrl"] = anvil.rpc_url
        devnet = cls(anvil, state_dir, manifest_data)
        devnet._rpc = rpc
        instance = {"anvil": str(toolchain.anvil), "port": anvil.port, "deployment": cached.name}
        cls._instance_file(state_dir).write_text(json.dumps(instance) + "\n")
        # The cached chain has no history before the load, so the latest tables' reference block
        # would be unreadable (BlockOutOfRangeError) to an aggregator that reads the operator infos
        # there, as the Go aggregator does: transport them once more at a block of this run.
        devnet.transport_operator_tables()
        return devnet

    @classmethod
    def attach(cls, state_dir: Path | None = None) -> Devnet:
        """The instance of `state_dir` (default `<cache>/run`), running or not, from its files."""
        state_dir = Path(state_dir) if state_dir else cache_root() / "run"
        instance = cls._instance_file(state_dir)
        if not instance.exists():
            raise DevnetError(f"no devnet instance in {state_dir} (run `up` first)")
        info = json.loads(instance.read_text())
        anvil = Anvil(
            Path(info["anvil"]), info["port"], state_dir / "state.json", block_time=BLOCK_TIME_SECONDS
        )
        return cls(anvil, state_dir, json.loads((state_dir / "manifest.json").read_text()))

    @staticmethod
    def _instance_file(state_dir: Path) -> Path:
        return state_dir / "instance.json"

    def stop(self) -> None:
        """Stops Anvil for good (no state dump: the next `up` starts from the cached deployment)."""
        self.anvil.stop(keep_state=False)

    def stop_anvil(self) -> None:
        """Stops Anvil as an RPC outage would; the chain is dumped into the state file first, so that
        `restart_anvil` brings it back as it was (blocks, state, reads at past blocks)."""
        self.anvil.stop(keep_state=True)

    def restart_anvil(self) -> None:
        """Starts Anvil again on the same port from the state it was stopped with."""
        self.anvil.start()
        self._rpc = _ready_rpc(self.anvil.rpc_url)

    def running(self) -> bool:
        return self.anvil.running()

    # -- access -----------------------------------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        return self.manifest["rpcUrl"]

    @property
    def rpc(self) -> Rpc:
        if self._rpc is None:
            self._rpc = Rpc(self.rpc_url)
        return self._rpc

    @property
    def executor_contracts(self) -> dict[str, str]:
        """The executor's `chain.contracts` for this chain: the addresses its JSON-RPC reader calls."""
        return {key: self.manifest["contracts"][key] for key in EXECUTOR_CONTRACTS}

    def contract(self, name: str) -> Contract:
        """A core contract of the manifest (`taskMailbox`, `keyRegistrar`, …) with its binding's ABI."""
        return self.rpc.contract(self.manifest["contracts"][name], binding(BINDINGS[name]).abi)

    def avs(self, avs: str) -> dict:
        for entry in self.manifest["avss"]:
            if entry["address"].lower() == avs.lower():
                return entry
        raise DevnetError(
            f"{avs} is not a devnet AVS (known: {[a['address'] for a in self.manifest['avss']]})"
        )

    def registrar(self, avs: str) -> Contract:
        if self._registrar_abi is None:
            self._registrar_abi = compile_contracts(install())["DevnetTaskAVSRegistrar"].abi
        return self.rpc.contract(self.avs(avs)["registrar"], self._registrar_abi)

    # -- tasks --------------------------------------------------------------------------------------

    def create_task(
        self, avs: str, operator_set_id: int, payload: bytes, *, creator: str | None = None
    ) -> TaskCreated:
        """TaskMailbox.createTask from the task creator (refunds to itself); the decoded TaskCreated."""
        creator = creator or self.manifest["accounts"]["taskCreator"]["address"]
        mailbox = self.contract("taskMailbox")
        receipt = self.rpc.transact(
            creator,
            mailbox.functions.createTask((creator, (avs, operator_set_id), payload)),
            action=f"createTask on ({avs}, {operator_set_id})",
        )
        (event,) = mailbox.events.TaskCreated().process_receipt(receipt)
        return task_created(event)

    def submit_result(
        self, task_hash: bytes, cert_bytes: bytes, result: bytes, *, sender: str | None = None
    ) -> TaskVerified:
        """TaskMailbox.submitResult (from the aggregator operator by default); the decoded TaskVerified.

        The TaskMailbox rejects a result in the task's own second (TimestampAtCreation), and gas is
        estimated against the latest block, so this first waits for a block of a later second (Anvil
        mines one every second). A revert raises RevertError naming the contract's error (e.g.
        VerificationFailed())."""
        sender = sender or self.manifest["accounts"]["aggregator"]["address"]
        mailbox = self.contract("taskMailbox")
        created = self.rpc.call(mailbox.functions.getTaskInfo(task_hash))[1]  # Task.creationTime
        self.wait_for_block_after(created)
        receipt = self.rpc.transact(
            sender, mailbox.functions.submitResult(task_hash, cert_bytes, result), action="submitResult"
        )
        return task_verified(mailbox, receipt)

    def wait_for_block_after(self, timestamp: int, timeout: float = 30.0) -> dict:
        """The first latest block whose timestamp is past `timestamp` (polls the chain)."""
        deadline = time.monotonic() + timeout
        while True:
            block = self.rpc.w3.eth.get_block("latest")
            if block["timestamp"] > timestamp:
                return block
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"no block after timestamp {timestamp} within {timeout} s (is Anvil mining?)"
                )
            time.sleep(0.05)

    def task_status(self, task_hash: bytes) -> str:
        """NONE, CREATED, VERIFIED or EXPIRED (TaskMailbox.getTaskStatus)."""
        return TASK_STATUSES[self.rpc.call(self.contract("taskMailbox").functions.getTaskStatus(task_hash))]

    def message_hash(self, task_hash: bytes, result: bytes) -> bytes:
        """TaskMailbox.getMessageHash: keccak256(abi.encode(taskHash, result))."""
        return self.rpc.call(self.contract("taskMailbox").functions.getMessageHash(task_hash, result))

    def certificate_digest(self, curve: str, reference_timestamp: int, message_hash: bytes) -> bytes:
        """What an executor's key signs for a certificate: the `calculateCertificateDigest` of the
        curve's verifier (ECDSA: the EIP-712 digest with the verifier's domain separator)."""
        name = {"ECDSA": "ecdsaCertificateVerifier", "BN254": "bn254CertificateVerifier"}[curve]
        verifier = self.contract(name)
        return self.rpc.call(verifier.functions.calculateCertificateDigest(reference_timestamp, message_hash))

    # -- operators and tables -----------------------------------------------------------------------

    def update_socket(self, operator: str, socket: str, avs: str | None = None) -> None:
        """Sets the operator's socket (sent by the operator) in the registrar of `avs`, default every AVS."""
        targets = [self.avs(avs)] if avs else self.manifest["avss"]
        for entry in targets:
            registrar = self.registrar(entry["address"])
            self.rpc.transact(
                operator, registrar.functions.updateSocket(operator, socket), action="updateSocket"
            )

    def set_task_sla(self, avs: str, operator_set_id: int, seconds: int) -> None:
        """Changes an executor set's task SLA (sent by its AVS; the rest of the task config stays);
        tasks created afterwards expire `seconds` after creation. Manifest entry updated."""
        mailbox = self.contract("taskMailbox")
        key = (self.avs(avs)["address"], operator_set_id)
        config = list(self.rpc.call(mailbox.functions.getExecutorOperatorSetTaskConfig(key)))
        config[1] = seconds  # ExecutorOperatorSetTaskConfig.taskSLA
        self.rpc.transact(key[0], mailbox.functions.setExecutorOperatorSetTaskConfig(key, tuple(config)))
        for operator_set in self.avs(avs)["executorOperatorSets"]:
            if operator_set["id"] == operator_set_id:
                operator_set["taskSLA"] = seconds
        self._write_manifest()

    def transport_operator_tables(self) -> Transport:
        """Transports every reserved set's current table at a new reference timestamp (see transport.py);
        tasks created afterwards reference it. The manifest's `transport` entry is updated."""
        transport = _transport(self.rpc, self.manifest["contracts"])
        self.manifest["transport"] = manifest.transport_entry(transport)
        self._write_manifest()
        return transport

    def _write_manifest(self) -> None:
        manifest.write(self.state_dir / "manifest.json", self.manifest)
