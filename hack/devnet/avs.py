"""Registers the devnet's AVSs (layout.py) on the deployed core contracts, as an AVS and its operators would.

Per AVS (its own EOA makes the calls): metadata URI in the AllocationManager (makes it an AVS), its
registrar (DevnetTaskAVSRegistrar) and task hook (DevnetTaskHook), the operator sets, each set's curve
in the KeyRegistrar, and a generation reservation per set in the CrossChainRegistry (owner: the AVS,
no staleness limit, the devnet table calculator of the set's curve). Per operator: DelegationManager
registration, a key per set in the KeyRegistrar (ECDSA: the key's address and its EIP-712 signature;
BN254: G1 ‖ G2 and a BN254 signature over getBN254KeyRegistrationMessageHash), then
registerForOperatorSets (the registrar checks the keys). After the first table transport,
`configure_task_mailbox` sets each executor set's task config (the TaskMailbox only accepts it from
the owner the certificate verifier got with the set's table).
"""

from __future__ import annotations

from eth_abi import encode as abi_encode
from hourglass_executor.signing import bn254
from hourglass_executor.signing.ecdsa import EcdsaSigner

from hack.devnet import keys, layout
from hack.devnet.deploy import CoreContracts
from hack.devnet.rpc import Rpc
from hack.devnet.solidity import Artifact
from hack.eigenlayer.bindings import binding

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def core(rpc: Rpc, contracts: CoreContracts, name: str, binding_name: str) -> object:
    return rpc.contract(getattr(contracts, name), binding(binding_name).abi)


def register_avss(rpc: Rpc, contracts: CoreContracts, artifacts: dict[str, Artifact]) -> list[dict]:
    """Deploys and registers every AVS of the layout; returns their manifest entries (no members yet)."""
    deployer = keys.mnemonic_key(keys.DEPLOYER).address
    allocation = core(rpc, contracts, "allocationManager", "AllocationManager")
    key_registrar = core(rpc, contracts, "keyRegistrar", "KeyRegistrar")
    registry = core(rpc, contracts, "crossChainRegistry", "CrossChainRegistry")
    calculators = {layout.ECDSA: contracts.ecdsaTableCalculator, layout.BN254: contracts.bn254TableCalculator}
    entries = []
    for spec in layout.AVSS:
        avs = keys.mnemonic_key(spec.account).address
        registrar_artifact, hook_artifact = artifacts["DevnetTaskAVSRegistrar"], artifacts["DevnetTaskHook"]
        avs_config = (spec.aggregator_set.id, [s.id for s in spec.executor_sets])
        registrar = rpc.deploy(
            deployer,
            registrar_artifact.abi,
            registrar_artifact.bytecode,
            avs,
            contracts.allocationManager,
            contracts.keyRegistrar,
            contracts.permissionController,
            avs_config,
            name="DevnetTaskAVSRegistrar",
        )
        hook = rpc.deploy(deployer, hook_artifact.abi, hook_artifact.bytecode, name="DevnetTaskHook")
        rpc.transact(avs, allocation.functions.updateAVSMetadataURI(avs, spec.name))
        rpc.transact(avs, allocation.functions.setAVSRegistrar(avs, registrar))
        rpc.transact(
            avs, allocation.functions.createOperatorSets(avs, [(s.id, []) for s in spec.operator_sets])
        )
        for operator_set in spec.operator_sets:
            key = (avs, operator_set.id)
            rpc.transact(
                avs, key_registrar.functions.configureOperatorSet(key, layout.CURVE_IDS[operator_set.curve])
            )
            rpc.transact(
                avs,
                registry.functions.createGenerationReservation(
                    key, calculators[operator_set.curve], (avs, 0)
                ),
            )
        entries.append(
            {
                "address": avs,
                "privateKey": keys.mnemonic_key(spec.account).private_key_hex,
                "name": spec.name,
                "registrar": registrar,
                "taskHook": hook,
                "aggregatorOperatorSetId": spec.aggregator_set.id,
                "aggregatorCurve": spec.aggregator_set.curve,
                "aggregatorOperatorSet": _set_entry(spec.aggregator_set, "aggregator", spec),
                "executorOperatorSets": [_set_entry(s, "executor", spec) for s in spec.executor_sets],
            }
        )
    return entries


