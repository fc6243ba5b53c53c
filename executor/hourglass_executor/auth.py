"""Management-API authentication with single-use challenge tokens (upstream contract §4).

`GetChallengeToken` calls `ChallengeTokens.issue`; every other management call passes its
`AuthSignature` to `ChallengeTokens.verify`, which requires the executor's signing key's signature
over keccak256(keccak256(utf8(token))) — hashed twice, as the Go client signs and the Go executor
checks (its helper returns keccak256(token) and its signer hashes that again). The key is the ECDSA
signing key when one is configured, else the BN254 one (`components.auth_signer`).

Decisions:
- A token is consumed by the first `verify` that names it, whatever the outcome, so a captured
  token cannot be retried against many signatures.
- Used and expired tokens are remembered for one more TTL (at most `max_retired` of them, oldest
  forgotten first), so errors can say "already used" or "expired"; after that they are unknown.
- Issuing is limited, because anyone who can reach the management port may ask for tokens: the
  address a token is asked for must be the operator's, which is public (it is on chain), so every
  caller — the operator and a flood alike — claims the same address, and a bound per claimed
  address would be one global bound that a flood exhausts for everybody. The bounds are therefore
  per *requester*: the caller's network address as the server sees it (`requester_of(peer)`: the IP
  without the port, an IPv4-mapped IPv6 address as its IPv4 address, other IPv6 addresses by their
  /64, because one host usually holds a whole /64; every unix-socket caller is one requester).
  Per requester: an issuance allowance of `issue_burst` tokens refilled at `issue_rate` per second,
  and at most `max_per_requester` live tokens (issued, not used, not expired). All requesters
  together hold at most `max_tokens` live tokens. A request beyond a bound is refused with
  `RateLimitedError`, which says when to retry (the management service answers RESOURCE_EXHAUSTED
  with that hint); **a live token is never evicted to admit another**, so a flood cannot invalidate
  the token a legitimate client holds. Per-requester state is forgotten once the requester holds no
  live token and its allowance has refilled.
- What this means for an operator: its management client (one call, one token, used at once) never
  meets the bounds; several clients behind one address (NAT, `kubectl port-forward`, a load balancer
  that does not keep client addresses) share one requester's bounds, so a flood from behind the same
  address can delay their new tokens (never invalidate issued ones). Keep the management port
  private (a NetworkPolicy, or `managementServerGrpcPort` on an internal address); exposed through a
  load balancer, keep client source addresses (e.g. `externalTrafficPolicy: Local`). To block
  issuance for everyone an attacker needs `max_tokens / max_per_requester` requesters (512 with the
  defaults), and even then issued tokens stay valid.
- Tokens are indexed by their SHA-256, so the lookup does not compare secret strings.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

from .signing.address import addresses_equal, parse_address, to_lower_address
from .signing.layouts import challenge_digest
from .signing.signer import Signer
from .steady_clock import SteadyClock

DEFAULT_TTL_SECONDS = 300
DEFAULT_MAX_TOKENS = 8192  # live tokens of all requesters together (about 2 MB)
DEFAULT_MAX_PER_REQUESTER = 16  # live tokens of one requester
DEFAULT_ISSUE_BURST = 50  # tokens one requester may ask for at once...
DEFAULT_ISSUE_RATE = 10.0  # ...and then per second (a client polling ListPerformers fast)
DEFAULT_MAX_RETIRED = 8192  # used/expired tokens remembered for their error message
SWEEP_INTERVAL = 1.0  # seconds between sweeps of idle requesters
_TOKEN_RE = re.compile(r"[0-9a-f]{64}")
_PEER_RE = re.compile(r"(ipv4|ipv6):\[?([^\]]+?)\]?:\d+")


class AuthError(Exception):
    """Base of the management-auth errors."""


class UnauthenticatedError(AuthError):
    """Missing, malformed, unknown, used or expired token, or a bad signature (gRPC UNAUTHENTICATED)."""


class PermissionDeniedError(AuthError):
    """A token was asked for another operator address (gRPC PERMISSION_DENIED)."""


class RateLimitedError(AuthError):
    """Issuing a token now would exceed a bound (gRPC RESOURCE_EXHAUSTED); retry after
    `retry_after` seconds (rounded up to whole seconds, at least 1)."""

    def __init__(self, reason: str, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"{reason}; retry in {self.retry_after} s")


def requester_of(peer: str) -> str:
    """The requester a gRPC peer string (`context.peer()`, e.g. "ipv4:10.0.0.7:51234",
    "ipv6:[2001:db8::7]:51234", "unix:/run/x.sock") counts as; see the module docstring."""
    peer = unquote(peer)
    match = _PEER_RE.fullmatch(peer)
    if match is None:
        return "unix" if peer.startswith("unix") else peer
    try:
        address = ipaddress.ip_address(match.group(2))
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Live:
    expires_at: int
    requester: str


@dataclass
class _Requester:
    allowance: float
    updated: float
    live: dict[bytes, int] = field(default_factory=dict)  # key -> expires_at, oldest first


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _wall_time() -> float:
    return time.time()


class ChallengeTokens:
    """Issues and checks the executor's single-use management challenge tokens; thread-safe."""

    def __init__(
        self,
        operator_address: str,
        signer: Signer,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_per_requester: int = DEFAULT_MAX_PER_REQUESTER,
        issue_burst: int = DEFAULT_ISSUE_BURST,
        issue_rate: float = DEFAULT_ISSUE_RATE,
        max_retired: int = DEFAULT_MAX_RETIRED,
    ) -> None:
        """`signer` is the key tokens must be signed with (its `verify_digest` checks them)."""
        parse_address(operator_address, "operator address")
        if ttl <= 0 or min(max_tokens, max_per_requester, issue_burst) < 1 or issue_rate <= 0:
            raise ValueError("ttl and issue_rate must be positive, the token bounds and burst at least 1")
        self._operator_address = to_lower_address(operator_address)
        self._signer = signer
        self._ttl = ttl
        self._clock = clock or SteadyClock()  # expiry and rates must not jump with the wall clock
        self._wall = clock or _wall_time
        self._max_tokens = max_tokens
        self._max_per_requester = max_per_requester
        self._burst = float(issue_burst)
        self._rate = issue_rate
        self._max_retired = max_retired
        self._live: OrderedDict[bytes, _Live] = OrderedDict()  # issue order = expiry order
        self._retired: OrderedDict[bytes, tuple[Literal["used", "expired"], float]] = OrderedDict()
        self._requesters: dict[str, _Requester] = {}
        self._last_sweep = -math.inf
        self._lock = threading.Lock()

    def issue(self, operator_address: str, requester: str = "") -> tuple[str, int]:
        """A new token (64 lower-case hex) and its expiry (unix seconds) for the operator address,
        asked for by `requester` (`requester_of(context.peer())`). Raises PermissionDeniedError for
        another address, RateLimitedError beyond a bound (module docstring)."""
        if not addresses_equal(operator_address, self._operator_address):
            raise PermissionDeniedError("the address is not this executor's operator address")
        token = secrets.token_hex(32)
        key = _key(token)
        with self._lock:
            now = self._clock()
            self._purge(now)
            state = self._requester(requester, now)
            if state.allowance < 1:
                raise RateLimitedError(
                    f"too many challenge tokens asked for from {requester or 'this address'} "
                    f"(at most {self._burst:g} at once, then {self._rate:g} per second)",
                    (1 - state.allowance) / self._rate,
                )
            if len(state.live) >= self._max_per_requester:
                raise RateLimitedError(
                    f"{requester or 'this address'} holds {len(state.live)} unused challenge tokens "
                    f"(at most {self._max_per_requester}): use them",
                    next(iter(state.live.values())) - now,
                )
            if len(self._live) >= self._max_tokens:
                raise RateLimitedError(
                    f"the executor holds its maximum of {self._max_tokens} unused challenge tokens",
                    next(iter(self._live.values())).expires_at - now,
                )
            state.allowance -= 1
            expires_at = math.floor(now + self._ttl)
            self._live[key] = _Live(expires_at, requester)
            state.live[key] = expires_at
        # What the caller is told is in its time, the wall clock's (the steady clock keeps the
        # wall time of the start: after a step it is off by the step).
        return token, math.floor(self._wall() + self._ttl)

    def verify(self, token: str, signature: bytes) -> None:
        """Accept a management call, or raise UnauthenticatedError saying why not. Consumes the token."""
        if not token:
            raise UnauthenticatedError("missing challenge token")
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise UnauthenticatedError("malformed challenge token (expected 64 lower-case hex digits)")
        key = _key(token)
        with self._lock:
            now = self._clock()
            self._purge(now)
            entry = self._live.pop(key, None)
            if entry is None:
                retired = self._retired.get(key)
                if retired is None:
                    raise UnauthenticatedError("unknown challenge token")
                raise UnauthenticatedError(
                    "challenge token already used" if retired[0] == "used" else "challenge token expired"
                )
            self._requesters[entry.requester].live.pop(key, None)
            self._retire(key, "used", now)
        if not isinstance(signature, bytes) or not self._signer.verify_digest(
            challenge_digest(token), signature
        ):
            raise UnauthenticatedError(
                f"bad challenge signature: not the executor's {self._signer.curve} signing key's signature "
                "over keccak256(keccak256(token))"
            )

    def outstanding(self) -> int:
        """How many tokens are remembered (live, used or recently expired)."""
        with self._lock:
            self._purge(self._clock())
            return len(self._live) + len(self._retired)

    def live(self, requester: str | None = None) -> int:
        """How many live tokens there are (of `requester`, or of all)."""
        with self._lock:
            self._purge(self._clock())
            if requester is None:
                return len(self._live)
            state = self._requesters.get(requester)
            return len(state.live) if state else 0

    def _requester(self, requester: str, now: float) -> _Requester:
        state = self._requesters.get(requester)
        if state is None:
            state = self._requesters[requester] = _Requester(self._burst, now)
        else:
            state.allowance = min(self._burst, state.allowance + max(0.0, now - state.updated) * self._rate)
            state.updated = now
        return state

    def _retire(self, key: bytes, reason: Literal["used", "expired"], now: float) -> None:
        self._retired[key] = (reason, now + self._ttl)
        while len(self._retired) > self._max_retired:
            self._retired.popitem(last=False)

    def _purge(self, now: float) -> None:
        # Insertion order is expiry order (one TTL for all), so stop at the first entry to keep.
        while self._live:
            key, entry = next(iter(self._live.items()))
            if now < entry.expires_at:
                break
            del self._live[key]
            self._requesters[entry.requester].live.pop(key, None)
            self._retire(key, "expired", now)
        while self._retired:
            key, (_, forget_at) = next(iter(self._retired.items()))
            if now < forget_at:
                break
            del self._retired[key]
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            idle = [
                name
                for name, state in self._requesters.items()
                if not state.live and state.allowance + (now - state.updated) * self._rate >= self._burst
            ]
            for name in idle:
                del self._requesters[name]


def sign_challenge(signer: Signer, token: str) -> bytes:
    """The `AuthSignature.signature` a management client sends with `token`: `signer`'s signature over
    keccak256(keccak256(utf8(token))), what the Go management client sends."""
    return signer.sign_digest(challenge_digest(token))
