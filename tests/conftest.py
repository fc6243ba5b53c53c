"""Suite-wide pytest wiring: tests under tests/unit are marked `unit`, under tests/cluster `cluster`, under
tests/chain `chain`.

Environment smoke tests (marker `smoke`: the local control plane and its node catalog, the local
chain, the test runner, the molecule wiring) run first, whatever else is selected. When one of them
fails the session stops before the first product test, saying that the environment is broken: a
product test that fails on a broken environment would name the wrong culprit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any test imports grpc: with its fork support on (grpcio's default), a fork while a gRPC
# server or channel of an earlier test still has threads running restarts its event engine in the
# child, and pexpect (ansible-runner's runs) closing the child's descriptors before exec then aborts
# it ("Epoll1Poller ... epoll_wait error: Bad file descriptor", SIGABRT): the run "ended failed (rc
# None)" before its task started, about once in a hundred forks. The processes of the product never
# mix the two (the operator imports no grpc; the executor starts no process).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

TESTS = Path(__file__).parent
SMOKE_FAILURES = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    for item in items:
        kind = Path(item.fspath).relative_to(TESTS).parts[0]
        if kind in ("unit", "cluster", "chain"):
            item.add_marker(getattr(pytest.mark, kind))
    items.sort(key=lambda item: item.get_closest_marker("smoke") is None)  # stable: smoke first
    session.stash[SMOKE_FAILURES] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    if outcome.get_result().failed and item.get_closest_marker("smoke") is not None:
        item.session.stash[SMOKE_FAILURES].append(item.nodeid)


def pytest_runtest_setup(item: pytest.Item) -> None:
    failed = item.session.stash.get(SMOKE_FAILURES, [])
    if failed and item.get_closest_marker("smoke") is None:
        pytest.exit(
            f"the test environment is broken: {len(set(failed))} environment smoke test(s) failed "
            f"({', '.join(sorted(set(failed)))}); the product tests were not run",
            returncode=pytest.ExitCode.TESTS_FAILED,
        )
