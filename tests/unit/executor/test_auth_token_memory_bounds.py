"""What a requester's issuing allowance and the memory of used tokens are bounded by, however long
a requester waited or how many tokens were used: a flood gets no more than the documented bounds."""

from __future__ import annotations

import pytest
from hourglass_executor.auth import ChallengeTokens, RateLimitedError, UnauthenticatedError, sign_challenge
from hourglass_executor.signing import EcdsaSigner

pytestmark = pytest.mark.unit

OPERATOR = EcdsaSigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


def test_a_requester_idle_for_long_gets_its_burst_back_and_no_more(clock):
    """Its allowance refills to `issue_burst`, not by the whole idle time (it keeps a live token,
    so it is not forgotten as idle)."""
    tokens = ChallengeTokens(
        OPERATOR.address, OPERATOR, clock=clock, ttl=10_000, issue_burst=3, issue_rate=1.0
    )
    tokens.issue(OPERATOR.address, "10.0.0.1")  # kept, unused
    clock.now += 1000
    for _ in range(3):
        token, _ = tokens.issue(OPERATOR.address, "10.0.0.1")
        tokens.verify(token, sign_challenge(OPERATOR, token))
    with pytest.raises(RateLimitedError, match="at most 3 at once"):
        tokens.issue(OPERATOR.address, "10.0.0.1")


def test_at_most_max_retired_used_tokens_are_remembered_the_oldest_forgotten_first(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock, max_retired=2)
    used = []
    for _ in range(3):
        token, _ = tokens.issue(OPERATOR.address, "10.0.0.1")
        tokens.verify(token, sign_challenge(OPERATOR, token))
        used.append(token)
    assert tokens.outstanding() == 2
    with pytest.raises(UnauthenticatedError, match="unknown challenge token"):
        tokens.verify(used[0], sign_challenge(OPERATOR, used[0]))
    for token in used[1:]:
        with pytest.raises(UnauthenticatedError, match="already used"):
            tokens.verify(token, sign_challenge(OPERATOR, token))
