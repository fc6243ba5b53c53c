"""The performer role, unchanged, under the official operator-sdk `ansible-operator` binary (one
Performer per ansible-runner run), on the real control plane.

The binary is built from the Go module proxy by hack/ansible-operator/build.sh (cached outside the
repository; HOURGLASS_TEST_ANSIBLE_OPERATOR names a prebuilt one instead). It runs as a process
watching the test's namespace, with the repository's watches.yaml, which names the role of the
collection hourglass.operator (this checkout, found through ANSIBLE_COLLECTIONS_PATH), and the
virtualenv's ansible-runner first on PATH. What it needs besides (found in its source):

- its proxy on localhost:8888 and its API server on localhost:5050: both ports are fixed (the
  kubeconfig it hands each run names http://localhost:8888 whatever --proxy-port says), so one
  ansible-operator per machine;
- ansible-runner's `http` event plugin (PyPI `ansible-runner-http`, with `requests-unixsocket`,
  both in the dev dependencies): the binary reads every run's events from a unix socket through it
  and fails a run that sends no playbook_on_stats.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes
import pytest
import yaml

from tests.support import collection
from tests.support.admission import webhook_outage
from tests.support.api import read_or_none
from tests.support.go_tools import BUILD_TIMEOUT, go_tool
from tests.support.paths import REPO, SAMPLES
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    create_performer,
    evict_pod,
    get_performer,
    performer,
)
from tests.support.ports import free_port
from tests.support.process import LoggedProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

BUILD_SCRIPT = REPO / "hack" / "ansible-operator" / "build.sh"
# Fixed by ansible-operator itself (see the module docstring).
PROXY_PORT, API_PORT = 8888, 5050
# The ansible-runner input directories ansible-operator writes (fixed path, one per Performer).
RUNNER_ROOT = Path("/tmp/ansible-operator/runner") / GROUP / VERSION / "Performer"
FINALIZER = "hourglass.eigenlayer.io/performer-finalizer"


@pytest.fixture(scope="session")
def ansible_operator_binary() -> Path:
    return go_tool("ansible-operator", BUILD_SCRIPT, "HOURGLASS_TEST_ANSIBLE_OPERATOR")


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class AnsibleOperatorProcess(LoggedProcess):
    """`ansible-operator run` watching one namespace; log in the test's tmp_path."""

    def __init__(self, binary: Path, kubeconfig: Path, namespace: str, work_dir: Path) -> None:
        busy = [p for p in (PROXY_PORT, API_PORT) if port_in_use(p)]
        if busy:
            raise RuntimeError(
                f"ansible-operator needs localhost ports {PROXY_PORT} and {API_PORT}; in use: {busy} "
                "(another ansible-operator running?)"
            )
        self.namespace = namespace
        self.health_port, self.metrics_port = free_port(), free_port()
        venv_bin = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "WATCH_NAMESPACE": namespace,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",  # its ansible-runner
            # ansible-operator's inventory runs modules with $VIRTUAL_ENV/bin/python3 when set
            # (else ansible-playbook's python): the virtualenv, which has the kubernetes client.
            "VIRTUAL_ENV": sys.prefix,
            # Where it looks for watches.yaml's role hourglass.operator.performer: the checkout.
            "ANSIBLE_COLLECTIONS_PATH": str(collection.checkout_collections_path()),
            "ANSIBLE_GATHERING": "explicit",  # ansible-operator then passes --role-skip-facts
            "ANSIBLE_DEBUG_LOGS": "true",  # each run's full output in the log
        }
        env.pop("K8S_AUTH_KUBECONFIG", None)  # each run gets the proxy's kubeconfig instead
        command = [
            str(binary), "run",
            "--watches-file", str(REPO / "watches.yaml"),
            "--leader-elect=false",
            "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
            "--health-probe-bind-address", f"127.0.0.1:{self.health_port}",
            "--zap-log-level", "info",
            "--max-concurrent-reconciles", "2",
        ]  # fmt: skip
        super().__init__(
            command, work_dir / f"ansible-operator-{self.health_port}.log", cwd=work_dir, env=env
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as r:
                    return r.status == 200 and port_in_use(PROXY_PORT)
            except (urllib.error.URLError, OSError):
                return False

        self.wait_until(ready, "ansible-operator to be ready", timeout, interval=0.2)

    def logs(self, tail: int = 300) -> str:
        return super().logs(tail)

    def stop(self, timeout: float = 60) -> int:
        code = super().stop(timeout)
        shutil.rmtree(RUNNER_ROOT / self.namespace, ignore_errors=True)
        return code


@pytest.fixture
def ansible_operator(request, cluster, namespace, performer_crd, ansible_operator_binary, tmp_path):
    process = AnsibleOperatorProcess(ansible_operator_binary, cluster.kubeconfig, namespace, tmp_path)
    request.node.hourglass_operators = [process]  # the failure report carries its log
    try:
        process.wait_ready()
        yield process
    finally:
        custom = kubernetes.client.CustomObjectsApi(cluster.api)
        try:  # release the finalizers while the operator still runs
            custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            if process.process.poll() is None:
                wait_for(
                    lambda: (
                        not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
                    ),
                    timeout=90,
                    what="the test's Performers to be deleted",
                )
        finally:
            process.stop()


def ready(custom, namespace: str, name: str, generation: int | None = None) -> dict | None:
    """The Performer when its status says Ready (for `generation`, when given)."""
    cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    status = cr.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    ok = status.get("ready") is True and conditions.get("Ready", {}).get("status") == "True"
    if generation is not None:
        ok = ok and status.get("observedGeneration") == generation
    return cr if ok else None


@pytest.mark.timeout(BUILD_TIMEOUT + 900)  # the session's first use builds the binary
def test_the_role_reconciles_a_performer_under_ansible_operator(
    cluster, core, custom, namespace, ansible_operator
):
    sample = yaml.safe_load((SAMPLES / "performer-basic.yaml").read_text())
    name = sample["metadata"]["name"]
    child = f"performer-{name}"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, sample)

    # Needs a second ansible run after the pod runs: nothing but the role itself (requeue_after)
    # brings one, since the server-side applied children get no dependent watch from the proxy.
    cr = wait_for(lambda: ready(custom, namespace, name), timeout=180, what="the Performer to be Ready")
    assert FINALIZER in cr["metadata"]["finalizers"]
    assert cr["status"]["phase"] == "Running"
    assert cr["status"]["grpcEndpoint"] == f"{child}.{namespace}.svc.cluster.local"
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Performer",
        "name": name,
        "uid": cr["metadata"]["uid"],
    }
    expected_labels = {
        "app": "hourglass-performer",
        "app.kubernetes.io/managed-by": "hourglass-operator",
        "hourglass.eigenlayer.io/performer": name,
        "hourglass.eigenlayer.io/avs": sample["spec"]["avsAddress"].lower(),
    }
    pod = core.read_namespaced_pod(child, namespace)
    service = core.read_namespaced_service(child, namespace)
    for obj in (pod, service):
        assert expected_labels.items() <= (obj.metadata.labels or {}).items(), obj.metadata.labels
        refs = obj.metadata.owner_references or []
        assert len(refs) == 1, refs  # the role's own; the proxy injects none into server-side applies
        ref = refs[0]
        assert (ref.api_version, ref.kind, ref.name, ref.uid) == tuple(owner.values())
        assert ref.controller is True
    assert {e.name: e.value for e in pod.spec.containers[0].env or []}["LOG_LEVEL"] == "info"
    assert service.spec.selector == {"hourglass.eigenlayer.io/performer": name}

    def ready_event():  # POSTed through the proxy, which needs apiVersion/kind in the body
        events = core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.kind=Performer,involvedObject.name={name}"
        ).items
        return [e for e in events if e.reason == "Ready"]

    wait_for(ready_event, timeout=10, what="a Ready Event about the Performer")

    # A spec change replaces the pod (new uid, new environment) and the Performer is Ready again.
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name,
        {"spec": {"config": {"environment": {"LOG_LEVEL": "debug", "EXTRA": "1"}}}},
    )  # fmt: skip

    def replaced():
        new = read_or_none(core.read_namespaced_pod, child, namespace)
        return (
            new
            if new and new.metadata.uid != pod.metadata.uid and not new.metadata.deletion_timestamp
            else None
        )

    new_pod = wait_for(replaced, timeout=180, what="the pod to be replaced after the spec change")
    env = {e.name: e.value for e in new_pod.spec.containers[0].env or []}
    assert (env["LOG_LEVEL"], env["EXTRA"]) == ("debug", "1")
    wait_for(
        lambda: ready(custom, namespace, name, patched["metadata"]["generation"]),
        timeout=180,
        what="the Performer to be Ready for the new generation",
    )
    assert core.read_namespaced_service(child, namespace).metadata.uid == service.metadata.uid

    # An evicted pod (Failed) is replaced by the role too. ansible-operator follows no pod status, so
    # a change of the Performer's labels brings the run (else its reconcilePeriod would); the role
    # then asks to come back while the Performer is not ready, until the pod is old enough to replace.
    evict_pod(core, namespace, child)
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"labels": {"evicted": "once"}}}
    )
    pod = new_pod
    new_pod = wait_for(replaced, timeout=180, what="the evicted pod to be replaced")
    wait_for(lambda: ready(custom, namespace, name), timeout=180, what="the Performer to be Ready again")

    # Deleted with --cascade=orphan, the Performer goes and its pod and Service stay, without an owner;
    # created again, it adopts them (the pod keeps running).
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Orphan"
    )
    wait_for(
        lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
        timeout=180, what="the Performer deleted with --cascade=orphan to be gone",
    )  # fmt: skip
    kept = [read(child, namespace) for read in (core.read_namespaced_pod, core.read_namespaced_service)]
    assert [obj.metadata.uid for obj in kept] == [new_pod.metadata.uid, service.metadata.uid]
    assert [obj.metadata.owner_references for obj in kept] == [None, None]
    again = {**sample, "spec": patched["spec"]}  # as it was deleted: its pod is what it renders
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, again)
    wait_for(
        lambda: ready(custom, namespace, name), timeout=180, what="the Performer created again to be Ready"
    )
    for obj in (core.read_namespaced_pod(child, namespace), core.read_namespaced_service(child, namespace)):
        assert [ref.uid for ref in obj.metadata.owner_references or []] == [created["metadata"]["uid"]]
    assert core.read_namespaced_pod(child, namespace).metadata.uid == new_pod.metadata.uid

    # Deleting the Performer runs the finalizer: pod and service go, then the finalizer is released.
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def all_gone() -> bool:
        return (
            read_or_none(core.read_namespaced_pod, child, namespace) is None
            and read_or_none(core.read_namespaced_service, child, namespace) is None
            and not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        )

    wait_for(all_gone, timeout=180, what="the pod, the service and the Performer (finalizer) to be gone")
    assert any("Ansible-runner exited successfully" in line for line in ansible_operator.log_lines())
    assert ansible_operator.stop() == 0, ansible_operator.logs()


@pytest.mark.timeout(BUILD_TIMEOUT + 300)
def test_a_pod_a_webhook_could_not_admit_is_retried_within_30_s_under_ansible_operator(
    cluster, custom, namespace, ansible_operator
):
    """The failed reconcile is not a failed run, which ansible-operator would retry with its own
    back-off (growing to 1000 s): the run asks to come back after the status result's retry_after,
    as long as the Performer has been failing (1, 1, 2, 4, 8 ... s), 30 s at most for a webhook the
    API server could not call. So the performer is up within 30 s of the webhook being back."""
    requeued_after_30_s = "Set the reconciliation to occur after 30s"
    with webhook_outage(cluster.api, namespace):
        create_performer(custom, namespace, performer("guarded", config={}))
        wait_for(
            lambda: any(requeued_after_30_s in line for line in ansible_operator.log_lines()),
            timeout=120,
            what="a retry 30 s after a failure of 30 s or more",
        )
        cr = get_performer(custom, namespace, "guarded")
        assert "failed calling webhook" in condition(cr, "Reconciled")["message"]
        assert not any("received failed task event" in line for line in ansible_operator.log_lines())
    wait_for(lambda: ready(custom, namespace, "guarded"), timeout=45, what="the Performer to be Ready")
