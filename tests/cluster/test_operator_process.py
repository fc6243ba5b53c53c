"""The operator as a process: leader election lets only one of two replicas reconcile (the other
queues nothing, and takes every Performer up when the leader dies), a kill in the middle of a batch
leaves exactly one Pod and one Service per Performer after a restart, pod readiness is followed
without ansible runs, /metrics and the probes answer, and the gauges of how long a Performer has been
not Ready or Terminating follow it."""

from __future__ import annotations

import json
import time

import kubernetes

import hourglass_operator
from tests.support.api import exists
from tests.support.operator import OperatorProcess
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    performer,
    pod_held,
    set_pod_ready,
    wait_performer_ready,
)
from tests.support.waiting import wait_for


def create(custom, namespace: str, name: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer(name, config={}))


def all_ready(custom, namespace: str, names: list[str]) -> bool:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    ready = {i["metadata"]["name"] for i in items if (i.get("status") or {}).get("ready")}
    return set(names) <= ready


def reconciled_by(process: OperatorProcess) -> int:
    return sum('"running ansible"' in line for line in process.log_lines())


def test_with_leader_election_only_one_replica_reconciles_and_the_other_takes_over(
    cluster, custom, namespace, operators
):
    args = (
        "--leader-elect",
        "--leader-election-namespace",
        namespace,
        "--leader-election-id",
        "hourglass-test",
    )
    first = operators(*args)
    first.wait_ready()
    wait_for(lambda: "became the leader" in "\n".join(first.log_lines()), timeout=30, what="a leader")
    second = operators(*args)
    second.wait_ready()
    create(custom, namespace, "elected")
    wait_for(lambda: all_ready(custom, namespace, ["elected"]), timeout=60, what="the Performer to be ready")

    def seen_or_reconciled() -> bool:
        """The second replica has seen what the leader did (its cache has the Performer Running), or
        (wrongly) ran a reconcile."""
        return second.metric('hourglass_performers{phase="Running"}') == 1 or reconciled_by(second) > 0

    wait_for(seen_or_reconciled, timeout=30, what="the second replica to hold the Running Performer")
    assert reconciled_by(first) > 0
    assert reconciled_by(second) == 0
    # A standby queues nothing: its queue metrics would otherwise say that every Performer waits
    # (HourglassOperatorQueueBacklog fired on HA installs of more than 100).
    for metric in ("workqueue_depth", "workqueue_adds_total", "workqueue_longest_running_processor_seconds"):
        assert second.metric(f'{metric}{{name="performers"}}') == 0, metric
    lease = kubernetes.client.CoordinationV1Api(cluster.api).read_namespaced_lease(
        "hourglass-test", namespace
    )
    assert lease.spec.holder_identity

    first.kill()  # no step-down: the second replica must wait for the lease to expire
    # Changed while nobody leads: the second replica passes over the event, and takes the Performer
    # up with every other one once it leads.
    changed = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "elected", {"spec": {"config": {"environment": {"TURN": "2"}}}}
    )
    wait_for(
        lambda: "became the leader" in "\n".join(second.log_lines()), timeout=40, what="the second to lead"
    )
    create(custom, namespace, "after-failover")
    wait_for(lambda: all_ready(custom, namespace, ["after-failover"]), timeout=60, what="the new Performer")
    cr = wait_performer_ready(custom, namespace, "elected")
    assert cr["status"]["observedGeneration"] == changed["metadata"]["generation"]
    assert reconciled_by(second) > 0


def first_pod_created(core, namespace: str, since: str, timeout: float = 60) -> str:
    """Blocks until the API server stores the first performer Pod created after resourceVersion
    `since` (a watch: the answer comes as the object is written) and returns its name."""
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        core.list_namespaced_pod,
        namespace,
        label_selector="app=hourglass-performer",
        resource_version=since,
        timeout_seconds=int(timeout),
    ):
        if event["type"] == "ADDED":
            watch.stop()
            return event["object"].metadata.name
    raise TimeoutError(f"no performer Pod was created within {timeout:.0f} s")


