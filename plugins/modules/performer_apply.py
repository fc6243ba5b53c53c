#!/usr/bin/python
"""Ansible module performer_apply: creates, server-side applies, deletes, replaces or restores a list
of Pods and Services, the API calls of the list issued concurrently. The logic is
module_utils/object_writer.py (unit-tested); this file declares the arguments and reports.

The performer role hands it the plan of a batch (every Pod and Service to create, apply, restore,
replace or delete) in one call.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: performer_apply
short_description: Create, server-side apply, delete or replace a list of Pods and Services concurrently
description:
  - Writes a list of core/v1 Pods and Services with the API calls issued concurrently, and returns
    one result per object in the order given, in the shape M(kubernetes.core.k8s) returns for a
    list, so that one object's failure is reported without failing the others.
  - The performer role uses it to write every Pod and Service of a batch of Performers in one call
    (O(plan)).
options:
  objects:
    description:
      - The objects (core/v1 Pods and Services with metadata.namespace), written in O(state).
      - Exactly one of O(objects) and O(plan) is required.
    type: list
    elements: dict
  plan:
    description:
      - Instead of O(objects), the lists of a plan as the C(hourglass.operator.performer_plan)
        filter returns it, written one after the other in one call, each in its state (O(state) is
        not used) - C(force_delete) (V(lost)), C(create) (V(created)), C(apply) (V(present)),
        C(restore) (V(updated)), C(replace) (V(replaced)) and C(delete) (V(absent), waited for with
        O(wait)). Missing or empty lists are skipped.
    type: dict
  state:
    description:
      - V(present) applies, V(absent) deletes (a missing object counts as deleted).
      - V(created) creates each object (a plain create, which costs the API server less than a
        server-side apply that creates); one that exists already is applied as with V(present).
        For objects known to be missing, as the plan's C(create) list.
      - V(replaced) deletes the existing object of the same name, waits up to O(wait_timeout)
        seconds until it is gone, then creates the given one. When it is not gone in time the
        result has C(pending=true) and nothing is applied (a later run creates it).
      - V(updated) writes the given labels, owner references and spec over the existing object
        (keeping its other labels and annotations and what the API server allocated), or deletes
        and creates it when that cannot be done in place; a missing object is created. The result
        has C(recreated=true) when it was recreated.
      - V(lost) deletes terminating pods, each given with its C(metadata.uid) and C(spec.nodeName),
        with a grace period of 0 when their node is not Ready or gone (its kubelet cannot confirm the
        deletion); a pod whose node is Ready is left alone (the result has C(node_ready=true)).
      - Not used with O(plan).
    type: str
    choices: [created, present, absent, replaced, updated, lost]
    default: present
  field_manager:
    description: Field manager of the writes.
    type: str
    default: hourglass-operator
  wait:
    description: With O(state=absent), wait until every object is gone (up to O(wait_timeout)).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait), or for a replaced object to be gone.
    type: int
    default: 120
  create_by_apply:
    description:
      - Create with a server-side apply instead of a plain create - the objects of V(created), the
        plan's C(create) list, and the new object of V(replaced).
      - The performer role sets it under the operator-sdk ansible-operator, whose proxy adds an
        owner reference to every create it forwards (a second one, besides the role's) but not to
        server-side applies.
    type: bool
    default: false
extends_documentation_fragment:
  - hourglass.operator.kube
author: hourglass-operator maintainers
"""

EXAMPLES = r"""
- name: Apply a Service
  hourglass.operator.performer_apply:
    objects:
      - {apiVersion: v1, kind: Service, metadata: {name: web, namespace: demo},
         spec: {selector: {app: web}, ports: [{port: 80}]}}
  register: applied

- name: Write a plan of the performer_plan filter (what to create, apply, restore, replace, delete)
  hourglass.operator.performer_apply:
    plan: "{{ rendered | hourglass.operator.performer_plan(observed, 'present') }}"
  register: written  # written.created, written.applied, written.updated, written.replaced, written.deleted

- name: Delete it and wait until it is gone
  hourglass.operator.performer_apply:
    objects:
      - {apiVersion: v1, kind: Service, metadata: {name: web, namespace: demo}}
    state: absent
    wait: true
"""

RETURN = r"""
created:
  description: With O(plan), what a call with its C(create) list returns (C(changed) and
    C(result)), or C(skipped=true) when the list was empty; likewise C(applied) (C(apply)),
    C(updated) (C(restore)), C(replaced) (C(replace)), C(deleted) (C(delete)) and C(forced)
    (C(force_delete)).
  returned: with O(plan)
  type: dict
result:
  description: C(results), one entry per object in the order given, with C(object) (its kind,
    namespace and name) and C(result) (the object as the API server returned it, slimmed) or
    C(error.msg); C(pending) when an object deleted with O(wait) (or the old object of
    V(replaced)) was still there after O(wait_timeout), or one deleted without O(wait) is still
    terminating.
  returned: with O(objects)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    APPLY_ARGUMENT_SPEC,
    APPLY_CONSTRAINTS,
    apply_objects,
)


def main() -> None:
    module = AnsibleModule(argument_spec=APPLY_ARGUMENT_SPEC, supports_check_mode=True, **APPLY_CONSTRAINTS)
    module.exit_json(**apply_objects(module.params, module.check_mode))


if __name__ == "__main__":
    main()
