"""Management-API authentication with single-use challenge tokens (upstream contract §4).

`GetChallengeToken` calls `ChallengeTokens.issue`; every other management call passes its
`AuthSignature` to `ChallengeTokens.verify`, which requires the executor's signing key's signature
over keccak256(keccak256(utf8(token))) — hashed twice, as the Go client signs and the Go executor
checks (its helper returns keccak256(token) and its signer hashes that again). The key is the ECDSA
signing key when one is configured, else the BN254 one (`components.auth_signer`).

Decisions:
- A token is consumed by the first `verify` that names it, whatever the outcome, so a captured
  token cannot be retried against many signatures.
- Used and expired tokens are remembered for one more TTL, so errors can say "already used" or
  "expired"; after that they are purged (on every call) and reported as unknown.
- At most `max_tokens` tokens are kept; issuing beyond that drops the oldest, so token requests
  cannot grow memory without bound (the operator address that `issue` needs is public).
- Tokens are indexed by their SHA-256, so the lookup does not compare secret strings.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .signing.address import addresses_equal, parse_address, to_lower_address
from .signing.layouts import challenge_digest
from .signing.signer import Signer

DEFAULT_TTL_SECONDS = 300
DEFAULT_MAX_TOKENS = 1024
_TOKEN_RE = re.compile(r"[0-9a-f]{64}")


class AuthError(Exception):
    """Base of the management-auth errors."""


class UnauthenticatedError(AuthError):
    """Missing, malformed, unknown, used or expired token, or a bad signature (gRPC UNAUTHENTICATED)."""


class PermissionDeniedError(AuthError):
    """A token was asked for another operator address (gRPC PERMISSION_DENIED)."""


@dataclass
class _Token:
    expires_at: int
    used: bool = False


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class ChallengeTokens:
    """Issues and checks the executor's single-use management challenge tokens; thread-safe."""

    def __init__(
        self,
        operator_address: str,
        signer: Signer,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        """`signer` is the key tokens must be signed with (its `verify_digest` checks them)."""
        parse_address(operator_address, "operator address")
        if ttl <= 0 or max_tokens < 1:
            raise ValueError("ttl must be positive and max_tokens at least 1")
        self._operator_address = to_lower_address(operator_address)
        self._signer = signer
        self._ttl = ttl
        self._clock = clock
        self._max_tokens = max_tokens
        self._tokens: OrderedDict[bytes, _Token] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, operator_address: str) -> tuple[str, int]:
        """A new token (64 lower-case hex) and its expiry (unix seconds) for the operator address."""
        if not addresses_equal(operator_address, self._operator_address):
            raise PermissionDeniedError("the address is not this executor's operator address")
        token = secrets.token_hex(32)
        with self._lock:
            now = self._clock()
            self._purge(now)
            expires_at = math.floor(now + self._ttl)
            self._tokens[_key(token)] = _Token(expires_at)
            while len(self._tokens) > self._max_tokens:
                self._tokens.popitem(last=False)
        return token, expires_at

    def verify(self, token: str, signature: bytes) -> None:
        """Accept a management call, or raise UnauthenticatedError saying why not. Consumes the token."""
        if not token:
            raise UnauthenticatedError("missing challenge token")
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise UnauthenticatedError("malformed challenge token (expected 64 lower-case hex digits)")
        with self._lock:
            now = self._clock()
            self._purge(now)
            entry = self._tokens.get(_key(token))
            if entry is None:
                raise UnauthenticatedError("unknown challenge token")
            if entry.used:
                raise UnauthenticatedError("challenge token already used")
            entry.used = True
            if now >= entry.expires_at:
                raise UnauthenticatedError("challenge token expired")
        if not isinstance(signature, bytes) or not self._signer.verify_digest(
            challenge_digest(token), signature
        ):
            raise UnauthenticatedError(
                f"bad challenge signature: not the executor's {self._signer.curve} signing key's signature "
                "over keccak256(keccak256(token))"
            )

    def outstanding(self) -> int:
        """How many tokens are remembered (issued, used or recently expired)."""
        with self._lock:
            self._purge(self._clock())
            return len(self._tokens)

    def _purge(self, now: float) -> None:
        # Insertion order is expiry order (one TTL for all), so stop at the first entry to keep.
        while self._tokens:
            key, entry = next(iter(self._tokens.items()))
            if now < entry.expires_at + self._ttl:
                break
            del self._tokens[key]


def sign_challenge(signer: Signer, token: str) -> bytes:
    """The `AuthSignature.signature` a management client sends with `token`: `signer`'s signature over
    keccak256(keccak256(utf8(token))), what the Go management client sends."""
    return signer.sign_digest(challenge_digest(token))
