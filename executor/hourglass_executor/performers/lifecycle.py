"""The life of one performer in the pool: an explicit state machine whose persisted states are the
store's (`store.PerformerStatus`), with one table of allowed transitions. Every move goes through
`Lifecycle.move`, which refuses a move the table does not allow (IllegalTransitionError) and writes
what the new state means for the store before it returns.

    state        meaning                                              the store's record
    staged       created by a deploy, not in service yet              saved, status "staged"
    adopting     found after a restart, being made ready              left as it is
    in_service   the AVS's current performer: tasks go to it          saved, status "in_service"
    retiring     replaced or removed, finishing its in-flight tasks   deleted
    removed      removed from the backend                             deleted
    released     let go, still running (shutdown, cancelled deploy)   left as it is

An adopted performer keeps its record as it was (in service, if it was) until it is promoted, so
that a crash while it is being made ready does not demote it. A released performer is found again
by the next start (`adoption.choose`), which adopts or removes it; released is final except that
`remove` may still remove it. `None` stands for a performer the pool does not track: one it finds
at start and removes without adopting it, or a record without a performer.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import Protocol

from hourglass_executor.store import PerformerRecord, PerformerStatus, Store


class State(StrEnum):
    STAGED = "staged"
    ADOPTING = "adopting"
    IN_SERVICE = "in_service"
    RETIRING = "retiring"
    REMOVED = "removed"
    RELEASED = "released"


class Write(Enum):
    """What entering a state writes to the store."""

    SAVE = "save"  # the record, with the state as its status
    DELETE = "delete"  # no record
    KEEP = "keep"  # nothing: the record stays as it was


WRITES: Mapping[State, Write] = {
    State.STAGED: Write.SAVE,
    State.ADOPTING: Write.KEEP,
    State.IN_SERVICE: Write.SAVE,
    State.RETIRING: Write.DELETE,
    State.REMOVED: Write.DELETE,
    State.RELEASED: Write.KEEP,
}

# The allowed transitions: from a state (None: not tracked) to the states it may move to.
TRANSITIONS: Mapping[State | None, frozenset[State]] = {
    None: frozenset({State.STAGED, State.ADOPTING, State.REMOVED}),
    State.STAGED: frozenset({State.IN_SERVICE, State.REMOVED, State.RELEASED}),
    State.ADOPTING: frozenset({State.IN_SERVICE, State.REMOVED, State.RELEASED}),
    State.IN_SERVICE: frozenset({State.RETIRING, State.REMOVED, State.RELEASED}),
    State.RETIRING: frozenset({State.REMOVED, State.RELEASED}),
    State.REMOVED: frozenset(),
    State.RELEASED: frozenset({State.REMOVED}),
}

# What ListPerformers says of a performer in each listed state.
LISTED: Mapping[State, str] = {
    State.STAGED: "Staged",
    State.ADOPTING: "Staged",
    State.IN_SERVICE: "InService",
}


class IllegalTransitionError(RuntimeError):
    """A move the transition table does not allow (a defect in the pool, never bad input)."""


class Tracked(Protocol):
    """What the lifecycle needs of a performer."""

    state: State | None

    @property
    def performer_id(self) -> str: ...

    def record(self, status: PerformerStatus) -> PerformerRecord: ...


def check(current: State | None, target: State) -> None:
    """Raises IllegalTransitionError unless the table allows `current` → `target`."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransitionError(
            f"a performer cannot move from {current.value if current else 'untracked'} to {target.value}"
        )


class Lifecycle:
    """Moves performers between states and writes each move to `store`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def move(self, performer: Tracked, target: State) -> None:
        check(performer.state, target)
        performer.state = target
        self._write(performer.performer_id, target, performer)

    def refresh(self, performer: Tracked) -> None:
        """Saves the record again (its endpoint changed) when the state is one the store saves."""
        if performer.state is not None and WRITES[performer.state] is Write.SAVE:
            self._write(performer.performer_id, performer.state, performer)

    def forget(self, performer_id: str) -> None:
        """An untracked performer is removed (or a record has no performer): untracked → removed."""
        check(None, State.REMOVED)
        self._store.delete_performer(performer_id)

    def _write(self, performer_id: str, state: State, performer: Tracked) -> None:
        write = WRITES[state]
        if write is Write.SAVE:
            self._store.save_performer(performer.record(state.value))  # type: ignore[arg-type]
        elif write is Write.DELETE:
            self._store.delete_performer(performer_id)
