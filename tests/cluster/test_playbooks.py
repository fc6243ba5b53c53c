"""The performer role outside the runner loop, on the real control plane: the one-off deploy
playbook applies a file's Performer (and is idempotent), and the role works with exactly the vars
the operator-sdk ansible-operator passes for one Performer (it observes the cluster itself)."""

from __future__ import annotations

import subprocess

import kubernetes
import yaml

from hourglass_operator.extravars import dump_unsafe
from tests.support.paths import REPO
from tests.support.performers import GROUP, PLURAL, VERSION, performer
from tests.support.playbooks import recap, run_playbook
from tests.support.waiting import wait_for


def playbook(cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run_playbook(*args, kubeconfig=cluster.kubeconfig, timeout=180)


def one_off_deploy_args(tmp_path, namespace: str, body: dict) -> tuple[str, ...]:
    """The one-off deploy's arguments for a file holding `body`, into `namespace`."""
    source = tmp_path / "performer.yaml"
    source.write_text(yaml.safe_dump(body))
    return (
        "playbooks/deploy-performer.yml",
        "-e",
        f"performer_file={source}",
        "-e",
        f"performer_namespace={namespace}",
    )


def test_one_off_deploy_applies_pod_and_service_and_is_idempotent(cluster, core, namespace, tmp_path):
    body = performer("oneoff", config={"grpcPort": 7000, "environment": {"A": "1"}})
    args = one_off_deploy_args(tmp_path, namespace, body)
    first = playbook(cluster, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    pod = core.read_namespaced_pod("performer-oneoff", namespace)
    assert pod.spec.containers[0].ports[0].container_port == 7000
    assert not pod.metadata.owner_references
    service = core.read_namespaced_service("performer-oneoff", namespace)
    assert service.spec.ports[0].port == 7000

    second = playbook(cluster, *args)
    assert second.returncode == 0, second.stdout
    assert recap(second.stdout)["changed"] == 0
    assert core.read_namespaced_pod("performer-oneoff", namespace).metadata.uid == pod.metadata.uid


def test_one_off_deploy_takes_whole_floats_as_the_api_server_does(cluster, core, namespace, tmp_path):
    """A file written with 7000.0 and 300.0 where the CRD takes integers: the API server would take
    the Performer, so the one-off deploy applies its pod with integers (a pod's containerPort and
    tolerationSeconds are typed, and 7000.0 there is refused)."""
    toleration = {
        "key": "example.com/spot",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300.0,
    }
    body = performer("floats", config={"grpcPort": 7000.0}, scheduling={"tolerations": [toleration]})
    result = playbook(cluster, *one_off_deploy_args(tmp_path, namespace, body))
    assert result.returncode == 0, result.stdout + result.stderr
    pod = core.read_namespaced_pod("performer-floats", namespace)
    assert pod.spec.containers[0].ports[0].container_port == 7000
    assert [t.toleration_seconds for t in pod.spec.tolerations if t.key == "example.com/spot"] == [300]


def test_one_off_deploy_refuses_what_a_crd_rule_refuses_before_applying_anything(
    cluster, core, namespace, tmp_path
):
    """A toleration the CRD's CEL rules refuse (Exists with a value): the deploy stops naming the field
    and the rule, and neither the Service nor the pod exists."""
    toleration = {"key": "example.com/spot", "operator": "Exists", "value": "yes"}
    body = performer("refused", config={}, scheduling={"tolerations": [toleration]})
    result = playbook(cluster, *one_off_deploy_args(tmp_path, namespace, body))
    assert result.returncode != 0
    assert "spec.scheduling.tolerations[0]" in result.stdout, result.stdout
    assert not core.list_namespaced_pod(namespace).items
    assert not core.list_namespaced_service(namespace).items


def test_role_runs_with_the_vars_ansible_operator_passes_for_one_performer(
    cluster, core, custom, namespace, performer_crd, tmp_path
):
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer("single", config={}))
    run_role = tmp_path / "run-role.yml"
    run_role.write_text(
        f"---\n- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: {REPO / 'roles/performer'}\n"
    )

    def reconcile(state: str) -> subprocess.CompletedProcess[str]:
        cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "single")
        extravars = {  # what ansible-operator passes: meta, the whole CR, spec keys verbatim
            "ansible_operator_meta": {"name": "single", "namespace": namespace},
            "_hourglass_eigenlayer_io_performer": cr,
            **cr["spec"],
            "performer_state": state,
        }
        (tmp_path / "extravars.json").write_text(dump_unsafe(extravars))
        return playbook(cluster, str(run_role), "-e", f"@{tmp_path / 'extravars.json'}")

    result = reconcile("present")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        core.read_namespaced_pod("performer-single", namespace).metadata.owner_references[0].name == "single"
    )
    wait_for(lambda: core.read_namespaced_pod("performer-single", namespace).status.phase == "Running",
             timeout=30, what="the pod to run")  # fmt: skip
    result = reconcile("present")
    assert result.returncode == 0, result.stdout
    status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "single")["status"]
    assert (status["phase"], status["ready"]) == ("Running", True)

    result = reconcile("absent")  # the finalizer run waits until the children are gone
    assert result.returncode == 0, result.stdout
    for read in (core.read_namespaced_pod, core.read_namespaced_service):
        try:
            read("performer-single", namespace)
            raise AssertionError("still exists")
        except kubernetes.client.ApiException as error:
            assert error.status == 404
