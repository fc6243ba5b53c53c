"""Drift the operator must repair: another client edits or adds a Service port, sets the image of a
performer pod or changes its owner label, or writes the Performer's status. Each is repaired
without any change to the Performer; a repair that keeps failing shows in the status and Events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import pytest

from tests.support import drift
from tests.support.admission import mutating_policies_served, namespace_mutation, namespace_policy
from tests.support.api import exists, read_or_none
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    create_performer,
    get_performer,
    performer,
    wait_performer_ready,
)
from tests.support.waiting import wait_for

REPAIR_TIMEOUT = 30


@pytest.mark.parametrize("case", drift.CASES, ids=lambda case: case.name)
def test_tampering_is_repaired(core, custom, namespace, operator, case: drift.Case):
    create_performer(custom, namespace, performer("drift", config={}))
    wait_performer_ready(custom, namespace, "drift")
    wait_idle(operator)
    before = drift.snapshot(core, custom, namespace, "drift")
    case.tamper(core, custom, before)
    wait_for(
        lambda: case.repaired(core, custom, before), timeout=REPAIR_TIMEOUT, what=f"{case.name} repaired"
    )
    service = core.read_namespaced_service(before.child, namespace)
    assert service.metadata.uid == before.service_uid, "the Service is repaired in place, not recreated"
    pod = core.read_namespaced_pod(before.child, namespace)
    if case.name == "pod-image-set":
        assert pod.metadata.uid != before.pod_uid, "a pod that ran another image is replaced"
    cr = wait_performer_ready(custom, namespace, "drift")
    assert condition(cr, "Reconciled")["status"] == "True"


def test_a_service_repair_that_keeps_failing_shows_in_status_and_events(core, custom, namespace, operator):
    """An admission policy rejects the operator's repair of the Service: the Performer says so in its
    Reconciled condition and an Event, and the repair succeeds once the policy is gone."""
    create_performer(custom, namespace, performer("blocked", config={}))
    wait_performer_ready(custom, namespace, "blocked")
    wait_idle(operator)
    before = drift.snapshot(core, custom, namespace, "blocked")
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE", "DELETE"],
              "resources": ["services"]}]  # fmt: skip
    # The tampering (to port 9999) passes; putting 9090 back does not.
    frozen = [{"expression": "request.operation == 'UPDATE' && object.spec.ports.all(p, p.port != 9090)",
               "message": "frozen by policy: the performer port may not change"}]  # fmt: skip
    with namespace_policy(core.api_client, namespace, rules, frozen):
        # The policy is enforced once the API server has loaded it: an update putting 9090 back fails.
        wait_for(
            lambda: _update_rejected(core, before), timeout=30, what="the admission policy to be enforced"
        )
        drift.edit_service_port(core, custom, before)

        def failure_reported() -> dict | None:
            reconciled = condition(get_performer(custom, namespace, "blocked"), "Reconciled")
            return reconciled if reconciled.get("status") == "False" else None

        reconciled = wait_for(failure_reported, timeout=REPAIR_TIMEOUT, what="Reconciled=False")
        assert reconciled["reason"] == "ReconcileFailed"
        assert "frozen by policy" in reconciled["message"]
        assert "performer-blocked" in reconciled["message"]

        def failed_events() -> list:  # written right after the status, so it may not be there yet
            events = core.list_namespaced_event(
                namespace, field_selector="involvedObject.kind=Performer,involvedObject.name=blocked"
            ).items
            return [e for e in events if e.reason == "ReconcileFailed"]

        [failed, *_] = wait_for(failed_events, timeout=30, what="a ReconcileFailed Event")
        assert failed.type == "Warning" and "frozen by policy" in failed.message
    wait_for(lambda: drift.CASES[0].repaired(core, custom, before), timeout=60, what="the Service repaired")
    wait_for(
        lambda: condition(get_performer(custom, namespace, "blocked"), "Reconciled").get("status") == "True",
        timeout=60,
        what="Reconciled=True",
    )


def wait_idle(operator) -> None:
    """Until the operator has nothing queued or running: what it does next is the repair."""
    wait_for(operator.queue_idle, timeout=60, what="the operator to be idle")


def _refused(core, service: kubernetes.client.V1Service) -> bool:
    """Whether a dry-run update of `service` is refused by the test's policy."""
    try:
        core.replace_namespaced_service(
            service.metadata.name, service.metadata.namespace, service, dry_run="All"
        )
    except kubernetes.client.ApiException as error:
        return "no Service update expected" in (error.body or "")
    return False


def _update_rejected(core, snap: drift.Snapshot) -> bool:
    """Whether a dry-run update of the Service (which keeps port 9090) is rejected by the policy."""
    service = core.read_namespaced_service(snap.child, snap.namespace)
    try:
        core.replace_namespaced_service(snap.child, snap.namespace, service, dry_run="All")
    except kubernetes.client.ApiException as error:
        return "frozen by policy" in (error.body or "")
    return False


