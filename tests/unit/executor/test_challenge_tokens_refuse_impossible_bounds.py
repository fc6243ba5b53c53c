"""ChallengeTokens refuses a TTL, rate or bound that would make issuing tokens impossible."""

from __future__ import annotations

from typing import Any

import pytest
from hourglass_executor.auth import ChallengeTokens

from tests.support.aggregator import EXECUTOR

pytestmark = pytest.mark.unit

IMPOSSIBLE = [
    ("ttl zero", {"ttl": 0}),
    ("ttl negative", {"ttl": -1}),
    ("issue_rate zero", {"issue_rate": 0.0}),
    ("max_tokens zero", {"max_tokens": 0}),
    ("max_per_requester zero", {"max_per_requester": 0}),
    ("issue_burst zero", {"issue_burst": 0}),
]


@pytest.mark.parametrize("bounds", [b[1] for b in IMPOSSIBLE], ids=[b[0] for b in IMPOSSIBLE])
def test_an_impossible_bound_is_refused_when_the_tokens_are_made(bounds: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be positive, the token bounds and burst at least 1"):
        ChallengeTokens(EXECUTOR.address, EXECUTOR, **bounds)


def test_the_smallest_possible_bounds_issue_one_token() -> None:
    tokens = ChallengeTokens(
        EXECUTOR.address, EXECUTOR, ttl=1, issue_rate=0.001, max_tokens=1, max_per_requester=1, issue_burst=1
    )
    token, _ = tokens.issue(EXECUTOR.address, "10.0.0.7")
    assert len(token) == 64 and tokens.live() == 1
