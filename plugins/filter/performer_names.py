"""Filter `performer_child_name`: the name of a Performer's Pod and Service (`performer-<name>`),
from the Performer contract, for playbooks and tasks that read the children by name."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name


class FilterModule:
    def filters(self) -> dict:
        return {"performer_child_name": child_name}
