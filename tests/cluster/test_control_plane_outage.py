"""The local control plane and the operator survive an API server or etcd outage without anyone's
help: the testenv supervisor starts again what exited (kwokctl never does: the controller-manager
and the scheduler exit when they lose their leader lease), and the operator, which kept running,
reconciles what changed once the API server is ready again. Each outage lasts until both
controllers have lost their lease and exited; the time from /readyz to a converged operator is
measured and printed (`-s` shows it).

These tests stop components, so they run on a control plane of their own, never the shared one.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import kubernetes
import pytest

from tests.support.api import read_or_none
from tests.support.operator import OperatorProcess
from tests.support.paths import CRD_FILE
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers, performer
from tests.support.private_cluster import PrivateControlPlane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("HOURGLASS_TEST_KUBECONFIG")),
    reason="stops control-plane components: needs the local control plane, not an existing cluster",
)
CONTROLLERS = ("kube-controller-manager", "kube-scheduler")


@pytest.fixture(scope="module")
def plane() -> Iterator[PrivateControlPlane]:
    private = PrivateControlPlane("hourglass-outage")
    try:
        kubectl = [
            private.testenv("bin").stdout.strip() + "/kubectl",
            "--kubeconfig",
            str(private.kubeconfig),
        ]
        for args in (
            ["apply", "--server-side", "-f", str(CRD_FILE)],
            [
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/performers.hourglass.eigenlayer.io",
            ],
        ):
            subprocess.run([*kubectl, *args], check=True, capture_output=True, timeout=90)
        yield private
    finally:
        private.down()


def ready_at_generation(custom, namespace: str, name: str) -> bool:
    try:
        cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except kubernetes.client.ApiException:
        return False
    status = cr.get("status") or {}
    return bool(status.get("ready")) and status.get("observedGeneration") == cr["metadata"]["generation"]


def observed(custom, namespace: str, name: str) -> bool:
    """Whether the operator has written a status for the Performer's current generation."""
    cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return (cr.get("status") or {}).get("observedGeneration") == cr["metadata"]["generation"]


def explain(plane: PrivateControlPlane, operator: OperatorProcess | None) -> str:
    parts = ["supervisor log:", *plane.supervisor_log()[-30:], plane.component_logs(15)]
    if operator is not None:
        parts += ["operator log:", operator.logs(60)]
    return "\n".join(parts)


def test_the_supervisor_starts_a_component_that_exited_again(plane):
    seen = len(plane.supervisor_log())
    pid = plane.kill("kube-scheduler")
    plane.wait_supervisor(f"kube-scheduler (pid {pid}) exited", after=seen)
    line = plane.wait_supervisor("restarted kube-scheduler as pid", after=seen)
    assert plane.pid("kube-scheduler") == int(line.rsplit(" ", 1)[1]) != pid
    # And it schedules again.
    core = kubernetes.client.CoreV1Api(plane.api)
    namespace = f"t-restart-{os.getpid()}-{int(time.time())}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": "probe"},
            "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]},
        })  # fmt: skip
        wait_for(
            lambda: core.read_namespaced_pod("probe", namespace).spec.node_name,
            timeout=60,
            what="the restarted scheduler to bind a pod",
        )
    finally:
        core.delete_namespace(namespace)


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_the_operator_recovers_from_an_outage(plane, tmp_path, component: str):
    core, custom = kubernetes.client.CoreV1Api(plane.api), kubernetes.client.CustomObjectsApi(plane.api)
    namespace = f"t-outage-{component}-{int(time.time())}"
    core.create_namespace({"metadata": {"name": namespace}})
    operator = OperatorProcess(plane.kubeconfig, namespace, tmp_path)
    try:
        operator.wait_ready(60)
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, performer("before", config={})
        )
        wait_for(lambda: ready_at_generation(custom, namespace, "before"), timeout=90, what="before ready")
        old_pod = core.read_namespaced_pod("performer-before", namespace).metadata.uid

        # The outage: the component is down until both controllers have lost their lease and exited.
        seen = len(plane.supervisor_log())
        plane.hold(component)
        pid = plane.kill(component)
        plane.wait_supervisor(f"{component} (pid {pid}) exited", after=seen)
        for controller in CONTROLLERS:
            plane.wait_supervisor(f"{controller} (pid", after=seen, timeout=120)
        plane.release(component)
        plane.wait_supervisor(f"restarted {component} as pid", after=seen)
        readyz = plane.wait_ready()
        outage = time.monotonic()

        # What changed after the outage reaches the cluster: a new Performer, an edited one.
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, performer("after", config={})
        )
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "before", {"spec": {"config": {"environment": {"R": "2"}}}}
        )

        reconciled: list[float] = []

        def converged() -> bool:
            if not reconciled and observed(custom, namespace, "after"):
                reconciled.append(time.monotonic() - readyz)
            pod = read_or_none(core.read_namespaced_pod, "performer-before", namespace)
            return (
                pod is not None
                and pod.metadata.uid != old_pod
                and ready_at_generation(custom, namespace, "before")
                and ready_at_generation(custom, namespace, "after")
            )

        wait_for(converged, timeout=180, interval=0.1, what="the operator to converge after the outage")
        converge_s = time.monotonic() - readyz
        assert operator.process.poll() is None, "the operator kept running through the outage"
        for controller in CONTROLLERS:
            assert f"restarted {controller} as pid" in "\n".join(plane.supervisor_log()[seen:])
        print(f"\n{component} outage: the operator reconciled the new Performer {reconciled[0]:.1f} s and "
              f"converged {converge_s:.1f} s after /readyz (pods scheduled and ready; the edit and the new "
              f"Performer were made {outage - readyz:.1f} s after /readyz)")  # fmt: skip
    except Exception as error:
        raise AssertionError(f"{error}\n{explain(plane, operator)}") from error
    finally:
        plane.release(component)
        try:
            delete_performers(custom, namespace, timeout=90)
        finally:  # an operator that could not release them must not outlive the test either
            operator.stop()
            core.delete_namespace(namespace)
