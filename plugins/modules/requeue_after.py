#!/usr/bin/python
"""Ansible module requeue_after: asks the operator-sdk ansible-operator to reconcile the current
custom resource again after `period`. ansible-operator reads the result of the task whose action is
`requeue_after` as written (or operator-sdk's own `operator_sdk.util.requeue_after`, which
Galaxy-less images lack), so the performer role calls it by its short name. The hourglass runner
loop never needs it: it follows Pod and Service changes itself."""

from __future__ import annotations

DOCUMENTATION = r"""
module: requeue_after
short_description: Ask ansible-operator to reconcile the resource again after a period
description:
  - Returns O(period) unchanged. The operator-sdk ansible-operator reads it from the result of a
    task whose action is C(requeue_after) and reconciles the custom resource again after it.
  - ansible-operator matches the action as written in the task, so call it by its short name
    from a role of this collection (or one that lists C(hourglass.operator) in C(collections)).
options:
  period:
    description: A Go duration such as C(5s) or C(1m30s).
    type: str
    required: true
author: hourglass-operator maintainers
"""

EXAMPLES = r"""
- name: Reconcile again in five seconds
  requeue_after:  # noqa: fqcn[action] ansible-operator matches the short name
    period: 5s
"""

RETURN = r"""
period:
  description: The period, as given.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hourglass.operator.plugins.module_utils.go_duration import duration_error


def main() -> None:
    module = AnsibleModule(
        argument_spec={"period": {"type": "str", "required": True}}, supports_check_mode=True
    )
    error = duration_error(module.params["period"])
    if error:
        module.fail_json(msg=error)
    module.exit_json(changed=False, period=module.params["period"])


if __name__ == "__main__":
    main()
