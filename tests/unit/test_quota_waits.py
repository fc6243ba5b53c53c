"""Which errors are a quota's refusal, and which ResourceQuota changes may let through what it refused."""

from __future__ import annotations

import pytest
from hourglass_executor.performers.kubernetes.resource import QUOTA_REFUSALS

from hourglass_operator.quota_waits import REFUSALS, QuotaWaits, may_make_room, refused_by_quota


def quota(hard: dict | None, used: dict | None) -> dict:
    return {"metadata": {"name": "q", "namespace": "ns"}, "status": {"hard": hard or {}, "used": used or {}}}


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        ('pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1', True),
        ('pods "p" is forbidden: failed quota: q: must specify limits.cpu for: performer', True),
        ('services "p" is forbidden: status unknown for quota: q, resource: services', True),
        ("admission webhook denied the request", False),
        ("", False),
        (None, False),
    ],
)
def test_the_quota_admissions_refusals_are_recognised(error, refused):
    assert refused_by_quota(error) is refused


@pytest.mark.parametrize(
    ("old", "new", "room"),
    [
        (quota({"pods": "1"}, {"pods": "1"}), quota({"pods": "2"}, {"pods": "1"}), True),  # raised
        (quota({"requests.cpu": "2"}, {}), quota({"requests.cpu": "2500m"}, {}), True),  # 2 < 2.5
        (quota({"requests.cpu": "2"}, {}), quota({"requests.cpu": "1500m"}, {}), False),  # lowered
        (quota({"pods": "1", "services": "1"}, {}), quota({"pods": "1"}, {}), True),  # a limit gone
        (quota({"pods": "1"}, {"pods": "1"}), quota({"pods": "1"}, {"pods": "0"}), True),  # used less
        (quota({"pods": "1"}, {"pods": "0"}), quota({"pods": "1"}, {"pods": "1"}), False),  # used more
        (quota({"memory": "1Gi"}, {}), quota({"memory": "1024Mi"}, {}), False),  # the same quantity
        (quota({"pods": "1"}, {}), quota({"pods": "1", "services": "3"}, {}), False),  # a limit added
        (quota({"pods": "x"}, {}), quota({"pods": "y"}, {}), True),  # changed, not a quantity
    ],
)
def test_a_modified_quota_may_make_room_when_its_status_allows_more_or_uses_less(old, new, room):
    assert may_make_room("MODIFIED", old, new) is room


def test_a_deleted_quota_makes_room_and_a_new_one_does_not():
    assert may_make_room("DELETED", quota({"pods": "0"}, {}), None) is True
    assert may_make_room("ADDED", None, quota({"pods": "9"}, {})) is False


def test_a_spec_change_alone_makes_no_room_until_the_quota_controller_updates_the_status():
    old = quota({"pods": "1"}, {"pods": "1"})
    new = {**old, "spec": {"hard": {"pods": "5"}}}
    assert may_make_room("MODIFIED", old, new) is False


def test_the_waits_hold_what_a_quota_refused_until_another_outcome_or_forget():
    waits = QuotaWaits()
    waits.settled("ns/a", "exceeded quota: q")
    waits.settled("ns/b", "exceeded quota: q")
    waits.settled("other/c", "exceeded quota: q")
    waits.settled("ns/d", "image pull")
    assert waits.in_namespace("ns") == ["ns/a", "ns/b"]
    waits.settled("ns/a", None)
    waits.forget("ns/b")
    assert waits.in_namespace("ns") == [] and waits.in_namespace("other") == ["other/c"]


def test_the_executor_knows_a_quota_refusal_by_the_same_words_as_the_operator():
    """The executor (a package of its own) waits on a Performer a quota refused as long as the
    operator retries it: both must recognise the same refusals."""
    assert QUOTA_REFUSALS == REFUSALS
