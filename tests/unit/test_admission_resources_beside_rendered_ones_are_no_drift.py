"""Resources a LimitRange adds beside the rendered ones are no drift where pod generations are not counted."""

from __future__ import annotations

import pytest

from tests.unit.test_performer_drift import RESOURCES, updated

pytestmark = pytest.mark.unit


def limit_range_fills_in(pod: dict, container: dict) -> None:
    """A LimitRange's defaults for what the role leaves unset (memory limit, ephemeral storage)."""
    container["resources"]["limits"].update({"memory": "2Gi", "ephemeral-storage": "1Gi"})
    container["resources"]["requests"]["ephemeral-storage"] = "512Mi"


def test_a_limit_range_default_beside_the_rendered_resources_is_no_drift() -> None:
    assert updated(limit_range_fills_in, None, resources=RESOURCES) == []


def test_a_rendered_resource_changed_beside_a_limit_range_default_is_still_drift() -> None:
    def resized(pod: dict, container: dict) -> None:
        limit_range_fills_in(pod, container)
        container["resources"]["limits"]["cpu"] = "2"

    [difference] = updated(resized, None, resources=RESOURCES)
    assert difference.startswith("spec.containers[performer].resources: have ")
    assert "ephemeral-storage" not in difference
