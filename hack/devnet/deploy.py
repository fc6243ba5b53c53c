"""Deploys the EigenLayer contracts a Hourglass task needs onto an empty Anvil chain, from scratch.

The implementations are the creation bytecode of the `eigenlayer-contracts` Go module the Go
executor pins (its pkg/bindings, read by hack/eigenlayer/bindings.py); every contract that disables
its initializers sits behind an OpenZeppelin 4.9 TransparentUpgradeableProxy owned by one ProxyAdmin,
as EigenLayer's own deploy scripts do it: proxies first (pointing at a placeholder), then the
implementations that take the proxies' addresses (the certificate verifiers and the
OperatorTableUpdater need each other's), then `upgradeAndCall` with each initializer.

Source chain (where keys and operator sets live): PermissionController, DelegationManager (with the
StrategyManager and EigenPodManager it reads when an operator registers; no strategies or pods are
deployed), AllocationManager, KeyRegistrar, CrossChainRegistry. Destination chain (the same Anvil):
OperatorTableUpdater, BN254 and ECDSA certificate verifiers, TaskMailbox. The deployer (Anvil's first
account) owns everything, is the only pauser, and nothing is paused. The OperatorTableUpdater's
generator is a one-operator BN254 set whose key is the devnet's generator key (see transport.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from hourglass_executor.signing import bn254

from hack.devnet import keys
from hack.devnet.rpc import Rpc
from hack.devnet.solidity import Artifact
from hack.devnet.toolchain import Toolchain
from hack.eigenlayer.bindings import binding

VERSION = "1.8.0"  # SemVerMixin version of every core contract (the ECDSA domain uses its major "1")
CHAIN_ID = 31337
MIN_WITHDRAWAL_DELAY_BLOCKS = 1
DEALLOCATION_DELAY_BLOCKS = 900
ALLOCATION_CONFIGURATION_DELAY_BLOCKS = 1200
MAX_TASK_SLA_SECONDS = 86_400
TABLE_UPDATE_CADENCE_SECONDS = 1
GLOBAL_ROOT_CONFIRMATION_THRESHOLD_BPS = 10_000
GENERATOR_OPERATOR_SET_ID = 0  # the generator set's AVS is the deployer: (deployer, 0)
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class CoreContracts:
    """Proxy addresses (what everyone calls) of the deployed EigenLayer contracts."""

    proxyAdmin: str
    pauserRegistry: str
    permissionController: str
    delegationManager: str
    strategyManager: str
    eigenPodManager: str
    allocationManager: str
    keyRegistrar: str
    crossChainRegistry: str
    operatorTableUpdater: str
    bn254CertificateVerifier: str
    ecdsaCertificateVerifier: str
    taskMailbox: str
    ecdsaTableCalculator: str
    bn254TableCalculator: str

    def as_dict(self) -> dict[str, str]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


# Contract name in pkg/bindings for each proxied field of CoreContracts, in deploy order.
PROXIED = {
    "permissionController": "PermissionController",
    "delegationManager": "DelegationManager",
    "strategyManager": "StrategyManager",
    "eigenPodManager": "EigenPodManager",
    "allocationManager": "AllocationManager",
    "keyRegistrar": "KeyRegistrar",
    "crossChainRegistry": "CrossChainRegistry",
    "operatorTableUpdater": "OperatorTableUpdater",
    "bn254CertificateVerifier": "BN254CertificateVerifier",
    "ecdsaCertificateVerifier": "ECDSACertificateVerifier",
    "taskMailbox": "TaskMailbox",
}


def generator_operator_set() -> tuple[str, int]:
    return keys.mnemonic_key(keys.DEPLOYER).address, GENERATOR_OPERATOR_SET_ID


def deploy_core(rpc: Rpc, toolchain: Toolchain, artifacts: dict[str, Artifact]) -> CoreContracts:
    deployer = keys.mnemonic_key(keys.DEPLOYER).address
    admin_abi, admin_code = toolchain.openzeppelin_artifact("ProxyAdmin")
    proxy_abi, proxy_code = toolchain.openzeppelin_artifact("TransparentUpgradeableProxy")
    proxy_admin = rpc.deploy(deployer, admin_abi, admin_code, name="ProxyAdmin")
    pauser_registry = rpc.deploy(
        deployer, *_binding("PauserRegistry"), [deployer], deployer, name="PauserRegistry"
    )
    placeholder = artifacts["DevnetProxyPlaceholder"]
    placeholder_address = rpc.deploy(deployer, placeholder.abi, placeholder.bytecode, name="placeholder")
    proxies = {
        field: rpc.deploy(
            deployer, proxy_abi, proxy_code, placeholder_address, proxy_admin, b"", name=f"{name} proxy"
        )
        for field, name in PROXIED.items()
    }
    p = proxies

    constructor_args = {
        "permissionController": (VERSION,),
        "delegationManager": (
            p["strategyManager"], p["eigenPodManager"], p["allocationManager"], pauser_registry,
            p["permissionController"], MIN_WITHDRAWAL_DELAY_BLOCKS, VERSION,
        ),
        "strategyManager": (p["allocationManager"], p["delegationManager"], pauser_registry, VERSION),
        # No beacon-chain ETH: the deposit contract and the pod beacon are never called.
        "eigenPodManager": (ZERO_ADDRESS, ZERO_ADDRESS, p["delegationManager"], pauser_registry, VERSION),
        "allocationManager": (
            p["delegationManager"], ZERO_ADDRESS, pauser_registry, p["permissionController"],
            DEALLOCATION_DELAY_BLOCKS, ALLOCATION_CONFIGURATION_DELAY_BLOCKS, VERSION,
        ),
        "keyRegistrar": (p["permissionController"], p["allocationManager"], VERSION),
        "crossChainRegistry": (
            p["allocationManager"], p["keyRegistrar"], p["permissionController"], pauser_registry, VERSION,
        ),
        "operatorTableUpdater": (
            p["bn254CertificateVerifier"], p["ecdsaCertificateVerifier"], pauser_registry, VERSION,
        ),
        "bn254CertificateVerifier": (p["operatorTableUpdater"], VERSION),
        "ecdsaCertificateVerifier": (p["operatorTableUpdater"], VERSION),
        "taskMailbox": (
            p["bn254CertificateVerifier"], p["ecdsaCertificateVerifier"], MAX_TASK_SLA_SECONDS, VERSION,
        ),
    }  # fmt: skip
    implementations = {
        field: rpc.deploy(deployer, *_binding(PROXIED[field]), *args, name=PROXIED[field])
        for field, args in constructor_args.items()
    }

    admin = rpc.contract(proxy_admin, admin_abi)
    contracts = {field: rpc.contract(address, _binding(PROXIED[field])[0]) for field, address in p.items()}

    def upgrade(field: str, initializer: str | None = None, *args: object) -> None:
        data = contracts[field].encode_abi(initializer, args=list(args)) if initializer else b""
        call = (
            admin.functions.upgradeAndCall(p[field], implementations[field], data)
            if initializer
            else admin.functions.upgrade(p[field], implementations[field])
        )
        rpc.transact(deployer, call, action=f"upgrading the {PROXIED[field]} proxy")

    upgrade("permissionController")
    upgrade("delegationManager", "initialize", 0)
    upgrade("strategyManager", "initialize", deployer, deployer, 0)
    upgrade("eigenPodManager", "initialize", deployer, 0)
    upgrade("allocationManager", "initialize", 0)
    upgrade("keyRegistrar")
    upgrade("crossChainRegistry", "initialize", deployer, TABLE_UPDATE_CADENCE_SECONDS, 0)
    upgrade("bn254CertificateVerifier")
    upgrade("ecdsaCertificateVerifier")
    upgrade(
        "operatorTableUpdater",
        "initialize",
        deployer,
        0,
        generator_operator_set(),
        GLOBAL_ROOT_CONFIRMATION_THRESHOLD_BPS,
        _generator_info(rpc, contracts["bn254CertificateVerifier"]),
    )
    upgrade("taskMailbox", "initialize", deployer, 0, deployer)
    rpc.transact(
        deployer,
        contracts["crossChainRegistry"].functions.addChainIDsToWhitelist(
            [CHAIN_ID], [p["operatorTableUpdater"]]
        ),
    )

    calculators = {
        field: rpc.deploy(
            deployer,
            artifacts[name].abi,
            artifacts[name].bytecode,
            p["allocationManager"],
            p["keyRegistrar"],
            name=name,
        )
        for field, name in (
            ("ecdsaTableCalculator", "DevnetECDSATableCalculator"),
            ("bn254TableCalculator", "DevnetBN254TableCalculator"),
        )
    }
    return CoreContracts(proxyAdmin=proxy_admin, pauserRegistry=pauser_registry, **proxies, **calculators)


def _generator_info(rpc: Rpc, bn254_verifier: object) -> tuple:
    """BN254OperatorSetInfo of the one-operator generator set (weight 1), its leaf from the verifier."""
    public_key = bn254.g1_to_solidity(bn254.public_key_g1(keys.bn254_key("generator")))
    operator_info = (public_key, [1])
    leaf = rpc.call(bn254_verifier.functions.calculateOperatorInfoLeaf(operator_info))
    return (leaf, 1, public_key, [1])


def _binding(name: str) -> tuple[list[dict], str]:
    found = binding(name)
    if found.bytecode is None:
        raise ValueError(f"pkg/bindings/{name} has no deploy bytecode")
    return found.abi, found.bytecode
