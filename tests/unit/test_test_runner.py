"""hack/run-tests.sh (what `make test` and CI call) fails with its own message when pytest collects
no tests, instead of passing silently or failing with a bare exit code 5."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.smoke  # checks the test environment, not the product


def test_no_tests_collected_is_a_failure_with_a_message():
    result = subprocess.run(
        [
            str(REPO / "hack" / "run-tests.sh"),
            "tests/unit/test_test_runner.py",
            "-k",
            "no_such_test_name",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "pytest collected no tests" in result.stderr
