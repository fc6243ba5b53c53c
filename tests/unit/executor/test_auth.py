"""Management challenge tokens: issue, verify once, expiry, signatures over the double hash (ECDSA and
BN254 keys), addresses, memory bound."""

from __future__ import annotations

import re
import threading

import pytest
from hourglass_executor.auth import (
    ChallengeTokens,
    PermissionDeniedError,
    UnauthenticatedError,
    sign_challenge,
)
from hourglass_executor.signing import EcdsaSigner, keccak256
from hourglass_executor.signing.bn254 import Bn254Signer

pytestmark = pytest.mark.unit

OPERATOR = EcdsaSigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
OTHER = EcdsaSigner("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.5

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def tokens(clock):
    return ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock)


def test_issued_tokens_are_64_lower_case_hex_and_expire_in_five_minutes(tokens):
    token, expires_at = tokens.issue(OPERATOR.address)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert isinstance(expires_at, int)
    assert expires_at == 1_000_300
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


def test_the_number_of_tokens_is_bounded(clock):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR, clock=clock, max_tokens=3)
    first, _ = tokens.issue(OPERATOR.address)
    for _ in range(3):
        tokens.issue(OPERATOR.address)
    assert tokens.outstanding() == 3
    with pytest.raises(UnauthenticatedError, match="unknown"):
        tokens.verify(first, sign_challenge(OPERATOR, first))


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
