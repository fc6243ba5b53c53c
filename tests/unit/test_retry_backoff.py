"""Which failures clear themselves and back off to 30 s at most, and how long a failing Performer waits
for its next try (plugins/module_utils/retry_backoff.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.retry_backoff import (
    BACKOFF_MAX_SECONDS,
    RETRY_MAX_SECONDS,
    retry_after,
    retry_max,
)

WEBHOOK_DOWN = 'pods "performer-a" is forbidden: Internal error occurred: failed calling webhook "x"'
POLICY = 'admission webhook "x.example.org" denied the request: no privileged pods'
SINCE = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """RFC 3339, `seconds` after SINCE."""
    return (SINCE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "error",
    [
        'pods "performer-a" is forbidden: Internal error occurred: failed calling webhook "x.example.org": '
        'failed to call webhook: Post "https://127.0.0.1:1/validate": dial tcp: connection refused',
        "the server is currently unable to handle the request (post pods)",
        "etcdserver: request timed out",
        "Timeout: request did not complete within requested timeout - context deadline exceeded",
    ],
)
def test_the_clusters_own_passing_failures_back_off_to_30_s(error):
    assert retry_max(error) == RETRY_MAX_SECONDS == 30.0


@pytest.mark.parametrize(
    "error",
    [
        None,
        'admission webhook "x.example.org" denied the request: no privileged pods',
        'pods "performer-a" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1',
        'spec.hardwareRequirements.gpuType: unknown GPU type "nvidia-z9"',
    ],
)
def test_other_failures_keep_the_usual_back_off(error):
    assert retry_max(error) is None


@pytest.mark.parametrize(
    ("failing_for", "error", "wait"),
    [
        (0, POLICY, 1.0),  # the first failure
        (1, POLICY, 1.0),
        (2, POLICY, 2.0),
        (5, POLICY, 5.0),  # as long as it has been failing: the waits double
        (299, POLICY, 299.0),
        (3600, POLICY, BACKOFF_MAX_SECONDS),
        (20, WEBHOOK_DOWN, 20.0),
        (31, WEBHOOK_DOWN, RETRY_MAX_SECONDS),
        (3600, WEBHOOK_DOWN, RETRY_MAX_SECONDS),
        (-5, POLICY, 1.0),  # a clock behind the condition's time
    ],
)
def test_a_failing_performer_waits_as_long_as_it_has_been_failing_up_to_the_cap(failing_for, error, wait):
    since = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
    now = since + timedelta(seconds=failing_for)
    assert (
        retry_after(error, since.strftime("%Y-%m-%dT%H:%M:%SZ"), now.strftime("%Y-%m-%dT%H:%M:%SZ")) == wait
    )


def test_retrying_by_the_waits_doubles_them():
    """Each try comes after the wait the one before it got: 1, 1, 2, 4, 8 ... s, then the cap."""
    since, elapsed, waits = "2026-12-06T08:00:00Z", 0.0, []
    for _ in range(12):
        now = (datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC) + timedelta(seconds=elapsed)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        waits.append(retry_after(POLICY, since, now))
        elapsed += waits[-1]
    assert waits == [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
