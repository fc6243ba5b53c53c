"""An etcd leader change and an API server answering too late are retried within 30 s, not 5 minutes."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.retry_backoff import retry_after

pytestmark = pytest.mark.unit

SINCE, HOUR_LATER = "2026-12-06T08:00:00Z", "2026-12-06T09:00:00Z"


@pytest.mark.parametrize(
    "error",
    [
        "create pod: 500 Internal error occurred: etcdserver: leader changed",
        "apply service: 504 the server was unable to return a response in the time allotted, but may "
        "still be processing the request (patch services performer-p)",
    ],
)
def test_a_performer_failing_for_an_hour_on_a_passing_failure_is_retried_within_30_s(error: str) -> None:
    assert retry_after(error, SINCE, HOUR_LATER) == 30.0
    assert retry_after("create pod: 403 exceeded quota", SINCE, HOUR_LATER) == 300.0
