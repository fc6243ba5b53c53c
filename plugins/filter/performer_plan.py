"""Filters `performer_plan` (what to create, apply, restore, replace and delete for a batch of
Performers) and `performer_key` (`namespace/name` of an object's metadata); the logic is
plugins/module_utils/performer_plan.py."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_plan import (
    performer_key,
    performer_plan,
)


class FilterModule:
    def filters(self) -> dict:
        return {"performer_plan": performer_plan, "performer_key": performer_key}
