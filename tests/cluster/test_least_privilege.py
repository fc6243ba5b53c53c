"""The shipped RBAC (config/rbac) is enough, and no more: the real operator process, authenticated
only by a TokenRequest token of the shipped ServiceAccount, with leader election on (its Lease in
the operator's namespace), reconciles Performers in another namespace through creation, a spec
change and deletion without a single Forbidden; and `kubectl auth can-i`, asked as that
ServiceAccount, shows it can do each thing it needs and nothing it does not (Secrets,
ConfigMaps, workloads, listing or changing nodes, namespaces, RBAC, other Leases)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from tests.support.api import read_or_none
from tests.support.cluster import Cluster
from tests.support.operator import OperatorProcess
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers, performer
from tests.support.rbac import (
    InstalledRbac,
    can_i,
    forbidden_lines,
    install_rbac,
    remove_rbac,
    service_account_kubeconfig,
    unique_name,
)
from tests.support.waiting import wait_for


@pytest.fixture
def operator_namespace(cluster: Cluster, core, namespace: str) -> Iterator[str]:
    """The namespace standing in for hourglass-system (the test's `namespace` holds the Performers)."""
    name = f"{namespace[:55]}-op"
    core.create_namespace({"metadata": {"name": name, "labels": {"hourglass.eigenlayer.io/test": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def rbac(cluster: Cluster, operator_namespace: str) -> Iterator[InstalledRbac]:
    installed = install_rbac(cluster, operator_namespace, unique_name())
    yield installed
    remove_rbac(cluster, installed)


@pytest.fixture
def token_kubeconfig(cluster: Cluster, rbac: InstalledRbac, tmp_path: Path) -> Path:
    return service_account_kubeconfig(cluster, rbac, tmp_path / "operator.kubeconfig")


@pytest.fixture
def sa_operator(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    custom,
    namespace: str,
    performer_crd: dict,
    rbac: InstalledRbac,
    token_kubeconfig: Path,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator watching `namespace` as the ServiceAccount, leader election on. Afterwards the
    test's Performers are deleted while it still runs, so their finalizers are released."""
    process = OperatorProcess(
        token_kubeconfig, namespace, tmp_path, "--leader-elect",
        "--leader-election-namespace", rbac.namespace, "--leader-election-id", rbac.name,
    )  # fmt: skip
    request.node.hourglass_operators = [process]  # the failure report carries its log
    try:
        process.wait_ready()
        yield process
    finally:
        try:
            delete_performers(custom, namespace, timeout=90, what="the test's Performers to be deleted")
        finally:
            process.stop()


def test_without_the_optional_quota_rule_the_operator_says_so_once_and_reconciles(
    request, cluster, custom, namespace, operator_namespace, performer_crd, tmp_path
):
    rbac = install_rbac(cluster, operator_namespace, unique_name(), without=("resourcequotas",))
    process = OperatorProcess(
        service_account_kubeconfig(cluster, rbac, tmp_path / "kubeconfig"), namespace, tmp_path
    )
    request.node.hourglass_operators = [process]
    try:
        process.wait_ready()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, performer("unquoted", config={})
        )
        wait_for(lambda: ready_for_generation(custom, namespace, "unquoted"), timeout=90, what="Ready")
        delete_performers(custom, namespace, timeout=90, what="the Performer to be deleted")
    finally:
        process.stop()
        remove_rbac(cluster, rbac)
    said = [line for line in process.log_lines() if "no permission to list and watch resourcequotas" in line]
    assert len(said) == 1, said
    assert not forbidden_lines(process.log_lines())


def get_performer(custom, namespace: str, name: str) -> dict | None:
    return read_or_none(custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)


def ready_for_generation(custom, namespace: str, name: str) -> dict | None:
    cr = get_performer(custom, namespace, name)
    status = (cr or {}).get("status") or {}
    current = cr is not None and status.get("observedGeneration") == cr["metadata"]["generation"]
    return cr if current and status.get("ready") else None


def test_operator_runs_under_the_shipped_service_account_without_a_forbidden(
    cluster, core, custom, namespace, rbac, sa_operator
):
    coordination = kubernetes.client.CoordinationV1Api(cluster.api)
    lease = wait_for(
        lambda: read_or_none(coordination.read_namespaced_lease, rbac.name, rbac.namespace),
        timeout=30,
        what="the leader-election Lease in the operator's namespace",
    )
    assert lease.spec.holder_identity

    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, performer("least", config={"environment": {"MODE": "a"}})
    )
    first = wait_for(lambda: ready_for_generation(custom, namespace, "least"), timeout=90, what="Ready")
    assert "hourglass.eigenlayer.io/performer-finalizer" in first["metadata"]["finalizers"]
    old_pod = core.read_namespaced_pod("performer-least", namespace)
    assert core.read_namespaced_service("performer-least", namespace).spec.selector
    # Events are written by the operator (core/v1 events: create).
    wait_for(
        lambda: any(
            e.reason == "Ready" and e.involved_object.name == "least"
            for e in core.list_namespaced_event(namespace).items
        ),
        timeout=30,
        what="the operator's Ready Event",
    )

    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "least", {"spec": {"config": {"environment": {"MODE": "b"}}}}
    )
    wait_for(
        lambda: ready_for_generation(custom, namespace, "least"), timeout=90, what="Ready after the change"
    )
    new_pod = core.read_namespaced_pod("performer-least", namespace)
    assert new_pod.metadata.uid != old_pod.metadata.uid
    assert {e.name: e.value for e in new_pod.spec.containers[0].env} == {"MODE": "b"}

    # Ready again, with the same message: the first Ready Event is counted again (events: patch).
    def ready_events() -> list:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=least").items
        return [e for e in events if e.reason == "Ready"]

    wait_for(lambda: [e.count for e in ready_events()] == [2], timeout=30, what="one Ready Event, count 2")

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "least")
    wait_for(
        lambda: get_performer(custom, namespace, "least") is None,
        timeout=90,
        what="the Performer to be gone (finalizer released)",
    )
    assert read_or_none(core.read_namespaced_pod, "performer-least", namespace) is None
    assert read_or_none(core.read_namespaced_service, "performer-least", namespace) is None

    denied = forbidden_lines(sa_operator.log_lines())
    assert not denied, "the operator was refused something:\n" + "\n".join(denied)


# (verb, resource, subresource, where): where is "watched" (a namespace the operator serves),
# "operator" (its own namespace) or None (all namespaces / cluster-scoped).
ALLOWED = [
    ("list", "performers.hourglass.eigenlayer.io", None, None),
    ("watch", "performers.hourglass.eigenlayer.io", None, None),
    ("get", "performers.hourglass.eigenlayer.io", None, "watched"),
    ("patch", "performers.hourglass.eigenlayer.io", None, "watched"),
    ("patch", "performers.hourglass.eigenlayer.io", "status", "watched"),
    ("update", "performers.hourglass.eigenlayer.io", "finalizers", "watched"),
    *[(verb, kind, None, "watched") for kind in ("pods", "services")
      for verb in ("get", "list", "watch", "create", "patch", "delete")],
    ("update", "services", None, "watched"),
    ("list", "pods", None, None),
    ("watch", "services", None, None),
    *[(verb, "events", None, "watched") for verb in ("create", "patch")],
    ("create", "leases.coordination.k8s.io", None, "operator"),
    ("get", "leases.coordination.k8s.io/{lease}", None, "operator"),
    ("update", "leases.coordination.k8s.io/{lease}", None, "operator"),
    ("get", "nodes", None, None),
    ("list", "resourcequotas", None, None),
    ("watch", "resourcequotas", None, None),
]  # fmt: skip

DENIED = [
    *[(verb, kind, None, where) for kind in ("secrets", "configmaps") for verb in ("get", "list", "watch")
      for where in ("watched", "operator", None)],
    ("create", "secrets", None, "watched"),
    ("create", "performers.hourglass.eigenlayer.io", None, "watched"),
    ("update", "performers.hourglass.eigenlayer.io", None, "watched"),
    ("delete", "performers.hourglass.eigenlayer.io", None, "watched"),
    ("update", "performers.hourglass.eigenlayer.io", "status", "watched"),
    ("update", "pods", None, "watched"),
    ("create", "pods", "exec", "watched"),
    ("get", "pods", "log", "watched"),
    ("create", "pods", "eviction", "watched"),
    ("deletecollection", "pods", None, "watched"),
    ("create", "serviceaccounts", "token", "watched"),
    ("get", "serviceaccounts", None, "watched"),
    ("create", "persistentvolumeclaims", None, "watched"),
    ("create", "deployments.apps", None, "watched"),
    ("create", "statefulsets.apps", None, "watched"),
    ("create", "jobs.batch", None, "watched"),
    ("create", "networkpolicies.networking.k8s.io", None, "watched"),
    ("create", "events.events.k8s.io", None, "watched"),
    *[(verb, "events", None, "watched") for verb in ("get", "list", "delete")],
    ("delete", "namespaces", None, None),
    ("create", "namespaces", None, None),
    *[(verb, "resourcequotas", None, "watched") for verb in ("create", "patch", "update", "delete")],
    ("list", "nodes", None, None),
    ("patch", "nodes", None, None),
    ("get", "customresourcedefinitions.apiextensions.k8s.io", None, None),
    ("create", "clusterroles.rbac.authorization.k8s.io", None, None),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", None, None),
    ("bind", "clusterroles.rbac.authorization.k8s.io", None, None),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", None, None),
    ("create", "rolebindings.rbac.authorization.k8s.io", None, "operator"),
    ("impersonate", "serviceaccounts", None, "watched"),
    ("create", "leases.coordination.k8s.io", None, "watched"),
    ("update", "leases.coordination.k8s.io/{lease}", None, "watched"),
    ("get", "leases.coordination.k8s.io/{lease}", None, "watched"),
    ("update", "leases.coordination.k8s.io/another-lease", None, "operator"),
    ("delete", "leases.coordination.k8s.io/{lease}", None, "operator"),
    ("list", "leases.coordination.k8s.io", None, "operator"),
    ("*", "*", None, None),
]  # fmt: skip


def ask(cluster, kubeconfig, rbac, namespace, verb, resource, subresource, where) -> bool:
    target = {"watched": namespace, "operator": rbac.namespace, None: None}[where]
    return can_i(
        cluster, kubeconfig, verb, resource.format(lease=rbac.name), namespace=target, subresource=subresource
    )


def describe(verb: str, resource: str, subresource: str | None, where: str | None) -> str:
    return f"{verb} {resource}{'/' + subresource if subresource else ''} in {where or 'all namespaces'}"


def test_can_i_matrix_of_the_shipped_service_account(cluster, namespace, rbac, token_kubeconfig):
    whoami = subprocess.run(
        [cluster.kubectl_bin, "--kubeconfig", str(token_kubeconfig), "auth", "whoami",
         "-o", "jsonpath={.status.userInfo.username}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert whoami.stdout == rbac.user, whoami.stderr  # the token, not an admin credential

    missing = [
        describe(*case) for case in ALLOWED if not ask(cluster, token_kubeconfig, rbac, namespace, *case)
    ]
    excess = [describe(*case) for case in DENIED if ask(cluster, token_kubeconfig, rbac, namespace, *case)]
    assert not missing, f"the ServiceAccount lacks: {missing}"
    assert not excess, f"the ServiceAccount may: {excess}"
