"""The operator (runner loop + performer role) reconciling Performers on the real control plane:
pods placed by the real scheduler, status following the pod, spec changes replacing the pod,
drift repaired, deletion cleaned up, and CR strings never evaluated as Jinja."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import kubernetes
import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from tests.support.api import read_or_none
from tests.support.operator import operator_with_role_vars
from tests.support.performers import (
    EVICTION_MESSAGE,
    GROUP,
    PLURAL,
    REJECTION_MESSAGE,
    VERSION,
    condition,
    create_performer,
    evict_pod,
    get_performer,
    performer,
    pod_held,
    reject_pod,
    upstream_executor_performer,
    wait_performer_ready,
)
from tests.support.waiting import wait_for
from tests.support.watch_events import events_seen

JINJA = "{{ lookup('pipe', 'id') }}"


def read_pod(core, namespace: str, name: str) -> kubernetes.client.V1Pod | None:
    return read_or_none(core.read_namespaced_pod, f"performer-{name}", namespace)


def node_labels(core, node: str) -> dict:
    return core.read_node(node).metadata.labels


def test_plain_performer_becomes_ready_with_pod_and_service(cluster, core, custom, namespace, operator):
    create_performer(
        custom, namespace, performer("plain", config={"grpcPort": 9090, "environment": {"MODE": "test"}})
    )
    cr = wait_performer_ready(custom, namespace, "plain")
    status = cr["status"]
    assert status["phase"] == "Running"
    assert status["podName"] == status["serviceName"] == "performer-plain"
    assert status["grpcEndpoint"] == f"performer-plain.{namespace}.svc.cluster.local"
    assert status["observedGeneration"] == cr["metadata"]["generation"]
    assert status["readyTime"]
    assert condition(cr, "Ready")["status"] == "True"
    assert condition(cr, "Scheduled")["status"] == "True"
    assert condition(cr, "Reconciled")["status"] == "True"
    assert "hourglass.eigenlayer.io/performer-finalizer" in cr["metadata"]["finalizers"]

    pod = core.read_namespaced_pod("performer-plain", namespace)
    assert pod.metadata.labels["app"] == "hourglass-performer"
    assert pod.metadata.labels["hourglass.eigenlayer.io/performer"] == "plain"
    assert pod.metadata.labels["hourglass.eigenlayer.io/avs"] == cr["spec"]["avsAddress"].lower()
    [owner] = pod.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Performer",
        "plain",
        cr["metadata"]["uid"],
        True,
    )
    [container] = pod.spec.containers
    assert container.name == "performer"
    assert [(p.name, p.container_port) for p in container.ports] == [("grpc", 9090)]
    assert container.readiness_probe.grpc.port == 9090
    assert container.liveness_probe.initial_delay_seconds == 30
    assert {e.name: e.value for e in container.env} == {"MODE": "test"}
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]

    service = core.read_namespaced_service("performer-plain", namespace)
    assert service.spec.selector == {"hourglass.eigenlayer.io/performer": "plain"}
    assert [(p.name, p.port, p.target_port) for p in service.spec.ports] == [("grpc", 9090, "grpc")]
    assert service.metadata.owner_references[0].uid == cr["metadata"]["uid"]
    # kubectl wait understands the Ready condition.
    cluster.kubectl("wait", "--for=condition=Ready", "performer/plain", "-n", namespace, "--timeout=5s")


def test_gpu_performer_lands_on_a_node_with_its_gpu_type(core, custom, namespace, operator, node_catalog):
    create_performer(
        custom,
        namespace,
        performer("gpu", config={}, hardwareRequirements={"gpuType": "nvidia-h100", "gpuCount": 2}),
    )
    wait_performer_ready(custom, namespace, "gpu")
    pod = read_pod(core, namespace, "gpu")
    assert node_labels(core, pod.spec.node_name)["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    resources = pod.spec.containers[0].resources
    assert resources.requests["nvidia.com/gpu"] == resources.limits["nvidia.com/gpu"] == "2"
    assert any(t.key == "nvidia.com/gpu" for t in pod.spec.tolerations)


@pytest.mark.parametrize(("tee", "node", "runtime_class"), [
    ("sgx", "kwok-tee-sgx-0", "enclave-cc"),
    ("sev-snp", "kwok-tee-snp-0", "kata-qemu-snp"),
    ("tdx", "kwok-tee-tdx-0", "kata-qemu-tdx"),
])  # fmt: skip
def test_tee_performer_lands_on_a_node_of_its_tee_type(
    core, custom, namespace, operator, node_catalog, tee: str, node: str, runtime_class: str
):
    create_performer(
        custom,
        namespace,
        performer("tee", config={}, hardwareRequirements={"teeRequired": True, "teeType": tee}),
    )
    wait_performer_ready(custom, namespace, "tee")
    pod = read_pod(core, namespace, "tee")
    assert pod.spec.node_name == node
    assert pod.spec.runtime_class_name == runtime_class


def test_performer_needing_more_gpus_than_any_node_stays_pending_with_the_reason(
    core, custom, namespace, operator, node_catalog
):
    create_performer(custom, namespace, performer("greedy", config={}, hardwareRequirements={"gpuCount": 16}))

    def unschedulable() -> dict | None:
        cr = get_performer(custom, namespace, "greedy")
        return cr if condition(cr, "Scheduled").get("status") == "False" else None

    cr = wait_for(unschedulable, timeout=60, what="Scheduled=False")
    scheduled = condition(cr, "Scheduled")
    assert scheduled["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in scheduled["message"]
    assert cr["status"]["phase"] == "Pending"
    assert cr["status"]["ready"] is False


def test_performer_as_an_upstream_executor_creates_it_becomes_ready(core, custom, namespace, operator):
    body = upstream_executor_performer(
        "0x5FbDB2315678afecb367f032d93F642f64180aa3", "hello-performer", "v0.0.3"
    )
    name = body["metadata"]["name"]
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "avs-performer"}})
    create_performer(custom, namespace, body)
    cr = wait_performer_ready(custom, namespace, name)
    assert cr["status"]["grpcEndpoint"] == f"performer-{name}.{namespace}.svc.cluster.local"
    service = core.read_namespaced_service(f"performer-{name}", namespace)
    assert [(p.name, p.port) for p in service.spec.ports] == [("grpc", 8080)]
    container = read_pod(core, namespace, name).spec.containers[0]
    assert container.image_pull_policy == "Never"
    env = {e.name: e for e in container.env}
    assert env["GRPC_PORT"].value == "8080"
    assert env["PRIVATE_RPC"].value_from.secret_key_ref.name == "avs-secrets"
    assert env["CHAIN_ID"].value_from.config_map_key_ref.key == "chain-id"


def test_performer_without_config_uses_port_8080(core, custom, namespace, operator):
    create_performer(custom, namespace, performer("default-port"))
    wait_performer_ready(custom, namespace, "default-port")
    assert read_pod(core, namespace, "default-port").spec.containers[0].ports[0].container_port == 8080


@pytest.mark.parametrize("change", [
    {"config": {"environment": {"MODE": "changed"}}},
    {"image": "ghcr.io/example/performer:v2.0.0"},
    {"resources": {"requests": {"cpu": "200m"}}},
    {"scheduling": {"nodeSelector": {"topology.kubernetes.io/zone": "us-east-1b"}}},
])  # fmt: skip
def test_editing_the_spec_replaces_the_pod(core, custom, namespace, operator, change: dict):
    create_performer(custom, namespace, performer("upgrade", config={"environment": {"MODE": "initial"}}))
    wait_performer_ready(custom, namespace, "upgrade")
    old_uid = read_pod(core, namespace, "upgrade").metadata.uid
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "upgrade", {"spec": change})

    def replaced() -> kubernetes.client.V1Pod | None:
        pod = read_pod(core, namespace, "upgrade")
        return pod if pod and pod.metadata.uid != old_uid and not pod.metadata.deletion_timestamp else None

    new_uid = wait_for(replaced, timeout=60, what="the pod to be replaced").metadata.uid
    cr = wait_performer_ready(custom, namespace, "upgrade")
    assert cr["status"]["lastUpgrade"]
    # Read again: the replacement may not have been scheduled yet when it was first seen.
    pod = read_pod(core, namespace, "upgrade")
    assert pod.metadata.uid == new_uid
    assert cr["status"]["observedGeneration"] == cr["metadata"]["generation"] == 2
    container = pod.spec.containers[0]
    if "image" in change:
        assert container.image == change["image"]
    if "config" in change:
        assert {e.name: e.value for e in container.env} == {"MODE": "changed"}
    if "resources" in change:
        assert container.resources.requests == {"cpu": "200m"}
    if "scheduling" in change:
        assert node_labels(core, pod.spec.node_name)["topology.kubernetes.io/zone"] == "us-east-1b"


def test_an_edit_whose_pod_the_api_server_refuses_leaves_the_old_pod_serving(
    core, custom, namespace, operator
):
    """A priorityClassName that names no PriorityClass: the API server refuses every pod of the new
    spec. The operator finds out before it deletes the old pod, so the Performer goes on serving on
    the pod of its previous spec and says why its edit is not in effect."""
    create_performer(custom, namespace, performer("refused"))
    wait_performer_ready(custom, namespace, "refused")
    old_uid = read_pod(core, namespace, "refused").metadata.uid
    change = {"spec": {"scheduling": {"priorityClassName": "no-such-class"}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "refused", change)

    def refused() -> dict | None:
        cr = get_performer(custom, namespace, "refused")
        message = condition(cr, "Reconciled").get("message") or ""
        return cr if "no PriorityClass with name no-such-class" in message else None

    cr = wait_for(refused, timeout=60, what="the Performer to say that its new pod was refused")
    assert "the pod it would replace is left in place" in condition(cr, "Reconciled")["message"]
    pod = read_pod(core, namespace, "refused")
    assert pod.metadata.uid == old_uid and not pod.metadata.deletion_timestamp
    assert (cr["status"]["phase"], cr["status"]["ready"]) == ("Running", True)
    assert condition(cr, "Ready")["status"] == "True"


def ready_performer_under_long_waits(operators, tmp_path, custom, namespace: str, name: str) -> None:
    """An operator whose runs wait for a replaced pod far longer than a test (600 s), and the
    Performer `name` ready under it."""
    operator_with_role_vars(operators, tmp_path, performer_delete_wait_seconds=600)
    create_performer(custom, namespace, performer(name, config={"environment": {"MODE": "initial"}}))
    wait_performer_ready(custom, namespace, name)


@contextlib.contextmanager
def slow_replacement(core, custom, namespace: str, name: str) -> Iterator[str]:
    """Changes the ready Performer's env while its pod is held terminating (`pod_held`); yields the
    old pod's uid once it is terminating, releases the hold on leaving, and then waits until the new
    pod (with the new env) has replaced it."""
    old_uid = read_pod(core, namespace, name).metadata.uid
    with pod_held(core, namespace, f"performer-{name}"):
        change = {"spec": {"config": {"environment": {"MODE": "changed"}}}}
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, change)
        wait_for(
            lambda: read_pod(core, namespace, name).metadata.deletion_timestamp,
            timeout=30, what="the old pod to be terminating",
        )  # fmt: skip
        yield old_uid

    def replaced() -> kubernetes.client.V1Pod | None:
        pod = read_pod(core, namespace, name)
        return pod if pod and pod.metadata.uid != old_uid and not pod.metadata.deletion_timestamp else None

    container = wait_for(replaced, timeout=60, what="the pod to be replaced").spec.containers[0]
    assert {e.name: e.value for e in container.env} == {"MODE": "changed"}
    wait_performer_ready(custom, namespace, name)


def test_a_pod_slow_to_terminate_holds_up_only_its_own_performer(
    core, custom, namespace, operators, tmp_path
):
    # A replaced pod is waited for in the run that deleted it, but not while other work waits for the
    # run: here that wait is far longer than the test, so only the hand-off lets "other" through. The
    # old pod's deletion then brings the new one, with the run it triggers.
    ready_performer_under_long_waits(operators, tmp_path, custom, namespace, "slow")
    with slow_replacement(core, custom, namespace, "slow") as old_uid:
        create_performer(custom, namespace, performer("other", config={}))
        wait_performer_ready(custom, namespace, "other")
        held = read_pod(core, namespace, "slow")
        assert held.metadata.uid == old_uid and held.metadata.deletion_timestamp
        assert get_performer(custom, namespace, "slow")["status"]["phase"] == "Upgrading"


def test_a_performer_says_it_is_upgrading_while_its_run_waits_for_the_old_pod(
    core, custom, namespace, operators, tmp_path
):
    # Alone, the run waits for the old pod to go (here far longer than the test): its Service has no
    # endpoint meanwhile, so the status must not say ready; and it says Upgrading once, in one Event.
    ready_performer_under_long_waits(operators, tmp_path, custom, namespace, "alone")
    with slow_replacement(core, custom, namespace, "alone") as old_uid:

        def upgrading() -> dict | None:
            status = get_performer(custom, namespace, "alone").get("status") or {}
            return status if status.get("phase") == "Upgrading" else None

        status = wait_for(upgrading, timeout=30, what="phase Upgrading while the old pod terminates")
        assert status["ready"] is False and status["lastUpgrade"]
        assert read_pod(core, namespace, "alone").metadata.uid == old_uid  # still held
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=alone").items
    assert [e.count for e in events if e.reason == "Upgrading"] == [1]  # said twice, it would count 2


def test_deleted_pod_and_service_are_recreated(core, custom, namespace, operator):
    create_performer(custom, namespace, performer("repair", config={}))
    wait_performer_ready(custom, namespace, "repair")
    pod_uid = read_pod(core, namespace, "repair").metadata.uid
    service_uid = core.read_namespaced_service("performer-repair", namespace).metadata.uid
    core.delete_namespaced_pod("performer-repair", namespace)
    core.delete_namespaced_service("performer-repair", namespace)

    def recreated() -> bool:
        pod = read_pod(core, namespace, "repair")
        try:
            service = core.read_namespaced_service("performer-repair", namespace)
        except kubernetes.client.ApiException:
            return False
        return bool(pod and pod.metadata.uid != pod_uid and service.metadata.uid != service_uid)

    wait_for(recreated, timeout=60, what="pod and service to be recreated")
    wait_performer_ready(custom, namespace, "repair")


def statuses_seen(
    custom, namespace: str, since: str, timeout: int = 60
) -> contextlib.AbstractContextManager[list[dict]]:
    """Every status the namespace's Performers go through after resourceVersion `since`, as a watch
    delivers them while the block runs: a status that lasts a moment is seen too."""
    return events_seen(
        custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, since=since,
        record=lambda event: event["object"].get("status") or {}, timeout=timeout,
    )  # fmt: skip


def test_a_deleted_pod_resets_ready_at_once_and_the_recreated_one_sets_it_again(
    core, custom, namespace, operator
):
    create_performer(custom, namespace, performer("lost", config={}))
    cr = wait_performer_ready(custom, namespace, "lost")
    with statuses_seen(custom, namespace, cr["metadata"]["resourceVersion"]) as seen:
        core.delete_namespaced_pod("performer-lost", namespace)
        wait_for(
            lambda: any(s.get("ready") is False for s in seen), timeout=30, what="status.ready to turn false"
        )
        wait_performer_ready(custom, namespace, "lost")
    not_ready = next(s for s in seen if s.get("ready") is False)
    reason = next(c["reason"] for c in not_ready["conditions"] if c["type"] == "Ready")
    assert reason in ("PodNotCreated", "PodTerminating", "PodPending")


@pytest.mark.parametrize("options", [(), ("--no-status-fast-path",)], ids=["fast-path", "runs-only"])
def test_a_pod_its_node_evicted_is_replaced_once_old_enough_and_the_performer_ready_again(
    core, custom, namespace, operators, options
):
    # A kubelet that evicts a pod (node pressure) leaves it Failed and never starts it again; nothing
    # but the operator brings the performer back. Not before the pod is
    # performer_ended_pod_min_age_seconds (10) old, so that a node rejecting every pod it gets is not
    # sent a new one as fast as runs go: this one ends about a second after its creation, so only the
    # look the operator schedules for that moment replaces it (a status sync that escalates, or
    # without the status fast path a run).
    operator = operators(*options)
    operator.wait_ready()
    create_performer(custom, namespace, performer("evicted", config={}))
    wait_performer_ready(custom, namespace, "evicted")
    old = read_pod(core, namespace, "evicted")
    evict_pod(core, namespace, "performer-evicted")

    def says_ended() -> dict | None:
        cr = get_performer(custom, namespace, "evicted")
        return cr if (cr.get("status") or {}).get("phase") == "Failed" else None

    cr = wait_for(says_ended, timeout=30, what="phase Failed")
    assert cr["status"]["ready"] is False
    ended = f"Evicted: {EVICTION_MESSAGE}"
    assert condition(cr, "Ready")["message"].startswith(f"the performer pod ended ({ended})")

    def replaced() -> kubernetes.client.V1Pod | None:
        pod = read_pod(core, namespace, "evicted")
        return pod if pod and pod.metadata.uid != old.metadata.uid else None

    new = wait_for(replaced, timeout=60, what="the evicted pod to be replaced")
    assert (new.metadata.creation_timestamp - old.metadata.creation_timestamp).total_seconds() >= 9
    wait_performer_ready(custom, namespace, "evicted")
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=evicted").items
    replaced_events = [(e.type, e.message, e.count) for e in events if e.reason == "PodReplaced"]
    assert replaced_events == [("Warning", f"replaced the performer pod, which ended ({ended})", 1)]
    replaced_total = 'hourglass_repairs_total{reason="PodReplaced"}'  # what an alert counts
    wait_for(lambda: operator.metric(replaced_total) == 1, timeout=30, what="the replacement counted")


def test_a_pod_that_keeps_ending_before_it_is_ready_is_replaced_later_each_time(
    core, custom, namespace, operators, tmp_path
):
    # A node that rejects every pod it is sent (out of CPU, a device plugin gone) fails each one as it
    # arrives, so the Performer is never ready in between: each pod is replaced once twice as old as
    # the one before had to be (1, 2, 4, 8 s here), the status counts them and says when the next is
    # replaced, the Event counts them too, and the count goes once the Performer is ready.
    operator = operator_with_role_vars(
        operators, tmp_path, performer_ended_pod_min_age_seconds=1, performer_ended_pod_max_age_seconds=8
    )
    # Never scheduled, so never started or ready: only the rejections below end its pods.
    nowhere = {"nodeSelector": {f"{GROUP}/test": "no-such-node"}}
    cr = create_performer(custom, namespace, performer("rejected", config={}, scheduling=nowhere))
    pod = wait_for(lambda: read_pod(core, namespace, "rejected"), timeout=30, what="the first pod")
    ages, replaced_at = [], []
    with statuses_seen(custom, namespace, cr["metadata"]["resourceVersion"], timeout=120) as seen:
        for count, wanted_age in enumerate((1, 2, 4, 8), start=1):
            reject_pod(core, namespace, pod.metadata.name)
            created = pod.metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            replaced_at.append(contract.seconds_after(created, wanted_age))

            def replaced(old: kubernetes.client.V1Pod = pod) -> kubernetes.client.V1Pod | None:
                new = read_pod(core, namespace, "rejected")
                return new if new and new.metadata.uid != old.metadata.uid else None

            new = wait_for(replaced, timeout=60, what=f"rejected pod {count} to be replaced")
            ages.append((new.metadata.creation_timestamp - pod.metadata.creation_timestamp).total_seconds())
            wait_for(
                lambda n=count: get_performer(custom, namespace, "rejected")["status"].get("endedPods") == n,
                timeout=30, what=f"endedPods {count}",
            )  # fmt: skip
            pod = new
    # Whole seconds on both sides; one less for a clock the operator and the API server may not share.
    assert all(age >= wanted - 1 for age, wanted in zip(ages, (1, 2, 4, 8), strict=True)), ages
    ended = f"the performer pod ended (OutOfcpu: {REJECTION_MESSAGE})"
    said = {condition({"status": s}, "Ready").get("message") for s in seen}
    waits = {m for m in said if m and m.startswith(f"{ended}; it is replaced at ")}
    assert f"{ended}; it is replaced at {replaced_at[-1]}" in waits  # 8 s: the runs in between said it
    assert waits <= {f"{ended}; it is replaced at {at}" for at in replaced_at}

    # The Event comes right after the status, and the metric once the loop settles the run's result.
    def replaced_events() -> list:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=rejected").items
        return [(e.message, e.count) for e in events if e.reason == "PodReplaced"]

    wanted_events = [(f"replaced the performer pod, which ended (OutOfcpu: {REJECTION_MESSAGE})", 4)]
    wait_for(lambda: replaced_events() == wanted_events, timeout=30, what=f"the Event {wanted_events}")
    replaced_total = 'hourglass_repairs_total{reason="PodReplaced"}'
    wait_for(lambda: operator.metric(replaced_total) == 4, timeout=30, what="4 replacements counted")

    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "rejected", {"spec": {"scheduling": None}}
    )
    cr = wait_performer_ready(custom, namespace, "rejected")
    assert "endedPods" not in cr["status"]


def test_a_pod_being_drained_says_so_in_the_performers_status_and_comes_back_after(
    core, custom, namespace, operator
):
    # A drain evicts through the Eviction API, which marks the pod (a DisruptionTarget condition) and
    # deletes it; the test holds it while it terminates, as a slow kubelet would.
    create_performer(custom, namespace, performer("drained", config={}))
    wait_performer_ready(custom, namespace, "drained")
    old = read_pod(core, namespace, "drained")
    eviction = kubernetes.client.V1Eviction(
        metadata=kubernetes.client.V1ObjectMeta(name="performer-drained", namespace=namespace)
    )

    def says_drained() -> dict | None:
        ready = condition(get_performer(custom, namespace, "drained"), "Ready")
        return ready if ready.get("reason") == "PodTerminating" else None

    with pod_held(core, namespace, "performer-drained"):
        core.create_namespaced_pod_eviction("performer-drained", namespace, eviction)
        ready = wait_for(says_drained, timeout=30, what="the Ready condition to say the pod is being deleted")
        drained = "the performer pod is being deleted (EvictionByEvictionAPI: Eviction API: evicting)"
        # The status fast path says it first; the run after adds when a pod its node never confirms goes.
        unless = r"(; should its node not confirm it, it is deleted without it at \S+Z)?"
        assert re.fullmatch(re.escape(drained) + unless, ready["message"]), ready["message"]

    def replaced() -> kubernetes.client.V1Pod | None:
        pod = read_pod(core, namespace, "drained")
        return pod if pod and pod.metadata.uid != old.metadata.uid else None

    wait_for(replaced, timeout=60, what="a new pod once the drained one is gone")
    wait_performer_ready(custom, namespace, "drained")


def test_a_pod_whose_image_cannot_be_pulled_says_why_in_the_performers_status(
    cluster, core, custom, namespace, operator
):
    # What a node operator needs to see on the Performer when its pod cannot start (a wrong image or
    # pull secret): the kubelet's reason, not only "Pending". kwok pulls nothing, so the test writes
    # the container status a kubelet writes.
    create_performer(custom, namespace, performer("unpulled", config={}))
    wait_performer_ready(custom, namespace, "unpulled")
    back_off = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x:1"'}}
    container = {"name": "performer", "image": "x:1", "imageID": "", "ready": False, "restartCount": 0,
                 "state": back_off}  # fmt: skip
    not_ready = {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
    core.patch_namespaced_pod_status("performer-unpulled", namespace, {"status": {
        "phase": "Pending", "conditions": [not_ready], "containerStatuses": [container]}})  # fmt: skip
    expected = "the performer pod is Pending: container performer is waiting: " + (
        'ImagePullBackOff: Back-off pulling image "x:1"'
    )

    def says_why() -> dict | None:
        cr = get_performer(custom, namespace, "unpulled")
        return cr if condition(cr, "Ready").get("message") == expected else None

    cr = wait_for(says_why, timeout=30, what="the Ready condition to name the image pull back-off")
    assert (cr["status"]["phase"], cr["status"]["ready"]) == ("Pending", False)
    assert condition(cr, "Reconciling")["message"] == f"Pending: {expected}"
    wide = cluster.kubectl("get", "performers", "unpulled", "-n", namespace, "-o", "wide").splitlines()
    assert wide[0].split()[-1] == "MESSAGE" and wide[1].endswith(expected)


def test_edited_service_selector_is_repaired(core, custom, namespace, operator):
    create_performer(custom, namespace, performer("selector", config={}))
    wait_performer_ready(custom, namespace, "selector")
    core.patch_namespaced_service("performer-selector", namespace, {"spec": {"selector": {"app": "other"}}})

    def repaired() -> bool:
        service = core.read_namespaced_service("performer-selector", namespace)
        return service.spec.selector == {"hourglass.eigenlayer.io/performer": "selector"}

    wait_for(repaired, timeout=30, what="the Service selector to be repaired")


def test_deleting_the_performer_removes_pod_service_and_finalizer(core, custom, namespace, operator):
    create_performer(custom, namespace, performer("doomed", config={}))
    wait_performer_ready(custom, namespace, "doomed")
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "doomed")

    def all_gone() -> bool:
        performers = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        pods = core.list_namespaced_pod(
            namespace, label_selector="hourglass.eigenlayer.io/performer=doomed"
        ).items
        services = core.list_namespaced_service(namespace, label_selector="app=hourglass-performer").items
        return not performers and not pods and not services

    wait_for(all_gone, timeout=60, what="the Performer, its Pod and its Service to be gone")


def test_every_write_of_the_operator_names_it_as_the_field_manager(core, custom, namespace, operator):
    """Who wrote what, as `kubectl get --show-managed-fields` and the audit log tell it: the Pod and
    Service (server-side apply), the finalizer and the status (plain patches, whose manager the API
    server takes from the User-Agent) and the Event are all the operator's, none "unknown"."""
    create_performer(custom, namespace, performer("managed", config={}))
    cr = wait_performer_ready(custom, namespace, "managed")
    entries = cr["metadata"]["managedFields"]
    [status_writer] = [e["manager"] for e in entries if e.get("subresource") == "status"]
    [finalizer_writer] = [
        e["manager"] for e in entries if "f:finalizers" in e.get("fieldsV1", {}).get("f:metadata", {})
    ]
    assert status_writer == finalizer_writer == "hourglass-operator"
    assert "unknown" not in [e["manager"] for e in entries]
    for child in (
        core.read_namespaced_pod("performer-managed", namespace),
        core.read_namespaced_service("performer-managed", namespace),
    ):
        writers = {e.manager for e in child.metadata.managed_fields if e.subresource != "status"}
        assert writers == {"hourglass-operator"}  # the pod's status is the kubelet's (here kwok's)

    def event_writers() -> set[str]:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=managed").items
        return {e.manager for event in events for e in event.metadata.managed_fields or []}

    wait_for(event_writers, timeout=15, what="the Performer's Event")
    assert event_writers() == {"hourglass-operator"}


