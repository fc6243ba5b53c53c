"""Filters `performer_pod_drift` and `performer_service_drift`: how a live Pod or Service differs
from the one the role rendered, in the fields that matter (plugins/module_utils/performer_drift.py
has the logic)."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_drift import (
    performer_pod_drift,
    performer_service_drift,
)


class FilterModule:
    def filters(self) -> dict:
        return {
            "performer_pod_drift": performer_pod_drift,
            "performer_service_drift": performer_service_drift,
        }
