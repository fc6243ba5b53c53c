"""GetChallengeToken bounds tokens by the caller's address and logs its refusals once per interval."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.auth import ChallengeTokens
from hourglass_executor.performers.pool import PerformerPool
from hourglass_executor.server import management_service
from hourglass_executor.server.management_service import FLOOD_LOG_INTERVAL, ManagementService
from hourglass_executor.store.memory import MemoryStore

from tests.support.aggregator import EXECUTOR
from tests.support.local_backend import LocalBackend

pytestmark = pytest.mark.unit

LOGGER = "hourglass_executor.server.management_service"
PEER = "ipv4:10.0.0.7:51234"


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


class Context:
    """The part of a grpc.aio.ServicerContext the management service uses."""

    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: tuple[tuple[str, str], ...] = ()
    ) -> None:
        raise Aborted(code, details)


class ManualMonotonic:
    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


def service_over(tokens: ChallengeTokens) -> ManagementService:
    pool = PerformerPool(LocalBackend(), MemoryStore(), {})  # never started: no call here reaches it
    return ManagementService(pool=pool, tokens=tokens, deployment_mode="docker", environ={})


def ask(service: ManagementService, peer: str = PEER) -> executor_pb2.GetChallengeTokenResponse:
    request = executor_pb2.GetChallengeTokenRequest(operator_address=EXECUTOR.address)
    return asyncio.run(service.GetChallengeToken(request, Context(peer)))


def test_a_token_counts_against_the_address_of_the_peer_that_asked_for_it() -> None:
    tokens = ChallengeTokens(EXECUTOR.address, EXECUTOR, max_per_requester=1)
    service = service_over(tokens)
    ask(service, "ipv4:10.0.0.7:51234")
    ask(service, "ipv4:10.0.0.8:40000")  # another requester: its own bound
    with pytest.raises(Aborted) as refused:
        ask(service, "ipv4:10.0.0.7:60000")  # the first requester again, from another port
    assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "10.0.0.7 holds 1 unused challenge tokens" in refused.value.details
    assert (tokens.live("10.0.0.7"), tokens.live("10.0.0.8"), tokens.live("")) == (1, 1, 0)


def test_refused_token_requests_are_logged_once_per_interval_with_the_count_since(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualMonotonic(1000.0)
    monkeypatch.setattr(management_service, "time", SimpleNamespace(monotonic=clock.monotonic))
    service = service_over(ChallengeTokens(EXECUTOR.address, EXECUTOR, max_per_requester=1))
    ask(service)

    def refusals(count: int) -> None:
        for _ in range(count):
            with pytest.raises(Aborted) as refused:
                ask(service)
            assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED

    with caplog.at_level(logging.INFO, logger=LOGGER):
        refusals(3)  # the first is logged, the next two counted
        clock.now += FLOOD_LOG_INTERVAL - 0.5
        refusals(1)  # still within the interval
        clock.now += 0.5
        refusals(1)  # the interval is over: logged, counting the four since the last line

    lines = [r for r in caplog.records if r.name == LOGGER]
    assert [(r.getMessage(), r.levelno) for r in lines] == [("challenge tokens refused", logging.WARNING)] * 2
    assert [(r.requester, r.refused) for r in lines] == [("10.0.0.7", 1), ("10.0.0.7", 4)]  # type: ignore[attr-defined]
