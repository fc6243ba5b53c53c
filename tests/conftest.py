"""Suite-wide pytest wiring: tests under tests/unit are marked `unit`, under tests/cluster `cluster`, under
tests/chain `chain`."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = Path(item.fspath).relative_to(TESTS).parts[0]
        if kind in ("unit", "cluster", "chain"):
            item.add_marker(getattr(pytest.mark, kind))