def test_a_service_another_client_recreated_headless_is_recreated_with_a_cluster_ip(
    core, custom, namespace, operator
):
    """A headless Service cannot get a cluster IP in place: the operator deletes and creates it."""
    create_performer(custom, namespace, performer("headless", config={}))
    wait_performer_ready(custom, namespace, "headless")
    wait_idle(operator)
    before = drift.snapshot(core, custom, namespace, "headless")
    service = core.read_namespaced_service(before.child, namespace).to_dict()
    core.delete_namespaced_service(before.child, namespace)
    wait_for(lambda: not exists(core.read_namespaced_service, before.child, namespace), timeout=30,
             what="the Service deleted")  # fmt: skip
    core.create_namespaced_service(namespace, {
        "metadata": {"name": before.child, "labels": service["metadata"]["labels"]},
        "spec": {"clusterIP": "None", "selector": service["spec"]["selector"],
                 "ports": [{"name": "grpc", "port": 9090, "targetPort": "grpc"}]},
    })  # fmt: skip

    def has_cluster_ip() -> bool:
        current = read_or_none(core.read_namespaced_service, before.child, namespace)
        return bool(current) and current.spec.cluster_ip not in (None, "None")

    wait_for(has_cluster_ip, timeout=REPAIR_TIMEOUT, what="a Service with a cluster IP again")
    assert drift.service_shape(core.read_namespaced_service(before.child, namespace)) == before.service_spec


LIMIT_RANGE_REQUESTS = {"cpu": "100m", "memory": "64Mi"}
SIDECAR = "mesh-proxy"


@contextlib.contextmanager
def limit_range_defaults(core, custom, namespace: str) -> Iterator[Callable[[Any], bool]]:
    """A LimitRange with container defaults, as shared namespaces often have: every new container gets
    the resources it does not set."""
    defaults = {"default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": LIMIT_RANGE_REQUESTS}
    body = {"metadata": {"name": "defaults"}, "spec": {"limits": [{"type": "Container", **defaults}]}}
    core.create_namespaced_limit_range(namespace, body)
    yield lambda pod: pod.spec.containers[0].resources.requests == LIMIT_RANGE_REQUESTS


@contextlib.contextmanager
def sidecar_injected(core, custom, namespace: str) -> Iterator[Callable[[Any], bool]]:
    """A MutatingAdmissionPolicy that adds a proxy container to every new pod of the namespace, as a
    service mesh's injector does."""
    container = f'Object.spec.containers{{name: "{SIDECAR}", image: "example/proxy:1"}}'
    add = f"Object{{spec: Object.spec{{containers: [{container}]}}}}"
    with mutation(core, namespace, "pods", ["CREATE"], add):
        probe = {"metadata": {"name": "probe", "namespace": namespace},
                 "spec": {"containers": [{"name": "c", "image": "x:1"}]}}  # fmt: skip

        def injected() -> bool:
            admitted = core.create_namespaced_pod(namespace, probe, dry_run="All")
            return SIDECAR in {c.name for c in admitted.spec.containers}

        wait_for(injected, timeout=30, what="the policy to inject its container")
        yield lambda pod: [c.name for c in pod.spec.containers] == ["performer", SIDECAR]


@contextlib.contextmanager
def mutation(core, namespace: str, resource: str, operations: list[str], expression: str) -> Iterator[None]:
    """A MutatingAdmissionPolicy changing the core/v1 `resource` objects of the namespace by the CEL
    apply configuration `expression` (cluster-scoped: removed after the test); skips the test on a
    cluster that serves none."""
    if not mutating_policies_served(core.api_client):
        pytest.skip("the cluster serves no admissionregistration.k8s.io/v1 MutatingAdmissionPolicy")
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": operations, "resources": [resource]}]
    with namespace_mutation(core.api_client, namespace, rules, expression):
        yield


