"""Management challenge tokens: issue, verify once, expiry, signatures over the double hash (ECDSA and
BN254 keys), addresses, issuing bounds (per requester and in all, rate limit, no eviction of live
tokens), memory bound."""

from __future__ import annotations

import math
import re
import threading

import pytest
from hourglass_executor.auth import (
    DEFAULT_MAX_PER_REQUESTER,
    ChallengeTokens,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    requester_of,
    sign_challenge,
)
from hourglass_executor.signing import EcdsaSigner, keccak256
from hourglass_executor.signing.bn254 import Bn254Signer

pytestmark = pytest.mark.unit

OPERATOR = EcdsaSigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
OTHER = EcdsaSigner("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")


@pytest.fixture
def tokens(clock):
    return ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock)


def test_issued_tokens_are_64_lower_case_hex_and_expire_in_five_minutes(tokens):
    token, expires_at = tokens.issue(OPERATOR.address)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert isinstance(expires_at, int)
    assert expires_at == 1_700_000_300  # whole seconds: the clock says 1_700_000_000.5
    assert tokens.issue(OPERATOR.address)[0] != token


def test_a_signed_token_is_accepted(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    tokens.verify(token, sign_challenge(OPERATOR, token))


def test_a_token_is_single_use(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    signature = sign_challenge(OPERATOR, token)
    tokens.verify(token, signature)
    with pytest.raises(UnauthenticatedError, match="already used"):
        tokens.verify(token, signature)


def test_a_failed_attempt_consumes_the_token(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="bad challenge signature"):
        tokens.verify(token, sign_challenge(OTHER, token))
    with pytest.raises(UnauthenticatedError, match="already used"):
        tokens.verify(token, sign_challenge(OPERATOR, token))


def test_an_expired_token_is_rejected(tokens, clock):
    token, expires_at = tokens.issue(OPERATOR.address)
    clock.now = expires_at
    with pytest.raises(UnauthenticatedError, match="expired"):
        tokens.verify(token, sign_challenge(OPERATOR, token))


def test_a_token_is_valid_until_just_before_its_expiry(tokens, clock):
    token, expires_at = tokens.issue(OPERATOR.address)
    clock.now = expires_at - 0.001
    tokens.verify(token, sign_challenge(OPERATOR, token))


def test_a_signature_by_another_key_is_rejected(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="not the executor's ECDSA signing key's signature"):
        tokens.verify(token, sign_challenge(OTHER, token))


def test_the_signature_covers_the_token_hashed_twice(tokens):
    """The Go client signs keccak256(keccak256(token)) (its helper hashes once, its signer again):
    that is accepted; a signature over the single hash is not."""
    token, _ = tokens.issue(OPERATOR.address)
    tokens.verify(token, OPERATOR.sign_digest(keccak256(keccak256(token.encode()))))
    token, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="bad challenge signature"):
        tokens.verify(token, OPERATOR.sign_digest(keccak256(token.encode())))


def test_sign_challenge_signs_the_double_hash():
    token = "ab" * 32
    assert sign_challenge(OPERATOR, token) == OPERATOR.sign_digest(keccak256(keccak256(token.encode())))


def test_a_signature_over_another_token_is_rejected(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    other, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="bad challenge signature"):
        tokens.verify(token, sign_challenge(OPERATOR, other))


def test_a_malformed_signature_is_rejected(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="bad challenge signature"):
        tokens.verify(token, b"\x01" * 64)


@pytest.mark.parametrize(
    "token,message",
    [
        ("", "missing challenge token"),
        ("A" * 64, "malformed challenge token"),
        ("ab" * 31, "malformed challenge token"),
        ("cd" * 32, "unknown challenge token"),
    ],
)
def test_missing_malformed_and_unknown_tokens_are_rejected(tokens, token, message):
    with pytest.raises(UnauthenticatedError, match=message):
        tokens.verify(token, sign_challenge(OPERATOR, token))


def test_another_address_is_denied_a_token(tokens):
    with pytest.raises(PermissionDeniedError):
        tokens.issue(OTHER.address)
    with pytest.raises(PermissionDeniedError):
        tokens.issue("not an address")


def test_the_address_compare_is_case_insensitive(tokens):
    token, _ = tokens.issue(OPERATOR.address.lower())
    tokens.verify(token, sign_challenge(OPERATOR, token))
    token, _ = tokens.issue("0x" + OPERATOR.address[2:].upper())
    tokens.verify(token, sign_challenge(OPERATOR, token))


def test_the_signing_key_need_not_be_the_operator_address(clock):
    tokens = ChallengeTokens("0x" + "12" * 20, OTHER, clock=clock)
    token, _ = tokens.issue("0x" + "12" * 20)
    tokens.verify(token, sign_challenge(OTHER, token))
    token, _ = tokens.issue("0x" + "12" * 20)
    with pytest.raises(UnauthenticatedError):
        tokens.verify(token, sign_challenge(OPERATOR, token))


def test_old_tokens_are_purged(tokens, clock):
    for _ in range(5):
        tokens.issue(OPERATOR.address)
    assert tokens.outstanding() == 5
    token, _ = tokens.issue(OPERATOR.address)
    clock.now += 300
    with pytest.raises(UnauthenticatedError, match="expired"):
        tokens.verify(token, sign_challenge(OPERATOR, token))
    clock.now += 300
    assert tokens.outstanding() == 0
    with pytest.raises(UnauthenticatedError, match="unknown"):
        tokens.verify(token, sign_challenge(OPERATOR, token))


def test_a_flood_of_token_requests_is_refused_and_never_evicts_a_live_token(clock):
    """Issue 11 item 6: 1100 requests (as many as a loopback client makes in 1-3 s) used to push a
    legitimate token out of the bounded table; now the flood is refused and the token still works,
    whether the flood comes from another address or from the legitimate client's own."""
    for flood_from in ("10.0.0.66", "10.0.0.7"):
        tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock)
        legitimate, _ = tokens.issue(OPERATOR.address, "10.0.0.7")
        refused: list[RateLimitedError] = []
        for _ in range(1100):
            clock.now += 0.002
            try:
                tokens.issue(OPERATOR.address, flood_from)
            except RateLimitedError as error:
                refused.append(error)
        assert len(refused) >= 1100 - DEFAULT_MAX_PER_REQUESTER
        assert all(1 <= error.retry_after <= 300 and "retry in" in str(error) for error in refused)
        tokens.verify(legitimate, sign_challenge(OPERATOR, legitimate))
        if flood_from != "10.0.0.7":  # another address's flood does not delay this client's tokens
            token, _ = tokens.issue(OPERATOR.address, "10.0.0.7")
            tokens.verify(token, sign_challenge(OPERATOR, token))


