#!/usr/bin/python
"""Ansible module requeue_after: asks the operator-sdk ansible-operator to reconcile the current
custom resource again after `period`. ansible-operator reads the result of the task whose action is
`requeue_after` (the name of operator-sdk's own module, which Galaxy-less images lack). The
hourglass runner loop never needs it: it follows Pod and Service changes itself."""

from __future__ import annotations

DOCUMENTATION = r"""
module: requeue_after
short_description: Ask ansible-operator to reconcile the resource again after a period
options:
  period:
    description: A Go duration such as C(5s) or C(1m30s).
    type: str
    required: true
author: hourglass-operator maintainers
"""

RETURN = r"""
period:
  description: The period, as given.
  returned: always
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule

GO_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+")


def main() -> None:
    module = AnsibleModule(
        argument_spec={"period": {"type": "str", "required": True}}, supports_check_mode=True
    )
    period = module.params["period"]
    if not GO_DURATION.fullmatch(period):
        module.fail_json(msg=f"period: {period!r} is not a Go duration such as 5s or 1m30s")
    module.exit_json(changed=False, period=period)


if __name__ == "__main__":
    main()
