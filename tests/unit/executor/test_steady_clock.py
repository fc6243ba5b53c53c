"""A stepped wall clock changes nothing the executor keeps for a while (`steady_clock.py`): a step
forward (a VM resumed with the wrong time, NTP correcting a bad clock) forgot every task id, so a
retry ran a task that had already run; a step back kept expired challenge tokens valid."""

from __future__ import annotations

import time

import pytest
from hourglass_executor.auth import ChallengeTokens, UnauthenticatedError, sign_challenge
from hourglass_executor.signing import EcdsaSigner
from hourglass_executor.store.memory import MemoryStore
from hourglass_executor.store.sqlite import SqliteStore

pytestmark = pytest.mark.unit

AVS = "0x" + "ab" * 20
TASK = "0x" + "0f" * 32
DAY = 24 * 3600.0
OPERATOR = EcdsaSigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


def step_wall_clock(monkeypatch, seconds: float) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def step_monotonic_clock(monkeypatch, seconds: float) -> None:
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + seconds)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_wall_clock_stepped_a_day_forward_forgets_no_task_id(kind, tmp_path, monkeypatch):
    store = MemoryStore(retention=DAY) if kind == "memory" else SqliteStore(tmp_path / "s.db", retention=DAY)
    try:
        assert store.claim_task(TASK, AVS) is True
        store.complete_task(TASK, "done", result=b"signed")
        step_wall_clock(monkeypatch, DAY + 3600)
        assert store.prune() == 0
        assert store.claim_task(TASK, AVS) is False, "the task would run again"
        step_monotonic_clock(monkeypatch, DAY + 1)  # a day really passed: now it is forgotten
        assert store.prune() == 1
    finally:
        store.close()


def test_a_sqlite_store_opened_under_a_clock_gone_ahead_forgets_no_task_id(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    first = SqliteStore(path, retention=DAY)
    first.claim_task(TASK, AVS)
    first.close()
    step_wall_clock(monkeypatch, 3 * DAY)  # the machine boots with its clock days ahead
    reopened = SqliteStore(path, retention=DAY)
    try:
        assert reopened.prune() == 0
        assert reopened.claim_task(TASK, AVS) is False
    finally:
        reopened.close()


def test_a_wall_clock_stepped_back_keeps_no_expired_challenge_token_valid(monkeypatch):
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR)
    token, _ = tokens.issue(OPERATOR.address)
    step_wall_clock(monkeypatch, -6 * 3600)
    step_monotonic_clock(monkeypatch, 301)  # past the five minutes a token lives
    with pytest.raises(UnauthenticatedError, match="expired"):
        tokens.verify(token, sign_challenge(OPERATOR, token))


def test_a_tokens_expiry_is_told_in_wall_clock_time_after_a_step(monkeypatch):
    """The steady clock keeps the wall time of its start: after a step (the one it is there for),
    `expires_at` from it was off by the step, a token already expired in the client's time."""
    step_wall_clock(monkeypatch, -DAY)  # the executor started with its clock a day behind
    tokens = ChallengeTokens(OPERATOR.address, OPERATOR)
    monkeypatch.undo()  # NTP set it right
    _, expires_at = tokens.issue(OPERATOR.address)
    assert 0 < expires_at - time.time() <= 300
