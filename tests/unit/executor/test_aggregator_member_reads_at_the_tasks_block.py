"""The aggregator's registration is read at the task's block; a set without it is an unknown aggregator."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.chain import (
    AvsConfig,
    OperatorNotRegisteredError,
    OperatorSetMember,
    UnknownOperatorSetError,
)
from hourglass_executor.signing import ECDSA
from hourglass_executor.task_signing import UnknownAggregatorError, aggregator_member

pytestmark = pytest.mark.unit

AVS = "0x" + "ab" * 20
AGGREGATOR = "0x" + "cd" * 20


class RecordingChain:
    """The two reads `aggregator_member` makes, recorded with their arguments."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.reads: list[tuple[str, ...]] = []

    async def avs_config(self, avs: str, block: int) -> AvsConfig:
        self.reads.append(("avs_config", avs, str(block)))
        return AvsConfig(aggregator_operator_set_id=5, executor_operator_set_ids=(0, 1))

    async def operator_set_member(
        self, avs: str, operator_set_id: int, operator: str, block: int
    ) -> OperatorSetMember:
        self.reads.append(("operator_set_member", avs, str(operator_set_id), operator, str(block)))
        if self.failure is not None:
            raise self.failure
        return OperatorSetMember(operator, ECDSA, "", operator, None, None)


def test_both_reads_are_at_the_tasks_block_in_the_aggregator_set() -> None:
    chain = RecordingChain()
    member = asyncio.run(aggregator_member(chain, AVS, AGGREGATOR, 12_345))  # type: ignore[arg-type]
    assert member.operator == AGGREGATOR
    assert chain.reads == [
        ("avs_config", AVS, "12345"),
        ("operator_set_member", AVS, "5", AGGREGATOR, "12345"),
    ]


@pytest.mark.parametrize(
    "failure",
    [UnknownOperatorSetError("operator set 5 has no curve type"), OperatorNotRegisteredError("no key")],
    ids=["set-not-configured", "not-registered"],
)
def test_an_aggregator_set_without_the_aggregator_is_an_unknown_aggregator(failure: Exception) -> None:
    chain = RecordingChain(failure)
    with pytest.raises(
        UnknownAggregatorError, match=f"is not registered in aggregator operator set 5 of AVS {AVS}"
    ):
        asyncio.run(aggregator_member(chain, AVS, AGGREGATOR, 7))  # type: ignore[arg-type]
