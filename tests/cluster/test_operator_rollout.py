"""When the operator renders the pods differently (a new version, other role settings) while the
Performers' specs stay as they were, it replaces their pods a few at a time
(--rollout-max-unavailable), each turn once the last replaced Performer is ready again; the others
keep serving on their old pods meanwhile and say so (Reconciled: RolloutPending)."""

from __future__ import annotations

import contextlib
import json

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from tests.support.performers import (
    condition,
    create_performer,
    list_performers,
    performer,
    pod_held,
    wait_performer_ready,
)
from tests.support.waiting import wait_for
from tests.support.watch_events import events_seen

NAMES = ("a", "b", "c", "d")
SPEC_HASH = contract.SPEC_HASH_ANNOTATION
# Another readiness probe than the role's default: every pod is rendered differently.
OTHER_PROBE = {"initialDelaySeconds": 5, "periodSeconds": 20, "timeoutSeconds": 1, "failureThreshold": 3}


def _ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def pod_event(event: dict) -> tuple[str, str, str, bool, bool]:
    """(type, pod name, uid, being deleted, ready) of a pod watch's event."""
    pod = event["object"]
    deleting = event["type"] == "DELETED" or pod.metadata.deletion_timestamp is not None
    return event["type"], pod.metadata.name, pod.metadata.uid, deleting, _ready(pod)


def most_replaced_at_once(events: list[tuple[str, str, str, bool, bool]], old_uids: dict[str, str]) -> int:
    """The most Performers whose old pod was being deleted (or gone) while their new pod was not yet
    Ready, at any point of the event order."""
    replacing: set[str] = set()
    most = 0
    for _, name, uid, deleting, ready in events:
        if uid == old_uids.get(name) and deleting:
            replacing.add(name)
        elif uid != old_uids.get(name) and ready:
            replacing.discard(name)
        most = max(most, len(replacing))
    return most


def test_pods_rendered_differently_are_replaced_one_at_a_time_each_turn_once_the_last_is_ready(
    core, custom, namespace, operators
):
    first = operators()
    first.wait_ready()
    for name in NAMES:
        create_performer(custom, namespace, performer(name, config={}))
    for name in NAMES:
        wait_performer_ready(custom, namespace, name)
    assert first.stop() == 0
    pods = {p.metadata.name: p for p in core.list_namespaced_pod(namespace).items}
    old_uids = {name: pod.metadata.uid for name, pod in pods.items()}
    old_hashes = {pod.metadata.annotations[SPEC_HASH] for pod in pods.values()}
    with contextlib.ExitStack() as holds:  # a replaced old pod stays terminating until released
        for name in pods:
            holds.enter_context(pod_held(core, namespace, name))
        replaced_one_at_a_time(core, custom, namespace, operators, old_uids, old_hashes, holds)


def replaced_one_at_a_time(core, custom, namespace, operators, old_uids, old_hashes, holds) -> None:
    """An operator with other role settings and a limit of one starts; `holds` keep the old pods
    terminating once deleted, until closed."""
    since = core.list_namespaced_pod(namespace).metadata.resource_version

    with events_seen(
        core.list_namespaced_pod, namespace, since=since, record=pod_event, timeout=120
    ) as events:
        other_settings = json.dumps({"performer_readiness_probe": OTHER_PROBE})
        second = operators("--role-vars", other_settings, "--rollout-max-unavailable", "1")
        second.wait_ready()

        def one_replacing_three_waiting() -> list[str] | None:
            deleting = [p.metadata.name for p in core.list_namespaced_pod(namespace).items
                        if p.metadata.deletion_timestamp]  # fmt: skip
            pending = [cr["metadata"]["name"] for cr in list_performers(custom, namespace)
                       if condition(cr, "Reconciled").get("reason") == "RolloutPending"]  # fmt: skip
            waiting = second.metric('hourglass_rollout_performers{state="waiting"}')
            return deleting if len(deleting) == 1 and len(pending) == 3 and waiting == 3 else None

        [held] = wait_for(one_replacing_three_waiting, timeout=60, what="one pod replaced, three waiting")
        # The run settled all four: one replaced, three waiting for its slot, which the held pod keeps.
        live = {p.metadata.name: p.metadata.uid for p in core.list_namespaced_pod(namespace).items}
        assert {name: uid for name, uid in live.items() if name != held} == {
            name: uid for name, uid in old_uids.items() if name != held
        }
        others = [
            cr for cr in list_performers(custom, namespace) if f"performer-{cr['metadata']['name']}" != held
        ]
        assert all(cr["status"]["ready"] and cr["status"]["phase"] == "Running" for cr in others)

        holds.close()

        def all_replaced() -> bool:
            current = core.list_namespaced_pod(namespace).items
            return len(current) == len(NAMES) and all(
                p.metadata.uid != old_uids[p.metadata.name] and _ready(p)
                and not p.metadata.deletion_timestamp and p.metadata.annotations[SPEC_HASH] not in old_hashes
                for p in current
            )  # fmt: skip

        wait_for(all_replaced, timeout=90, what="every pod replaced with the new rendering")
        for name in NAMES:
            cr = wait_performer_ready(custom, namespace, name)
            assert condition(cr, "Reconciled")["reason"] == "ReconcileSucceeded"
        wait_for(
            lambda: second.metric('hourglass_rollout_performers{state="waiting"}') == 0, what="none waiting"
        )

    assert most_replaced_at_once(list(events), old_uids) == 1
