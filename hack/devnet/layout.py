"""What the devnet registers: two AVSs, their operator sets and curves, who joins which set with which key.

AVS 1: aggregator set 0 on BN254, executor sets 1 (ECDSA) and 2 (BN254). AVS 2: aggregator set 0 on
ECDSA, executor set 1 (ECDSA): together both aggregator curves and both executor curves are covered.
The aggregator operator is a member of every aggregator set, the executor operator of every executor
set; the stranger and the task creator are members of nothing. TEST KEYS ONLY (see keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from hack.devnet import keys

ECDSA, BN254 = "ECDSA", "BN254"
CURVE_IDS = {ECDSA: 1, BN254: 2}  # IKeyRegistrarTypes.CurveType
TASK_SLA_SECONDS = 3600  # per executor set; the TaskMailbox's maximum is deploy.MAX_TASK_SLA_SECONDS
# TaskMailbox consensus: STAKE_PROPORTION_THRESHOLD with 100 % of the set's stake (as the Hourglass
# devkit configures it); every set has one operator of weight 1, so its signature is enough.
CONSENSUS_STAKE_PROPORTION_THRESHOLD = 1
CONSENSUS_THRESHOLD_BPS = 10_000


@dataclass(frozen=True)
class OperatorSetSpec:
    id: int
    curve: str


@dataclass(frozen=True)
class AvsSpec:
    account: int  # mnemonic index of the AVS's EOA (it makes its own calls)
    name: str
    aggregator_set: OperatorSetSpec
    executor_sets: tuple[OperatorSetSpec, ...]

    @property
    def operator_sets(self) -> tuple[OperatorSetSpec, ...]:
        return (self.aggregator_set, *self.executor_sets)


AVSS = (
    AvsSpec(
        keys.AVS_1,
        "hourglass devnet AVS 1",
        aggregator_set=OperatorSetSpec(0, BN254),
        executor_sets=(OperatorSetSpec(1, ECDSA), OperatorSetSpec(2, BN254)),
    ),
    AvsSpec(
        keys.AVS_2,
        "hourglass devnet AVS 2",
        aggregator_set=OperatorSetSpec(0, ECDSA),
        executor_sets=(OperatorSetSpec(1, ECDSA),),
    ),
)

# Operator role -> mnemonic index of its (funded) operator account.
OPERATORS = {"aggregator": keys.AGGREGATOR, "executor": keys.EXECUTOR}

# ECDSA signing key per (role, AVS index): distinct per set because the KeyRegistrar keeps keys unique.
ECDSA_SIGNING_KEYS = {
    ("aggregator", 0): keys.AGGREGATOR_ECDSA,
    ("aggregator", 1): keys.AGGREGATOR_ECDSA,  # only AVS 2's aggregator set is ECDSA
    ("executor", 0): keys.EXECUTOR_ECDSA_AVS_1,
    ("executor", 1): keys.EXECUTOR_ECDSA_AVS_2,
}
BN254_KEY_LABELS = {"aggregator": "aggregator", "executor": "executor", "stranger": "stranger"}


def member_sets(role: str, avs: AvsSpec) -> tuple[OperatorSetSpec, ...]:
    return (avs.aggregator_set,) if role == "aggregator" else avs.executor_sets


def ecdsa_signing_key(role: str, avs_index: int) -> keys.EcdsaKey:
    return keys.mnemonic_key(ECDSA_SIGNING_KEYS[(role, avs_index)])


def bn254_signing_key(role: str) -> bytes:
    return keys.bn254_key(BN254_KEY_LABELS[role])
