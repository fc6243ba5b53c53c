"""What the runner loop's rendering (the performer_render filter) gives a Performer in the cases the
render tests leave open: both children name their Performer as their controlling owner (the Service
too: it is garbage-collected with it, and foreground deletion waits for both), a GPU type alone
still requires the product on the node, a Performer whose GPU or TEE type the role does not know
gets an error naming the known ones, and a name of 53 characters (a 63-character child name) renders."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render

from tests.unit.test_performer_render_filter import SETTINGS, item

pytestmark = pytest.mark.unit


def test_the_pod_and_the_service_are_owned_by_their_performer_as_its_controller():
    [doc] = performer_render([item("p")], SETTINGS)
    owner = {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer", "name": "p", "uid": "uid-p",
        "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    assert doc["pod"]["metadata"]["ownerReferences"] == [owner]
    assert doc["service"]["metadata"]["ownerReferences"] == [owner]


def test_a_gpu_type_alone_requires_its_products_on_the_node():
    [doc] = performer_render(
        [item("g", hardwareRequirements={"gpuType": "nvidia-l4", "gpuCount": 1})], SETTINGS
    )
    required = doc["pod"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}
                ]
            }
        ]
    }


def test_an_unknown_gpu_type_is_that_performers_error_naming_the_known_ones():
    [doc] = performer_render(
        [item("g", hardwareRequirements={"gpuType": "acme-x1", "gpuCount": 1})], SETTINGS
    )
    assert "pod" not in doc
    assert doc["error"].startswith(
        'spec.hardwareRequirements.gpuType: unknown GPU type "acme-x1"; known types: '
    )
    assert "nvidia-a100, nvidia-a10g, nvidia-h100" in doc["error"]


def test_a_tee_type_without_a_profile_is_that_performers_error_naming_the_configured_ones():
    hardware = {"teeRequired": True, "teeType": "acme-enclave"}
    [doc] = performer_render([item("t", hardwareRequirements=hardware)], SETTINGS)
    assert "pod" not in doc
    configured = ", ".join(sorted(SETTINGS["performer_tee_profiles"]))
    assert doc["error"] == (
        f'spec.hardwareRequirements.teeType: no TEE profile for "acme-enclave"; configured: {configured}'
    )


def test_a_name_of_53_characters_renders_and_one_more_is_refused():
    longest, too_long = performer_render([item("n" * 53), item("n" * 54)], SETTINGS)
    assert longest["pod"]["metadata"]["name"] == "performer-" + "n" * 53
    assert longest["service"]["metadata"]["name"] == "performer-" + "n" * 53
    assert "pod" not in too_long and "it must be at most 63" in too_long["error"]


@pytest.mark.parametrize("spec", [
    {"scheduling": {"nodeSelector": ["pool=avs"]}},
    {"scheduling": {"tolerations": {"key": "dedicated"}}},
    {"config": {"grpcPort": 9090, "environment": ["A=1"]}},
], ids=["node-selector-list", "tolerations-mapping", "environment-list"])  # fmt: skip
def test_a_performer_of_the_wrong_shape_gets_its_own_error_and_the_others_render(spec: dict):
    """What no CRD admits today (a file deployed one-off, an object an older CRD took) fails that
    Performer, not the batch."""
    first, broken, last = performer_render([item("a"), item("broken", **spec), item("c")], SETTINGS)
    assert "pod" in first and "pod" in last
    assert broken["name"] == "broken" and broken["error"].startswith("rendering failed: ")
