#!/usr/bin/python
"""Ansible module performer_status: writes the status of a batch of Performers and emits Events.
The logic is module_utils/status_writer.py (unit-tested) with the status rules of
module_utils/performer_status.py; this file declares the arguments and reports. The invocation it
reports names the batch's Performers instead of echoing the batch (megabytes for large batches).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: performer_status
short_description: Update the status of Performers from their observed Pods and Services
description:
  - Computes phase, ready, endpoint, readyTime, lastUpgrade, observedGeneration and the Ready,
    Scheduled and Reconciled conditions of each Performer, patches the status subresource when it
    changed and records Kubernetes Events on transitions.
options:
  batch:
    description: The role's batch, one item per Performer with the Performer object
      (C(_hourglass_eigenlayer_io_performer)) and what was observed of its Pod and Service
      (C(_hourglass_observed)).
    type: list
    elements: dict
    required: true
  plan:
    description: What the role's plan (C(performer_plan) filter) says of each Performer (its
      C(performers) entries by C(namespace/name)) - render errors, pod actions, upgrades.
    type: dict
    required: true
  created:
    description: The registered result of the task creating the missing Pods and Services (may be
      skipped).
    type: dict
    default: {}
  applied:
    description: The registered result of the apply task (may be skipped).
    type: dict
    default: {}
  updated:
    description: The registered result of the task restoring Services that drifted (may be skipped).
    type: dict
    default: {}
  replaced:
    description: The registered result of the replace task (may be skipped).
    type: dict
    default: {}
  deleted:
    description: The registered result of the delete task (may be skipped).
    type: dict
    default: {}
  forced:
    description: The registered result of the task deleting pods left on nodes that are not Ready
      (the plan's C(force_delete) list; may be skipped).
    type: dict
    default: {}
  field_manager:
    description: Name used as the Events' reporting component.
    type: str
    default: hourglass-operator
  results_file:
    description: Also append the results there, one JSON object per line (how the runner loop
      reads them whatever the batch's size). Not set under the operator-sdk ansible-operator.
    type: path
extends_documentation_fragment:
  - hourglass.operator.performer_batch
  - hourglass.operator.kube
author: hourglass-operator maintainers
"""

EXAMPLES = r"""
# Statuses after a separate performer_apply call (the performer role does both in one call with
# performer_reconcile, roles/performer/tasks/reconcile.yml, unless performer_manage_status is false).
- name: Update the status of every Performer of the batch
  hourglass.operator.performer_status:
    batch: "{{ _performer_batch }}"
    plan: "{{ _performer_plan.performers }}"
    created: "{{ _performer_written.created }}"
    applied: "{{ _performer_written.applied }}"
    state: present
"""

RETURN = r"""
results:
  description: One entry per Performer.
  returned: always
  type: list
  elements: dict
  contains:
    namespace: {description: Namespace., type: str}
    name: {description: Name., type: str}
    phase: {description: The phase written., type: str}
    ready: {description: The ready flag written., type: bool}
    error: {description: Why the reconcile failed, or null., type: str}
    children_gone:
      description: With state=absent, whether the Pod and Service the Performer owns no longer exist.
      type: bool
    memo:
      description: What the next run of the Performer is to be given back (the runner loop passes it in
        the item's observation), when there is something; `service_admitted` is the resourceVersion and
        the differences of a Service whose restore the API server left as it was (admission's doing).
      type: dict
    orphaning:
      description: With state=absent, whether the Performer is deleted with --cascade=orphan and the
        garbage collector has yet to take its owner reference off the children (nothing is deleted).
      type: bool
    repairs:
      description: The reason of each repair this run made or tried (PodReplaced, PodDrifted,
        ServiceDrifted, Adopted), as its Event says; the runner loop counts them (hourglass_repairs_total).
      type: list
      elements: str
    baseline:
      description: After a successful reconcile, what it established (spec hash and labels of the
        pod, resourceVersion of the Service, cluster domain); the runner loop uses it to keep the
        status in step with pod status changes without an ansible run. Null otherwise.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    STATUS_ARGUMENT_SPEC,
    write_statuses,
)


def main() -> None:
    module = AnsibleModule(argument_spec=STATUS_ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**write_statuses(module.params, module.check_mode))


if __name__ == "__main__":
    main()