def _set_entry(operator_set: layout.OperatorSetSpec, role: str, spec: layout.AvsSpec) -> dict:
    avs_index = layout.AVSS.index(spec)
    member: dict[str, str] = {"role": role, "operator": keys.mnemonic_key(layout.OPERATORS[role]).address}
    if operator_set.curve == layout.ECDSA:
        signing = layout.ecdsa_signing_key(role, avs_index)
        member |= {"ecdsaAddress": signing.address, "ecdsaKey": signing.private_key_hex}
    else:
        member |= {"bn254Key": "0x" + layout.bn254_signing_key(role).hex()}
    entry = {"id": operator_set.id, "curve": operator_set.curve, "members": [member]}
    if role == "executor":
        entry["taskSLA"] = layout.TASK_SLA_SECONDS
    return entry


def register_operators(rpc: Rpc, contracts: CoreContracts) -> None:
    """DelegationManager registration, keys and operator-set membership of the layout's operators."""
    delegation = core(rpc, contracts, "delegationManager", "DelegationManager")
    allocation = core(rpc, contracts, "allocationManager", "AllocationManager")
    key_registrar = core(rpc, contracts, "keyRegistrar", "KeyRegistrar")
    for role, account in layout.OPERATORS.items():
        operator = keys.mnemonic_key(account).address
        rpc.transact(
            operator, delegation.functions.registerAsOperator(ZERO_ADDRESS, 0, f"hourglass devnet {role}")
        )
        for avs_index, spec in enumerate(layout.AVSS):
            avs = keys.mnemonic_key(spec.account).address
            sets = layout.member_sets(role, spec)
            for operator_set in sets:
                key_data, signature = _key_registration(
                    rpc, key_registrar, role, avs_index, operator, (avs, operator_set.id), operator_set.curve
                )
                rpc.transact(
                    operator,
                    key_registrar.functions.registerKey(
                        operator, (avs, operator_set.id), key_data, signature
                    ),
                    action=f"registerKey of the {role} in ({avs}, {operator_set.id})",
                )
            rpc.transact(
                operator,
                allocation.functions.registerForOperatorSets(operator, (avs, [s.id for s in sets], b"")),
                action=f"registerForOperatorSets of the {role} in {avs}",
            )


def _key_registration(
    rpc: Rpc,
    key_registrar: object,
    role: str,
    avs_index: int,
    operator: str,
    operator_set: tuple[str, int],
    curve: str,
) -> tuple[bytes, bytes]:
    """(keyData, signature) proving the operator holds the set's signing key, as registerKey checks them."""
    if curve == layout.ECDSA:
        signing = layout.ecdsa_signing_key(role, avs_index)
        digest = rpc.call(
            key_registrar.functions.getECDSAKeyRegistrationMessageHash(
                operator, operator_set, signing.address
            )
        )
        return bytes.fromhex(signing.address[2:]), EcdsaSigner(signing.private_key).sign_digest(digest)
    private_key = layout.bn254_signing_key(role)
    g1 = bn254.g1_to_solidity(bn254.public_key_g1(private_key))
    g2_x, g2_y = bn254.g2_to_solidity(bn254.public_key_g2(private_key))
    key_data = abi_encode(["uint256", "uint256", "uint256[2]", "uint256[2]"], [g1[0], g1[1], g2_x, g2_y])
    digest = rpc.call(
        key_registrar.functions.getBN254KeyRegistrationMessageHash(operator, operator_set, key_data)
    )
    return key_data, bn254.sign_solidity(private_key, digest)


def configure_task_mailbox(rpc: Rpc, contracts: CoreContracts, avs_entries: list[dict]) -> None:
    """Each executor set's task config (and so its registration) in the TaskMailbox, from its AVS."""
    mailbox = core(rpc, contracts, "taskMailbox", "TaskMailbox")
    consensus = (
        layout.CONSENSUS_STAKE_PROPORTION_THRESHOLD,
        abi_encode(["uint16"], [layout.CONSENSUS_THRESHOLD_BPS]),
    )
    for entry in avs_entries:
        for operator_set in entry["executorOperatorSets"]:
            config = (
                entry["taskHook"],
                operator_set["taskSLA"],
                ZERO_ADDRESS,  # no fee token: tasks are free
                layout.CURVE_IDS[operator_set["curve"]],
                ZERO_ADDRESS,
                consensus,
                b"",
            )
            rpc.transact(
                entry["address"],
                mailbox.functions.setExecutorOperatorSetTaskConfig(
                    (entry["address"], operator_set["id"]), config
                ),
                action=f"setExecutorOperatorSetTaskConfig for ({entry['address']}, {operator_set['id']})",
            )
