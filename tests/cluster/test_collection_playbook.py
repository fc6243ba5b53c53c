"""A user's own playbook, in a directory of its own, using the collection hourglass.operator as
`ansible-galaxy collection install` installs it from the built tarball (nothing of the checkout on
Ansible's path): the performer role by FQCN deploys a Performer's Pod and Service on the real
control plane (reading them with kubernetes.core, the collection's dependency, so a second run
changes nothing), and the performer_apply module by FQCN deletes them again."""

from __future__ import annotations

import subprocess
import sys

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from tests.support import collection
from tests.support.api import read_or_none
from tests.support.performers import performer
from tests.support.playbooks import recap

PLAYBOOK = """\
---
- name: Deploy a Performer's Pod and Service with the hourglass.operator collection
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    _performer: "{{ lookup('ansible.builtin.file', 'performer.yaml') | ansible.builtin.from_yaml }}"
  tasks:
    - name: Render and apply them (no Performer object, so no status to write)
      ansible.builtin.include_role:
        name: hourglass.operator.performer
      vars:  # one Performer, as ansible-operator passes it: the role reads its Pod and Service itself
        performer_manage_status: false
        ansible_operator_meta: "{{ _performer.metadata }}"
        _hourglass_eigenlayer_io_performer: "{{ _performer }}"

    - name: Delete them again when asked to
      hourglass.operator.performer_apply:
        objects:
          - {apiVersion: v1, kind: Pod, metadata: {name: "{{ _child }}", namespace: "{{ _namespace }}"}}
          - {apiVersion: v1, kind: Service, metadata: {name: "{{ _child }}", namespace: "{{ _namespace }}"}}
        state: absent
        wait: true
        wait_timeout: 60
      vars:
        _child: "{{ _performer.metadata.name | hourglass.operator.performer_child_name }}"
        _namespace: "{{ _performer.metadata.namespace }}"
      when: remove | default(false) | bool
"""


def test_a_users_playbook_deploys_a_performer_with_the_installed_collection(
    cluster, core, namespace, tmp_path
):
    installed = collection.build_and_install(tmp_path / "galaxy")
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(PLAYBOOK)
    cr = performer("fromcollection", config={"grpcPort": 7000})
    cr["metadata"]["namespace"] = namespace
    (project / "performer.yaml").write_text(yaml.safe_dump(cr))

    def play(*args: str) -> subprocess.CompletedProcess[str]:
        env = installed.env(K8S_AUTH_KUBECONFIG=str(cluster.kubeconfig))
        command = [
            str(collection.BIN / "ansible-playbook"),
            "site.yml",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *args,
        ]
        return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)

    deployed = play()
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    child = contract.child_name("fromcollection")
    pod = core.read_namespaced_pod(child, namespace)
    service = core.read_namespaced_service(child, namespace)
    # (kwok adds the topology labels of the node)
    assert (
        contract.child_labels("fromcollection", cr["spec"]["avsAddress"]).items()
        <= pod.metadata.labels.items()
    )
    assert pod.spec.containers[0].ports[0].container_port == service.spec.ports[0].port == 7000
    assert recap(play().stdout)["changed"] == 0  # idempotent

    removed = play("-e", "remove=true")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert read_or_none(core.read_namespaced_pod, child, namespace) is None
    assert read_or_none(core.read_namespaced_service, child, namespace) is None
