"""Step 1 of an aggregator's work on a task: what the chain says at the task's block about who runs it
and how its result is certified (`plan_task`), read the way the Go aggregator reads it:

- the executor operator set's task config (TaskMailbox): its curve and consensus (a stake-proportion
  threshold in basis points; other consensus types are refused, as the Go aggregator does);
- the AVS's registrar config: the aggregator operator set, whose curve says how submissions are
  signed (the executor set must be one of the AVS's executor sets);
- the executor set's members (AllocationManager.getMembers) with their key in the set (KeyRegistrar),
  their socket (registrar.getOperatorSocket: the executor's gRPC address) and their stake weights
  (the set's operator table calculator); members without a key or a weight are left out, as the Go
  aggregator leaves them out;
- BN254 sets: the operator table's operator infos, whose Merkle root must be the operatorInfoTreeRoot
  the BN254 certificate verifier holds at the task's reference timestamp (it proves the table read at
  the task's block is the one transported for that timestamp), and each member's index in it.

The plan is all an aggregator needs later, so dispatching and certifying need no further reads of
the operator set (a test can stop the chain between the steps).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode as abi_encode
from hourglass_executor.signing import BN254, ECDSA, CurveType, bn254, keccak256

from hack.aggregator.chain import STAKE_PROPORTION_THRESHOLD, Bn254OperatorInfo, ChainView, TaskCreated
from hack.aggregator.signatures import RegisteredKey
from hack.devnet import merkle

OPERATOR_INFO_LEAF_SALT = b"\x75"  # LeafCalculatorMixin.OPERATOR_INFO_LEAF_SALT
BASIS_POINTS = 10_000


class PlanError(Exception):
    """The task cannot be run as the chain configures it; the message says why."""


@dataclass(frozen=True)
class ExecutorOperator:
    """A member of the task's executor operator set that can take the task."""

    address: str  # the operator (as getMembers returns it)
    socket: str  # its executor's gRPC address ("" when it registered none)
    key: RegisteredKey
    weights: tuple[int, ...]
    table_index: int  # BN254: its position in the operator table; ECDSA: in the members list


@dataclass(frozen=True)
class TaskPlan:
    task: TaskCreated
    aggregator_operator_set_id: int
    aggregator_curve: CurveType
    curve: CurveType  # the executor operator set's
    threshold_bips: int
    operators: tuple[ExecutorOperator, ...]
    skipped: tuple[tuple[str, str], ...]  # (member, why it gets no submission)
    total_weight: int  # the set's total of the first stake weight (what the threshold is a share of)
    bn254_table: tuple[Bn254OperatorInfo, ...] = ()  # BN254 sets: the operator table, in order

    @property
    def required_weight(self) -> int:
        """The signers' weight a certificate needs (the Go aggregator's threshold arithmetic)."""
        return self.total_weight * self.threshold_bips // BASIS_POINTS


def operator_info_leaf(info: Bn254OperatorInfo) -> bytes:
    """LeafCalculatorMixin.calculateOperatorInfoLeaf: keccak256(salt ‖ abi.encode(operatorInfo))."""
    encoded = abi_encode(
        ["((uint256,uint256),uint256[])"], [(bn254.g1_to_solidity(info.public_key_g1), list(info.weights))]
    )
    return keccak256(OPERATOR_INFO_LEAF_SALT + encoded)


def operator_info_leaves(table: tuple[Bn254OperatorInfo, ...]) -> list[bytes]:
    return [operator_info_leaf(info) for info in table]


def plan_task(chain: ChainView, task: TaskCreated) -> TaskPlan:
    """Reads everything about `task` at its block (see the module docstring); PlanError when the task
    cannot be run, a ChainError when a read fails."""
    avs, set_id, block = task.avs, task.executor_operator_set_id, task.block_number
    where = f"operator set {set_id} of AVS {avs}"
    config = chain.task_config(avs, set_id, block)
    if config.consensus_type != STAKE_PROPORTION_THRESHOLD:
        raise PlanError(f"{where}: consensus type {config.consensus_type} is not STAKE_PROPORTION_THRESHOLD")
    if not 0 < config.threshold_bips <= BASIS_POINTS:
        raise PlanError(f"{where}: threshold {config.threshold_bips} bps is not in 1..{BASIS_POINTS}")
    registrar = chain.registrar(avs, block)
    aggregator_set, executor_sets = chain.avs_config(registrar, block)
    if set_id not in executor_sets:
        raise PlanError(f"{where} is not one of the AVS's executor operator sets {list(executor_sets)}")
    aggregator_curve = chain.curve_type(avs, aggregator_set, block)
    if aggregator_curve is None:
        raise PlanError(f"the aggregator operator set {aggregator_set} of AVS {avs} has no curve type")
    curve = chain.curve_type(avs, set_id, block)
    if curve != config.curve:
        raise PlanError(f"{where}: the KeyRegistrar's curve {curve} is not the task config's {config.curve}")

    weights = chain.operator_set_weights(avs, set_id, block)
    table: tuple[Bn254OperatorInfo, ...] = ()
    if curve == BN254:
        table = tuple(chain.operator_infos(avs, set_id, block))
        held = chain.operator_info_tree_root(avs, set_id, task.reference_timestamp)
        if not table or merkle.root(operator_info_leaves(table)) != held:
            raise PlanError(
                f"{where}: the operator table read at block {block} is not the one the BN254 verifier "
                f"holds for reference timestamp {task.reference_timestamp}"
            )
        total = sum(info.weights[0] for info in table if info.weights)
    else:
        total = sum(w[0] for w in weights.values() if w)

    operators, skipped = [], []
    for position, member in enumerate(chain.members(avs, set_id, block)):
        weight = weights.get(member.lower())
        if not weight:
            skipped.append((member, "no stake weight in the operator table"))
            continue
        if curve == ECDSA:
            address = chain.ecdsa_address(avs, set_id, member, block)
            if address is None:
                skipped.append((member, "no ECDSA key in the operator set"))
                continue
            key, index = RegisteredKey(ECDSA, ecdsa_address=address), position
        else:
            keys = chain.bn254_key(avs, set_id, member, block)
            if keys is None:
                skipped.append((member, "no BN254 key in the operator set"))
                continue
            indexes = [i for i, info in enumerate(table) if info.public_key_g1 == keys[0]]
            if not indexes:
                skipped.append((member, "its BN254 key is not in the transported operator table"))
                continue
            key, index = RegisteredKey(BN254, bn254_g2=keys[1]), indexes[0]
        socket = chain.socket(registrar, member, block)
        operators.append(ExecutorOperator(member, socket, key, weight, index))
    if not operators:
        raise PlanError(f"{where} has no member that can take the task: {skipped}")
    return TaskPlan(
        task=task,
        aggregator_operator_set_id=aggregator_set,
        aggregator_curve=aggregator_curve,
        curve=curve,
        threshold_bips=config.threshold_bips,
        operators=tuple(operators),
        skipped=tuple(skipped),
        total_weight=total,
        bn254_table=table,
    )
