"""A challenge token is exactly 64 lower-case hex digits: a live token with more characters is malformed."""

from __future__ import annotations

import pytest
from hourglass_executor.auth import ChallengeTokens, UnauthenticatedError, sign_challenge

from tests.support.aggregator import EXECUTOR

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("suffix", ["0", "\n", " "], ids=["a 65th digit", "a newline", "a space"])
def test_a_live_token_followed_by_more_characters_is_malformed_and_stays_live(suffix: str) -> None:
    tokens = ChallengeTokens(EXECUTOR.address, EXECUTOR)
    token, _ = tokens.issue(EXECUTOR.address, "10.0.0.7")
    longer = token + suffix
    with pytest.raises(UnauthenticatedError) as refused:
        tokens.verify(longer, sign_challenge(EXECUTOR, longer))
    assert str(refused.value) == "malformed challenge token (expected 64 lower-case hex digits)"
    assert tokens.live() == 1  # the real token was not consumed
    tokens.verify(token, sign_challenge(EXECUTOR, token))