def test_jinja_in_performer_strings_reaches_the_pod_literally(core, custom, namespace, operator):
    create_performer(custom, namespace, performer(
        "jinja", config={"environment": {"PAYLOAD": JINJA, JINJA: "key"}, "args": [JINJA, "{{ 7 * 7 }}"]},
        version=JINJA,
    ))  # fmt: skip
    wait_performer_ready(custom, namespace, "jinja")
    container = read_pod(core, namespace, "jinja").spec.containers[0]
    assert {e.name: e.value for e in container.env} == {"PAYLOAD": JINJA, JINJA: "key"}
    assert container.args == [JINJA, "{{ 7 * 7 }}"]


def test_role_variables_given_at_deployment_reach_every_run(custom, namespace, operators):
    # As the chart's roleVars give them (ROLE_VARS): a cluster whose DNS domain is not cluster.local.
    operators("--role-vars", '{"performer_cluster_domain": "corp.example"}').wait_ready()
    create_performer(custom, namespace, performer("elsewhere", config={}))
    cr = wait_performer_ready(custom, namespace, "elsewhere")
    assert cr["status"]["grpcEndpoint"] == f"performer-elsewhere.{namespace}.svc.corp.example"


def test_a_gpu_type_the_operators_catalog_lacks_fails_that_performer_with_a_clear_condition(
    core, custom, namespace, operators, tmp_path
):
    # The CRD admits the role's default GPU types; an admin who narrows performer_gpu_products
    # (watches.yaml vars) makes the others fail at reconcile.
    operator_with_role_vars(
        operators, tmp_path, performer_gpu_products={"nvidia-a100": ["NVIDIA-A100-SXM4-80GB"]}
    )
    create_performer(
        custom,
        namespace,
        performer("mystery", config={}, hardwareRequirements={"gpuType": "nvidia-h100", "gpuCount": 1}),
    )
    create_performer(custom, namespace, performer("fine", config={}))

    def failed() -> dict | None:
        cr = get_performer(custom, namespace, "mystery")
        return cr if condition(cr, "Reconciled").get("status") == "False" else None

    cr = wait_for(failed, timeout=60, what="Reconciled=False")
    assert 'unknown GPU type "nvidia-h100"' in condition(cr, "Reconciled")["message"]
    assert "known types: nvidia-a100" in condition(cr, "Reconciled")["message"]
    assert cr["status"]["phase"] == "Failed"
    assert read_pod(core, namespace, "mystery") is None
    # The other Performer of the same batch is not held back.
    wait_performer_ready(custom, namespace, "fine")