BATCH = 7  # Performers per ansible run in the crash test


def test_killing_the_operator_mid_batch_leaves_one_pod_and_one_service_per_performer(
    core, custom, namespace, operators
):
    names = [f"burst-{i:02d}" for i in range(20)]
    for name in names:
        create(custom, namespace, name)
    # While this quota stands the API server refuses every Service: the first batch's run applies
    # Pods only, so the crash below leaves Performers half applied, whatever the timing of the
    # concurrent calls.
    quota = {"metadata": {"name": "no-services"}, "spec": {"hard": {"services": "0"}}}
    core.create_namespaced_resource_quota(namespace, quota)
    since = core.list_namespaced_pod(namespace).metadata.resource_version
    first = operators("--max-batch-size", str(BATCH))
    # The moment: the first batch's run is writing its objects (its first Pod is stored). Crash it
    # there, ansible run included. The run writes each Performer's status as soon as that one's objects
    # are written (here: refused), so some of the batch may have one by then; no later batch has begun.
    first_pod_created(core, namespace, since)
    first.crash()
    pods = core.list_namespaced_pod(namespace, label_selector="app=hourglass-performer").items
    items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    written = [i["metadata"]["name"] for i in items if (i.get("status") or {}).get("phase")]
    assert 0 < len(pods) <= BATCH and len(written) <= BATCH, f"{len(pods)} Pods; status written for {written}"
    assert not core.list_namespaced_service(namespace).items
    core.delete_namespaced_resource_quota("no-services", namespace)

    second = operators("--max-batch-size", str(BATCH))
    second.wait_ready()
    wait_for(lambda: all_ready(custom, namespace, names), timeout=120, what="every Performer to be ready")
    pods = core.list_namespaced_pod(namespace, label_selector="app=hourglass-performer").items
    services = core.list_namespaced_service(namespace, label_selector="app=hourglass-performer").items
    assert sorted(p.metadata.name for p in pods) == [f"performer-{n}" for n in names]
    assert sorted(s.metadata.name for s in services) == [f"performer-{n}" for n in names]
    assert all(
        p.metadata.owner_references[0].name == p.metadata.name.removeprefix("performer-") for p in pods
    )


def test_probes_and_metrics(custom, namespace, operators):
    process = operators()
    process.wait_ready()
    assert process.get("/healthz") == (200, "ok\n")
    assert process.get("/readyz") == (200, "ok\n")
    create(custom, namespace, "measured")
    wait_for(lambda: all_ready(custom, namespace, ["measured"]), timeout=60, what="the Performer to be ready")

    def scraped() -> str | None:
        status, body = process.get("/metrics", port=process.metrics_port)
        counted = 'hourglass_reconciles_total{result="success"}' in body  # once the run has ended
        return (
            body
            if status == 200 and 'hourglass_performers{phase="Running"} 1.0' in body and counted
            else None
        )

    body = wait_for(scraped, timeout=30, what="the Running Performer and its reconcile in /metrics")
    for metric in (
        'hourglass_reconciles_total{result="success"}',
        "hourglass_ansible_run_duration_seconds_count",
        "hourglass_ansible_runs_in_progress",
        "hourglass_batch_size_bucket",
        "hourglass_reconcile_duration_seconds",
        'workqueue_depth{name="performers"}',
        'workqueue_adds_total{name="performers"}',
        'workqueue_queue_duration_seconds_count{name="performers"}',
        'workqueue_work_duration_seconds_count{name="performers"}',
        'workqueue_retries_total{name="performers"}',
        'workqueue_unfinished_work_seconds{name="performers"}',
        'workqueue_longest_running_processor_seconds{name="performers"}',
        f'hourglass_build_info{{component="operator",version="{hourglass_operator.__version__}"}} 1.0',
    ):
        assert metric in body, metric