def test_one_requester_holds_at_most_max_per_requester_live_tokens(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock, max_per_requester=3)
    first, expires_at = tokens.issue(OPERATOR.address, "10.0.0.1")
    clock.now += 10
    held = [tokens.issue(OPERATOR.address, "10.0.0.1")[0] for _ in range(2)]
    with pytest.raises(RateLimitedError, match="holds 3 unused challenge tokens") as caught:
        tokens.issue(OPERATOR.address, "10.0.0.1")
    assert caught.value.retry_after == math.ceil(expires_at - clock.now)  # when the oldest expires
    tokens.issue(OPERATOR.address, "10.0.0.2")  # another requester is not affected
    tokens.verify(first, sign_challenge(OPERATOR, first))  # using a token frees its place
    token, _ = tokens.issue(OPERATOR.address, "10.0.0.1")
    for each in [*held, token]:
        tokens.verify(each, sign_challenge(OPERATOR, each))


def test_expired_tokens_free_their_places(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock, max_per_requester=2)
    tokens.issue(OPERATOR.address, "10.0.0.1")
    tokens.issue(OPERATOR.address, "10.0.0.1")
    with pytest.raises(RateLimitedError):
        tokens.issue(OPERATOR.address, "10.0.0.1")
    clock.now += 300
    token, _ = tokens.issue(OPERATOR.address, "10.0.0.1")
    tokens.verify(token, sign_challenge(OPERATOR, token))


