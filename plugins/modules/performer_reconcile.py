#!/usr/bin/python
"""Ansible module performer_reconcile: writes the Pods and Services of a batch's plan and the status
of each Performer as soon as its own are written. The logic is module_utils/performer_reconciler.py
(unit-tested), which writes objects with object_writer.py and statuses with status_writer.py; this
file declares the arguments and reports.

The performer role reconciles a batch with it in one call when it manages the status (what
performer_apply with a plan, then performer_status, do in two calls).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: performer_reconcile
short_description: Write the Pods and Services of Performers and, as soon as each has its own, its status
description:
  - For each Performer of the batch, concurrently - writes its objects of the plan (C(apply),
    C(restore), C(replace), then C(delete), each as M(hourglass.operator.performer_apply) writes
    that list), then computes and writes its status and Events as
    M(hourglass.operator.performer_status) does.
  - A Performer's status does not wait for the rest of the batch, so a pod that is Ready at once
    is reported so at once, and the runner loop settles each Performer as soon as its result is
    in O(results_file).
options:
  plan:
    description: The plan as the C(hourglass.operator.performer_plan) filter returns it - the lists
      C(apply), C(restore), C(replace) and C(delete) of objects to write, and C(performers), what it
      says of each Performer (render errors, pod actions, upgrades). Objects of no Performer of the
      batch are written after the batch.
    type: dict
    required: true
  field_manager:
    description: Server-side apply field manager, also the Events' reporting component.
    type: str
    default: hourglass-operator
  wait:
    description: Wait until each deleted object is gone (up to O(wait_timeout)).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait), or for a replaced pod to be gone.
    type: int
    default: 120
  results_file:
    description: Also append each Performer's status result there as soon as it is known, one JSON
      object per line (how the runner loop reads them while the run goes on). Not set under the
      operator-sdk ansible-operator.
    type: path
extends_documentation_fragment:
  - hourglass.operator.performer_batch
  - hourglass.operator.kube
author: hourglass-operator maintainers
"""

EXAMPLES = r"""
# What the performer role does with a batch (roles/performer/tasks/reconcile.yml).
- name: Write every Performer's Pod and Service, and its status as soon as they are written
  hourglass.operator.performer_reconcile:
    batch: "{{ _performer_batch }}"
    plan: "{{ _performer_plan }}"
    state: present
  register: reconciled  # reconciled.results, reconciled.applied, ...
"""

RETURN = r"""
results:
  description: One entry per Performer, as M(hourglass.operator.performer_status) returns them.
  returned: always
  type: list
  elements: dict
applied:
  description: What M(hourglass.operator.performer_apply) returns for the plan's C(apply) list
    (C(changed) and C(result)), or C(skipped=true) when the list was empty; likewise C(updated)
    (C(restore)), C(replaced) (C(replace)) and C(deleted) (C(delete)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    RECONCILE_ARGUMENT_SPEC,
    reconcile_performers,
)


def main() -> None:
    module = AnsibleModule(argument_spec=RECONCILE_ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**reconcile_performers(module.params, module.check_mode))


if __name__ == "__main__":
    main()
