"""A Performer a ResourceQuota refused comes up as soon as the quota makes room (another pod of the
namespace goes, or the quota is raised), not at the end of its back-off: the operator watches the
quotas of its namespaces and retries at once what they refused."""

from __future__ import annotations

from tests.support.performers import GROUP, PLURAL, VERSION, create_performer, performer, wait_performer_ready
from tests.support.waiting import wait_for

QUOTA = "performer-pods"


def logged(operator, message: str, key: str) -> bool:
    return any(
        message in line["msg"] and key in [line.get("key"), *line.get("keys", [])]
        for line in operator.log_entries()
    )


def refused_four_times(custom, operator, namespace: str, name: str) -> None:
    """Waits until the quota refused `name` four times (1, 2 and 4 s apart): its next retry is 8 s
    away, far more than a quota event takes to reach the operator. Its status says why."""
    key = f"{namespace}/{name}"
    wait_for(
        lambda: logged(operator, "reconcile failed, retrying in 8 s", key), timeout=60, what="a 4th refusal"
    )
    cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    assert cr["status"]["phase"] == "Failed"
    reconciled = next(c for c in cr["status"]["conditions"] if c["type"] == "Reconciled")
    assert "exceeded quota" in reconciled["message"], reconciled


def test_a_performer_a_quota_refused_comes_up_once_the_quota_makes_room(core, custom, namespace, operator):
    quota = {"metadata": {"name": QUOTA}, "spec": {"hard": {"pods": "1"}}}
    core.create_namespaced_resource_quota(namespace, quota)
    wait_for(
        lambda: (core.read_namespaced_resource_quota(QUOTA, namespace).status.hard or {}).get("pods") == "1",
        timeout=30, what="the quota controller to count the quota",
    )  # fmt: skip
    create_performer(custom, namespace, performer("first", config={}))
    wait_performer_ready(custom, namespace, "first")

    # No room for a second pod: the quota refuses it until the first Performer, and its pod, go.
    create_performer(custom, namespace, performer("second", config={}))
    refused_four_times(custom, operator, namespace, "second")
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "first")
    wait_for(
        lambda: logged(operator, "retrying what a quota refused", f"{namespace}/second"),
        timeout=60, what="the pod's going to retry the refused Performer",
    )  # fmt: skip
    wait_performer_ready(custom, namespace, "second")

    # The quota is full again; raised, it lets the third in.
    create_performer(custom, namespace, performer("third", config={}))
    refused_four_times(custom, operator, namespace, "third")
    core.patch_namespaced_resource_quota(QUOTA, namespace, {"spec": {"hard": {"pods": "2"}}})
    wait_for(
        lambda: logged(operator, "retrying what a quota refused", f"{namespace}/third"),
        timeout=60, what="the raised quota to retry the refused Performer",
    )  # fmt: skip
    wait_performer_ready(custom, namespace, "third")
    assert operator.metric('hourglass_reconciles_total{result="error"}') >= 8  # the refusals
