"""The registered result of a write task the role skipped is read as no write at all."""

from __future__ import annotations

import pytest

from tests.support.fake_kube_api import FakeKubeApi
from tests.unit.test_status_writer import item, live_service, performer, ready_pod, writer

pytestmark = pytest.mark.unit

SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


def test_a_batch_whose_write_tasks_were_all_skipped_gets_the_status_of_what_was_observed() -> None:
    steps = ("created", "applied", "updated", "replaced", "deleted", "forced")
    status_writer = writer(FakeKubeApi(), **dict.fromkeys(steps, SKIPPED))
    [result] = status_writer.write([item(performer(), ready_pod(), live_service())])
    assert (result["phase"], result["ready"], result["error"]) == ("Running", True, None)
    assert result["patched"] is True
