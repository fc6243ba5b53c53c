"""`kubectl delete performer --cascade=orphan`: the Performer goes and its Pod and Service stay,
running, with no owner (the garbage collector took the reference away), as Kubernetes promises for
any owner deleted that way. The next Performer of that name adopts them: its pod keeps running (not
replaced) and both get its owner reference, so that a plain deletion of it deletes them."""

from __future__ import annotations

from tests.support.api import exists, read_or_none
from tests.support.performers import GROUP, PLURAL, VERSION, create_performer, performer, wait_performer_ready
from tests.support.waiting import wait_for

NAME = "orphan"
CHILD = f"performer-{NAME}"


def owner_uids(obj) -> list[str]:
    return [ref.uid for ref in obj.metadata.owner_references or []]


def delete_orphaning(custom, namespace: str) -> None:
    """What `kubectl delete performer --cascade=orphan` asks of the API server."""
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, NAME, propagation_policy="Orphan"
    )


def test_a_performer_deleted_with_cascade_orphan_leaves_its_children_to_the_next_of_its_name(
    core, custom, namespace, operator
):
    first = create_performer(custom, namespace, performer(NAME, config={}))
    wait_performer_ready(custom, namespace, NAME)
    pod, service = core.read_namespaced_pod(CHILD, namespace), core.read_namespaced_service(CHILD, namespace)
    assert owner_uids(pod) == owner_uids(service) == [first["metadata"]["uid"]]

    delete_orphaning(custom, namespace)
    wait_for(
        lambda: not exists(custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, NAME),
        timeout=30, what="the Performer to be gone",
    )  # fmt: skip
    wait_for(operator.queue_idle, timeout=30, what="the operator to be idle")
    kept_pod = read_or_none(core.read_namespaced_pod, CHILD, namespace)
    kept_service = read_or_none(core.read_namespaced_service, CHILD, namespace)
    assert kept_pod is not None and kept_service is not None, "the children of an orphaning deletion stay"
    assert (kept_pod.metadata.uid, kept_service.metadata.uid) == (pod.metadata.uid, service.metadata.uid)
    assert kept_pod.metadata.deletion_timestamp is None and kept_pod.status.phase == "Running"
    assert owner_uids(kept_pod) == owner_uids(kept_service) == []
    assert operator.metric('hourglass_reconciles_total{result="error"}') == 0

    second = create_performer(custom, namespace, performer(NAME, config={}))
    uid = second["metadata"]["uid"]

    def adopted() -> bool:
        return all(
            owner_uids(read(CHILD, namespace)) == [uid]
            for read in (core.read_namespaced_pod, core.read_namespaced_service)
        )

    wait_for(adopted, timeout=30, what="the children to be adopted by the new Performer")
    cr = wait_performer_ready(custom, namespace, NAME)
    adopted_pod = core.read_namespaced_pod(CHILD, namespace)
    adopted_service = core.read_namespaced_service(CHILD, namespace)
    assert adopted_pod.metadata.uid == pod.metadata.uid, "the running pod is adopted, not replaced"
    assert (adopted_service.metadata.uid, adopted_service.spec.cluster_ip) == (
        service.metadata.uid,
        service.spec.cluster_ip,
    )
    assert cr["status"]["podName"] == CHILD

    def adoptions() -> list:  # the run writes its Events right after the status it is waited on by
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.uid={uid}").items
        return [(e.type, e.reason, e.count) for e in events if e.reason == "Adopted"]

    assert wait_for(adoptions, timeout=15, what="the Adopted Event") == [("Normal", "Adopted", 1)]

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, NAME)
    for read in (core.read_namespaced_pod, core.read_namespaced_service):
        wait_for(lambda read=read: not exists(read, CHILD, namespace), timeout=60, what="the children to go")


def test_a_performer_deleted_with_cascade_orphan_while_the_operator_is_down_leaves_its_children(
    core, custom, namespace, operators
):
    """The operator finds the deletion done when it starts: the `orphan` finalizer already gone,
    the children without their owner reference. It deletes nothing and releases its finalizer."""
    operator = operators()
    operator.wait_ready()
    create_performer(custom, namespace, performer(NAME, config={}))
    wait_performer_ready(custom, namespace, NAME)
    operator.stop()
    delete_orphaning(custom, namespace)

    def orphaned() -> bool:
        cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, NAME)
        reads = (core.read_namespaced_pod, core.read_namespaced_service)
        children = [read(CHILD, namespace) for read in reads]
        return "orphan" not in cr["metadata"]["finalizers"] and not any(map(owner_uids, children))

    wait_for(orphaned, timeout=30, what="the garbage collector to orphan the children")
    operator = operators()
    operator.wait_ready()
    wait_for(
        lambda: not exists(custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, NAME),
        timeout=30, what="the Performer to be gone",
    )  # fmt: skip
    assert read_or_none(core.read_namespaced_pod, CHILD, namespace) is not None
    assert read_or_none(core.read_namespaced_service, CHILD, namespace) is not None
