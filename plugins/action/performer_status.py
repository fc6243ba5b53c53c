"""Action plugin of the performer_status module: its work in the Ansible worker on a local connection
(plugins/plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_tasks import (
    BATCH_SIZED,
    STATUS_ARGUMENT_SPEC,
    write_statuses,
)
from ansible_collections.hourglass.operator.plugins.plugin_utils.in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    argument_spec = STATUS_ARGUMENT_SPEC
    batch_sized = BATCH_SIZED
    work = staticmethod(write_statuses)
