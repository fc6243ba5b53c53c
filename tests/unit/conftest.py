"""Fixtures shared by the unit tests (tests/unit and tests/unit/executor)."""

from __future__ import annotations

import logging

import pytest

from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand (`clock.now += seconds`)."""
    return ManualClock()


@pytest.fixture
def restore_logging():
    """Puts the root logger back as it was (for tests of commands that set up logging)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
