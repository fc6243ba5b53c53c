"""A pod observed as metadata only (no containers in its spec) never drifts, tolerations rendered or not."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_drift import performer_pod_drift

from tests.unit.test_performer_drift import rendered

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("generation", [2, None], ids=["generation-2", "no-generations"])
def test_a_gpu_performers_pod_observed_without_its_spec_shows_no_drift(generation: int | None) -> None:
    doc = rendered(hardwareRequirements={"gpuType": "nvidia-h100", "gpuCount": 1})
    assert doc["pod"]["spec"]["tolerations"]  # what a comparison would miss on the live pod
    live = {"metadata": {**doc["pod"]["metadata"], "generation": generation}, "spec": {"nodeName": "n"}}
    assert performer_pod_drift(doc["pod"], live) == []
