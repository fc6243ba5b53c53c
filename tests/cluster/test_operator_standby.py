"""Two operator processes with leader election on one Lease: the standby keeps its caches warm but
queues no work, so its metrics do not say that every Performer waits (`workqueue_depth` was the
number of Performers on a standby, and HourglassOperatorQueueBacklog fired for ever on an HA install
of more than 100); once it leads, it takes up every Performer, changes made while nobody led
included."""

from __future__ import annotations

import pytest

from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    create_performer,
    performer,
    wait_performer_ready,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster


def leads(process) -> bool:
    return any(line.get("msg") == "became the leader" for line in process.log_entries())


def test_a_standby_queues_no_work_and_takes_up_every_performer_once_it_leads(
    cluster, custom, namespace, operators
):
    election = ("--leader-elect", "--leader-election-namespace", namespace,
                "--leader-election-id", "hourglass-standby-test")  # fmt: skip
    leader = operators(*election)
    leader.wait_ready()
    wait_for(lambda: leads(leader), timeout=30, what="the first operator to lead")
    names = ["p0", "p1", "p2"]
    for name in names:
        create_performer(custom, namespace, performer(name, config={}))
    for name in names:
        wait_performer_ready(custom, namespace, name)

    standby = operators(*election)
    standby.wait_ready()  # its informers synced
    wait_for(
        lambda: standby.metric('hourglass_performers{phase="Running"}') == len(names),
        timeout=30, what="the standby's cache to hold the three Performers",
    )  # fmt: skip
    assert not leads(standby)
    assert standby.metric('workqueue_depth{name="performers"}') == 0
    assert standby.metric('workqueue_adds_total{name="performers"}') == 0

    # The leader dies without giving the lease back; a change made before the standby leads is one
    # whose event it passed over.
    leader.crash()
    changed = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "p1", {"spec": {"config": {"environment": {"TURN": "2"}}}}
    )
    wait_for(lambda: leads(standby), timeout=60, what="the standby to lead once the lease expired")
    cr = wait_performer_ready(custom, namespace, "p1")
    assert cr["status"]["observedGeneration"] == changed["metadata"]["generation"]
    wait_for(standby.queue_idle, timeout=60, what="the new leader to have taken up every Performer")
    assert standby.metric('workqueue_adds_total{name="performers"}') >= len(names)
