"""Fixtures for executor tests against the real control plane: `executors` starts executor processes
(`hourglass-executor run`) next to the operator process; their performers are local echo performer
processes (tests.support.local_performers), stopped afterwards. A failed test's report carries the
executors' logs. `devnet` / `fresh_devnet` are the local chain (tests.support.chain)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aggregator import TestAggregator
from tests.support.chain import devnet, fresh_devnet  # noqa: F401
from tests.support.executor_harness import static_chain
from tests.support.executor_process import ExecutorProcess


@pytest.fixture
def executors(
    request: pytest.FixtureRequest, operator, performers_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., ExecutorProcess]]:
    """`executors(config, env=None)` starts an executor process with that configuration (YAML keys)
    and extra environment variables; all are stopped (SIGTERM) before the operator, so Performers
    can still be cleaned up."""
    started: list[ExecutorProcess] = []
    request.node.hourglass_executors = started

    def start(config: dict[str, Any], env: dict[str, str] | None = None) -> ExecutorProcess:
        process = ExecutorProcess(
            config, tmp_path, performers_dir, name=f"executor-{len(started) + 1}", env=env
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def aggregator() -> TestAggregator:
    """The test aggregator that signs task submissions and verifies results (static operator sets)."""
    return TestAggregator(static_chain())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for process in getattr(item, "hourglass_executors", []):
            report.sections.append((f"executor log ({process.log_path.name})", process.logs()))