def test_sigterm_lets_the_running_batch_finish_and_starts_no_new_one(custom, namespace, operators):
    names = [f"term-{i:02d}" for i in range(15)]
    for name in names:
        create(custom, namespace, name)
    process = operators("--max-batch-size", "15", "--graceful-shutdown-timeout", "60")
    process.wait_ready()
    wait_for(lambda: reconciled_by(process) > 0, timeout=30, what="a batch to start")
    started = time.monotonic()
    assert process.stop(timeout=90) == 0
    assert time.monotonic() - started < 60
    lines = process.log_lines()
    shutdown = next(i for i, line in enumerate(lines) if '"shutting down"' in line)
    after = lines[shutdown:]
    assert not any('"running ansible"' in line for line in after), "a batch started after SIGTERM"
    # The batches that were running finished: their Performers got their status written. (Which
    # Performers they hold depends on when the informer saw each: its first list may miss the last
    # ones created, which then wait for the next batch.)
    running = {
        key.split("/", 1)[1]
        for line in lines[:shutdown] if '"running ansible"' in line
        for key in json.loads(line)["keys"]
    }  # fmt: skip
    assert running
    items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    phases = {i["metadata"]["name"]: (i.get("status") or {}).get("phase") for i in items}
    assert all(phases[name] for name in running), phases
    # Start again so that the fixture can release the finalizers.
    operators().wait_ready()


def test_pod_readiness_changes_reach_the_status_without_an_ansible_run(core, custom, namespace, operators):
    process = operators()
    process.wait_ready()
    create(custom, namespace, "flips")
    wait_for(lambda: all_ready(custom, namespace, ["flips"]), timeout=60, what="the Performer to be ready")
    wait_for(lambda: process.queue_idle(), timeout=30, what="the operator to have nothing queued")
    runs = process.metric("hourglass_batch_size_count")
    patched = 'hourglass_status_syncs_total{result="patched"}'
    patches = process.metric(patched)

    def ready_is(value: bool) -> dict | None:
        cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "flips")
        return cr if (cr.get("status") or {}).get("ready") is value else None

    longest_not_ready = "hourglass_performers_longest_not_ready_seconds"
    wait_for(lambda: process.metric(longest_not_ready) == 0, timeout=10, what="no Performer not Ready")

    set_pod_ready(core, namespace, "performer-flips", False)
    lost = wait_for(lambda: ready_is(False), timeout=10, what="status.ready to turn false")
    assert lost["status"]["phase"] == "Running"
    ready_condition = next(c for c in lost["status"]["conditions"] if c["type"] == "Ready")
    assert (ready_condition["status"], ready_condition["reason"]) == ("False", "PodNotReady")
    # The gauge counts from the condition's transition: it grows while the Performer stays not Ready.
    first = wait_for(lambda: process.metric(longest_not_ready), timeout=10, what="the not-Ready time")
    wait_for(lambda: process.metric(longest_not_ready) > first, timeout=10, what="the not-Ready time to grow")
    set_pod_ready(core, namespace, "performer-flips", True)
    wait_for(lambda: ready_is(True), timeout=10, what="status.ready to turn true again")
    wait_for(lambda: process.metric(longest_not_ready) == 0, timeout=10, what="no Performer not Ready again")
    # A sync is counted once its patch and Events are written: a moment after the status shows it.
    wait_for(lambda: process.metric(patched) >= patches + 2, timeout=10, what="both status patches counted")
    assert process.metric("hourglass_batch_size_count") == runs  # no ansible run was needed


def test_the_longest_terminating_gauge_follows_a_performer_its_pod_holds(core, custom, namespace, operators):
    process = operators()
    process.wait_ready()
    create(custom, namespace, "held")
    wait_for(lambda: all_ready(custom, namespace, ["held"]), timeout=60, what="the Performer to be ready")

    def terminating() -> float:
        return process.metric("hourglass_performers_longest_terminating_seconds")

    assert terminating() == 0
    with pod_held(core, namespace, "performer-held"):  # its finalizer run waits for the pod to go
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "held")
        first = wait_for(terminating, timeout=30, what="the terminating time")
        wait_for(lambda: terminating() > first, timeout=10, what="the terminating time to grow")
    wait_for(lambda: terminating() == 0, timeout=60, what="none terminating once it is gone")
    assert not exists(custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, "held")
