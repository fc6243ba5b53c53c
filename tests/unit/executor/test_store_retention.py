"""How long the store remembers a task id (the window in which a retry cannot run the task again),
and that every write finds a task id whatever the case of its hex digits: both implementations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hourglass_executor.store import Store
from hourglass_executor.store.memory import MemoryStore
from hourglass_executor.store.sqlite import SqliteStore

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HOUR = 3600.0
TASK_ID = "0x" + "ab" * 32


@pytest.fixture(params=["memory", "sqlite"])
def default_store(request, tmp_path, clock) -> Iterator[Store]:
    """A store opened as the executor opens it: no retention given."""
    if request.param == "memory":
        opened: Store = MemoryStore(clock=clock)
    else:
        opened = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    yield opened
    opened.close()


def test_by_default_a_task_id_is_remembered_for_24_hours_then_forgotten(default_store, clock):
    claimed_at = clock.now
    assert default_store.claim_task(TASK_ID, AVS, b"\x01" * 32) is True
    assert default_store.prune(claimed_at + 23.5 * HOUR) == 0
    assert default_store.claim_task(TASK_ID, AVS, b"\x01" * 32) is False  # a retry cannot run it again
    assert default_store.prune(claimed_at + 24.5 * HOUR) == 1
    assert default_store.task_status(TASK_ID) is None


def test_an_id_claimed_exactly_the_retention_ago_is_kept_and_forgotten_just_after(default_store, clock):
    """Prune forgets ids claimed *more* than the retention before `now`."""
    claimed_at = clock.now
    default_store.claim_task(TASK_ID, AVS, b"\x01" * 32)
    assert default_store.prune(claimed_at + 24 * HOUR) == 0
    assert default_store.task_status(TASK_ID) == "claimed"
    assert default_store.prune(claimed_at + 24 * HOUR + 0.25) == 1
    assert default_store.task_status(TASK_ID) is None


def test_a_claim_is_given_back_under_either_spelling_of_its_task_id(default_store):
    lower, upper = "0x" + "cd" * 32, "0x" + "CD" * 32
    assert default_store.claim_task(lower, AVS) is True
    assert default_store.release_task(upper) is True
    assert default_store.task_status(lower) is None
    assert default_store.claim_task(upper, AVS) is True
