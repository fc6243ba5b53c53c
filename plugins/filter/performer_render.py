"""Filter `performer_render`: the performer role's Pods and Services of a batch, rendered from its
templates (plugins/module_utils/performer_render.py has the logic and says why it is not Ansible's
template lookup)."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render


class FilterModule:
    def filters(self) -> dict:
        return {"performer_render": performer_render}
