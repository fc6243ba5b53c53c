"""Action plugin of the performer_apply module: its work in the Ansible worker on a local connection
(plugins/plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    APPLY_ARGUMENT_SPEC,
    APPLY_BATCH_SIZED,
    APPLY_CONSTRAINTS,
    apply_objects,
)
from ansible_collections.hourglass.operator.plugins.plugin_utils.in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    argument_spec = APPLY_ARGUMENT_SPEC
    batch_sized = APPLY_BATCH_SIZED
    argument_constraints = APPLY_CONSTRAINTS
    work = staticmethod(apply_objects)