@pytest.mark.parametrize(
    "admission", [limit_range_defaults, sidecar_injected], ids=["limit-range", "sidecar"]
)
def test_what_admission_gives_a_new_pod_is_not_drift(core, custom, namespace, operator, admission):
    """A LimitRange gives every new pod resources the role did not render, a service mesh adds its
    container, a policy pins image digests: a new pod would get the same again, so replacing the pod
    for it would never end. The pod stays, and a spec change still replaces it."""
    with admission(core, custom, namespace) as admitted:
        create_performer(custom, namespace, performer("admitted", config={}))
        wait_performer_ready(custom, namespace, "admitted")
        wait_idle(operator)
        pod = core.read_namespaced_pod("performer-admitted", namespace)
        assert admitted(pod)
        reconciles = operator.metric('hourglass_reconciles_total{result="success"}')
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "admitted", {"metadata": {"labels": {"looked-at": "again"}}}
        )  # a full reconcile, and nothing for it to change
        wait_for(
            lambda: operator.metric('hourglass_reconciles_total{result="success"}') > reconciles,
            timeout=60, what="another reconcile",
        )  # fmt: skip
        wait_idle(operator)
        assert core.read_namespaced_pod("performer-admitted", namespace).metadata.uid == pod.metadata.uid
        assert operator.metric('hourglass_repairs_total{reason="PodDrifted"}') == 0
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=admitted").items
        assert [e.message for e in events if e.reason == "PodDrifted"] == []

        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "admitted", {"spec": {"image": "ghcr.io/example/performer:v2"}}
        )

        def replaced() -> Any:
            new = read_or_none(core.read_namespaced_pod, "performer-admitted", namespace)
            return new if new and new.metadata.uid != pod.metadata.uid else None

        assert admitted(wait_for(replaced, timeout=60, what="the pod to be replaced"))
        wait_performer_ready(custom, namespace, "admitted")


def test_what_admission_gives_a_service_is_not_drift(core, custom, namespace, operator):
    """A policy sets the session affinity of every Service written in the namespace: the Service
    differs from the rendered one, but restoring it gives the same Service again, so no client changed
    it. Every full reconcile (a restart, a spec change) found it drifted and said so in a
    ServiceDrifted Warning. Another client's change is still restored, and said."""
    client_ip = 'Object{spec: Object.spec{sessionAffinity: "ClientIP"}}'
    with mutation(core, namespace, "services", ["CREATE", "UPDATE"], client_ip):
        probe = {"metadata": {"name": "probe"}, "spec": {"ports": [{"port": 80}]}}
        wait_for(
            lambda: core.create_namespaced_service(namespace, probe, dry_run="All").spec.session_affinity
            == "ClientIP",
            timeout=30, what="the policy to set the session affinity",
        )  # fmt: skip
        create_performer(custom, namespace, performer("affine", config={}))
        wait_performer_ready(custom, namespace, "affine")
        wait_idle(operator)
        service = core.read_namespaced_service("performer-affine", namespace)
        assert service.spec.session_affinity == "ClientIP"
        reconciles = operator.metric('hourglass_reconciles_total{result="success"}')
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "affine", {"metadata": {"labels": {"looked-at": "again"}}}
        )  # a full reconcile, which compares the Service with the rendered one
        wait_for(
            lambda: operator.metric('hourglass_reconciles_total{result="success"}') > reconciles,
            timeout=60, what="another reconcile",
        )  # fmt: skip
        wait_idle(operator)
        assert operator.metric('hourglass_repairs_total{reason="ServiceDrifted"}') == 0
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=affine").items
        assert [e.message for e in events if e.reason == "ServiceDrifted"] == []
        after = core.read_namespaced_service("performer-affine", namespace)
        assert after.metadata.resource_version == service.metadata.resource_version

        # That restore changed nothing: the next full reconcile does not write the Service at all. A
        # policy refusing every update of a Service in the namespace would fail its restore.
        rules = [
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["services"]}
        ]
        refused = [{"expression": "false", "message": "no Service update expected"}]
        with namespace_policy(core.api_client, namespace, rules, refused):
            wait_for(lambda: _refused(core, after), timeout=30, what="the admission policy to be enforced")
            reconciles = operator.metric('hourglass_reconciles_total{result="success"}')
            custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "affine", {"metadata": {"labels": {"looked-at": "twice"}}}
            )
            wait_for(
                lambda: operator.metric('hourglass_reconciles_total{result="success"}') > reconciles,
                timeout=60, what="a third reconcile",
            )  # fmt: skip
            wait_idle(operator)
            assert condition(get_performer(custom, namespace, "affine"), "Reconciled")["status"] == "True"
            assert operator.metric('hourglass_reconciles_total{result="error"}') == 0
        # The API server stops enforcing a deleted policy a moment later: the tampering waits for that.
        wait_for(lambda: not _refused(core, after), timeout=30, what="the admission policy to be lifted")

        before = drift.snapshot(core, custom, namespace, "affine")
        drift.edit_service_port(core, custom, before)
        wait_for(lambda: drift.CASES[0].repaired(core, custom, before), timeout=REPAIR_TIMEOUT,
                 what="the edited port restored")  # fmt: skip
        wait_for(lambda: operator.metric('hourglass_repairs_total{reason="ServiceDrifted"}') == 1,
                 timeout=30, what="the restore counted")  # fmt: skip
        assert core.read_namespaced_service("performer-affine", namespace).spec.session_affinity == "ClientIP"