def test_issuing_is_rate_limited_per_requester(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock, issue_burst=3, issue_rate=0.5)
    for _ in range(3):
        token, _ = tokens.issue(OPERATOR.address, "10.0.0.1")
        tokens.verify(token, sign_challenge(OPERATOR, token))  # used at once: only the rate limits
    with pytest.raises(RateLimitedError, match=r"at most 3 at once, then 0.5 per second\); retry in 2 s"):
        tokens.issue(OPERATOR.address, "10.0.0.1")
    tokens.issue(OPERATOR.address, "10.0.0.2")
    clock.now += 2
    tokens.issue(OPERATOR.address, "10.0.0.1")
    with pytest.raises(RateLimitedError):
        tokens.issue(OPERATOR.address, "10.0.0.1")


def test_all_requesters_together_hold_at_most_max_tokens_live_tokens(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock, max_tokens=3)
    first, expires_at = tokens.issue(OPERATOR.address, "10.0.0.1")
    clock.now += 1
    for index in range(2, 4):
        tokens.issue(OPERATOR.address, f"10.0.0.{index}")
    with pytest.raises(RateLimitedError, match="maximum of 3 unused challenge tokens") as caught:
        tokens.issue(OPERATOR.address, "10.0.0.9")
    assert caught.value.retry_after == math.ceil(expires_at - clock.now)
    assert tokens.live() == 3
    tokens.verify(first, sign_challenge(OPERATOR, first))  # the oldest was not evicted
    tokens.issue(OPERATOR.address, "10.0.0.9")


def test_idle_requesters_are_forgotten(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock)
    for index in range(1000):
        token, _ = tokens.issue(OPERATOR.address, f"10.0.{index // 256}.{index % 256}")
        tokens.verify(token, sign_challenge(OPERATOR, token))
    clock.now += 20  # every allowance refilled
    tokens.issue(OPERATOR.address, "10.9.9.9")
    assert list(tokens._requesters) == ["10.9.9.9"]  # the only requester with a live token


@pytest.mark.parametrize(
    "peer,requester",
    [
        ("ipv4:10.1.2.3:51234", "10.1.2.3"),
        ("ipv4:127.0.0.1:1", "127.0.0.1"),
        ("ipv6:[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"),
        ("ipv6:%5B2001:db8:1:2::9%5D:443", "2001:db8:1:2::/64"),
        ("ipv6:[::ffff:10.1.2.3]:51234", "10.1.2.3"),
        ("ipv6:[::1]:51234", "::/64"),
        ("unix:/run/executor.sock", "unix"),
        ("unix-abstract:executor", "unix"),
        ("something else", "something else"),
    ],
)
def test_the_requester_is_the_peers_ip_without_port_and_ipv6_by_its_64_prefix(peer, requester):
    assert requester_of(peer) == requester


def test_concurrent_verifications_accept_a_token_once(tokens):
    token, _ = tokens.issue(OPERATOR.address)
    signature = sign_challenge(OPERATOR, token)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt():
        barrier.wait()
        try:
            tokens.verify(token, signature)
            outcomes.append("ok")
        except UnauthenticatedError:
            outcomes.append("rejected")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["rejected"] * 7


def test_the_configured_operator_address_must_be_valid():
    with pytest.raises(ValueError, match="operator address"):
        ChallengeTokens("0x1234", OPERATOR)


def test_a_bn254_signing_key_signs_and_checks_the_double_hash(clock):
    """With only a BN254 key (no ECDSA one), the Go executor checks the BN254 signature of the same
    double hash (the standard hash-to-G1, as its signer's SignMessage)."""
    key = Bn254Signer(bytes.fromhex("0a" * 32))
    tokens = ChallengeTokens(OPERATOR.address, key, clock=clock)
    token, _ = tokens.issue(OPERATOR.address)
    signature = sign_challenge(key, token)
    assert signature == key.sign_digest(keccak256(keccak256(token.encode())))
    tokens.verify(token, signature)
    token, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="BN254 signing key"):
        tokens.verify(token, key.sign_digest(keccak256(token.encode())))
    token, _ = tokens.issue(OPERATOR.address)
    with pytest.raises(UnauthenticatedError, match="bad challenge signature"):
        tokens.verify(token, sign_challenge(OPERATOR, token))
