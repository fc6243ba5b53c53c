"""Action plugin of the performer_reconcile module: its work in the Ansible worker on a local
connection (plugins/plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    RECONCILE_ARGUMENT_SPEC,
    RECONCILE_BATCH_SIZED,
    RECONCILE_CONSTRAINTS,
    reconcile_performers,
)
from ansible_collections.hourglass.operator.plugins.plugin_utils.in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    argument_spec = RECONCILE_ARGUMENT_SPEC
    argument_constraints = RECONCILE_CONSTRAINTS
    batch_sized = RECONCILE_BATCH_SIZED
    work = staticmethod(reconcile_performers)
