"""The loop retries what a ResourceQuota refused as soon as a quota of its namespace may make room,
instead of at the end of its back-off; nothing else it retries sooner (the fake world of
test_controller.py: fake runner, fake API, fake clock)."""

from __future__ import annotations

import pytest

from hourglass_operator.runs import RunResult
from tests.unit.test_controller import World, performer, watch

REFUSED = (
    'creating Pod performer-a: 403 Forbidden: pods "performer-a" is forbidden: exceeded quota: room,'
    " requested: pods=1, used: pods=1, limited: pods=1"
)


def quota(namespace: str, hard: str, used: str) -> dict:
    return {
        "metadata": {"name": "room", "namespace": namespace, "resourceVersion": "1"},
        "status": {"hard": {"pods": hard}, "used": {"pods": used}},
    }


@pytest.fixture
def refused() -> World:
    """`ns/a` refused by a quota and `ns/b` failed for another reason, twice each: both due in 2 s."""
    world = World(watch(), watch_quotas=True)
    for name in ("a", "b"):
        world.add(performer(name))
    world.runner.results = lambda _: RunResult(
        ok=False, per_cr={"ns/a": {"error": REFUSED}, "ns/b": {"error": "image pull"}}, failure="x"
    )
    for _ in range(2):
        world.reconcile()
        world.clock.now += 1
    assert (world.due_in("ns/a"), world.due_in("ns/b")) == (1.0, 1.0)
    return world


def test_a_quota_that_makes_room_retries_at_once_only_what_a_quota_refused(refused):
    refused.controller._on_quota("MODIFIED", quota("ns", "1", "1"), quota("ns", "2", "1"))
    assert (refused.due_in("ns/a"), refused.due_in("ns/b")) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("event", "old", "new", "retried"),
    [
        ("DELETED", quota("ns", "1", "1"), None, True),
        ("MODIFIED", quota("ns", "1", "1"), quota("ns", "1", "0"), True),  # another pod went
        ("ADDED", None, quota("ns", "5", "0"), False),  # a new quota only restricts
        ("MODIFIED", quota("ns", "2", "1"), quota("ns", "1", "1"), False),  # lowered
        ("MODIFIED", quota("other", "1", "1"), quota("other", "2", "1"), False),  # another namespace
    ],
)
def test_only_a_quota_of_its_namespace_that_may_make_room_retries_it(refused, event, old, new, retried):
    refused.controller._on_quota(event, old, new)
    assert refused.due_in("ns/a") == (0.0 if retried else 1.0)


def test_once_its_reconcile_succeeds_a_quota_change_no_longer_retries_it(refused):
    refused.clock.now += 1
    refused.runner.results = lambda _: RunResult(ok=True, per_cr={"ns/a": {"phase": "Running"}, "ns/b": {}})
    assert refused.reconcile() == ["ns/a", "ns/b"]
    refused.controller._on_quota("DELETED", quota("ns", "1", "1"), None)
    assert refused.due_in("ns/a") is None


def test_without_permission_to_watch_quotas_the_loop_has_no_quota_informer():
    assert World(watch()).controller.quotas == []
    assert [i.name for i in World(watch(), watch_quotas=True).controller.quotas] == ["resourcequota ns"]
