#!/usr/bin/python
"""Ansible module performer_reconcile: renders and plans a batch of Performers, writes their Pods and
Services and the status of each Performer as soon as its own are written. The logic is
module_utils/performer_tasks.py (render and plan: performer_render.py, performer_plan.py) and
performer_reconciler.py (unit-tested), which writes objects with object_writer.py and statuses with
status_writer.py; this file declares the arguments and reports.

The performer role reconciles a batch with it in one call when it manages the status (what the
performer_render and performer_plan filters, performer_apply with the plan, then performer_status,
do in four steps).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: performer_reconcile
short_description: Write the Pods and Services of Performers and, as soon as each has its own, its status
description:
  - Renders each Performer's Pod and Service from the role's templates and plans what to create,
    apply, restore, replace or delete as the C(hourglass.operator.performer_render) and
    C(hourglass.operator.performer_plan) filters do (a deletion renders nothing).
  - For each Performer of the batch, concurrently - writes its objects of the plan (C(create),
    C(apply), C(restore), C(replace), then C(delete), each as
    M(hourglass.operator.performer_apply) writes that list), then computes and writes its status and Events as
    M(hourglass.operator.performer_status) does.
  - A Performer's status does not wait for the rest of the batch, so a pod that is Ready at once
    is reported so at once, and the runner loop settles each Performer as soon as its result is
    in O(results_file).
options:
  batch:
    description: The batch, one item per Performer with the Performer object
      (C(_hourglass_eigenlayer_io_performer)) and what was observed of its Pod and Service
      (C(_hourglass_observed)). Exactly one of O(batch) and O(batch_file) is required.
    type: list
    elements: dict
  batch_file:
    description: A JSON file holding the batch (how the runner loop passes it, so that Ansible does
      not parse and template a batch-sized variable).
    type: path
  settings:
    description: The role's knobs the templates read (C(performer_*), as in the role's defaults).
    type: dict
    default: {}
  templates:
    description: The role's templates directory (C(performers.yaml.j2) and what it includes), on the
      host the module runs on; when not set, the performer role's C(templates/) in this collection.
    type: path
  field_manager:
    description: Field manager of the writes, also the Events' reporting component.
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
  work_waiting_file:
    description:
      - While this file exists, other work waits for this run, which then stops waiting for deleted
        objects (a replaced pod is created by the run its deletion triggers, and reported
        C(Upgrading) meanwhile). The runner loop creates it while a run goes on and keys wait past the
        batch window.
      - Not set under the operator-sdk ansible-operator.
    type: path
  ended_pod_min_age:
    description:
      - A pod that ended (phase Failed or Succeeded) is replaced once it is at least this many seconds
        old, doubled for each pod of its Performer that ended since the Performer was last ready (the
        status's C(endedPods)), up to O(ended_pod_max_age); until then the Performer's result says
        when to look again (C(recheck_after)).
    type: int
    default: 10
  ended_pod_max_age:
    description: The most O(ended_pod_min_age) is doubled to.
    type: int
    default: 300
  lost_pod_after:
    description:
      - A terminating pod still there this many seconds past its deletion deadline is deleted with a
        grace period of 0 when its node is not Ready (its kubelet cannot confirm the deletion, and the
        replacement has the same name); a Ready node's kubelet is left to finish. 0 never does.
    type: int
    default: 30
  rollout_slots:
    description:
      - How many pods rendered differently although their Performer's spec did not change since it was
        last reconciled successfully (a new operator version or other role settings) this run may
        replace; the pods
        of the others stay, their status's C(Reconciled) condition says C(RolloutPending), and their
        result says C(rollout=waiting). The runner loop sets it to keep the Performers replaced at once
        within C(--rollout-max-unavailable).
      - Not set (every such pod is replaced at once) under the operator-sdk ansible-operator and in
        one-off deploys.
    type: int
  create_by_apply:
    description:
      - Create the missing Pods and Services with a server-side apply instead of a plain create
        (which costs the API server less).
      - The performer role sets it under the operator-sdk ansible-operator, whose proxy adds an
        owner reference to every create it forwards (a second one, besides the role's) but not to
        server-side applies.
    type: bool
    default: false
  results_file:
    description: Append each Performer's status result there as soon as it is known, one JSON object
      per line (how the runner loop reads them while the run goes on), and return only C(changed),
      C(performers) and C(results_file). Not set under the operator-sdk ansible-operator.
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
    settings: "{{ _performer_render_settings }}"
    templates: "{{ role_path }}/templates"
    state: present
  register: reconciled  # reconciled.results, reconciled.created, ...
"""

RETURN = r"""
results:
  description: One entry per Performer, as M(hourglass.operator.performer_status) returns them.
  returned: without O(results_file)
  type: list
  elements: dict
created:
  description: What M(hourglass.operator.performer_apply) returns for the plan's C(create) list
    (C(changed) and C(result)), or C(skipped=true) when the list was empty; likewise C(applied)
    (C(apply)), C(updated) (C(restore)), C(replaced) (C(replace)) and C(deleted) (C(delete)).
  returned: without O(results_file)
  type: dict
performers:
  description: How many Performers have a result in O(results_file).
  returned: with O(results_file)
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    RECONCILE_ARGUMENT_SPEC,
    RECONCILE_CONSTRAINTS,
    reconcile_performers,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=RECONCILE_ARGUMENT_SPEC, supports_check_mode=True, **RECONCILE_CONSTRAINTS
    )
    module.exit_json(**reconcile_performers(module.params, module.check_mode))


if __name__ == "__main__":
    main()
