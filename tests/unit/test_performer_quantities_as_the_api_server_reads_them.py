"""A Performer's quantities at ParseQuantity's edges are judged as a real API server judged them."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.hourglass.operator.plugins.filter.hourglass_checks import performer_errors

AVS = "0x" + "1" * 40
HUGE_PAGES = (
    "spec.resources.limits: huge pages must be named hugepages-<page size> (such as hugepages-2Mi)"
    " and their amount must be a whole multiple of the page size"
)
AT_MOST = "must be at most 9223372036854775807 (2^63-1), the largest quantity Kubernetes represents"
AT_LEAST = "must be greater than or equal to 0"


def performer(limits: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1",
        "kind": "Performer",
        "metadata": {"name": "echo"},
        "spec": {"avsAddress": AVS, "image": "ghcr.io/example/echo:v1", "resources": {"limits": limits}},
    }


# Each case is what a real API server (hack/testenv, this CRD) answered `kubectl create --dry-run=server`
# with for the same Performer.
ACCEPTED = {
    "binary-capped": {"memory": "8Ei"},  # 2^63, capped at 2^63-1 as ParseQuantity does
    "exponent-wraps": {"memory": "1e4294967296"},  # Go's int32 exponent: 1
    "upper-case-exponent": {"memory": "1E3"},
    "whole-float": {"cpu": 2.0},
    "huge-pages-11-digits-ki": {"cpu": "1", "hugepages-2Mi": "99999744000Ki"},
    "huge-pages-18-digits": {"cpu": "1", "hugepages-2Mi": "999999999999737856"},
    "huge-pages-leading-zeros": {"cpu": "1", "hugepages-2Mi": "00000000000002097152"},
    "huge-pages-zero": {"cpu": "1", "hugepages-2Mi": "0"},
    "huge-pages-peta": {"cpu": "1", "hugepages-1P": "2P"},
    "huge-pages-exponent-name": {"cpu": "1", "hugepages-1E3": "4k"},
}
REFUSED = {
    "negative-binary-fraction": ({"memory": "-1.5Gi"}, f"spec.resources.limits[memory] '-1.5Gi' {AT_LEAST}"),
    "negative-binary-capped": ({"memory": "-16Ei"}, f"spec.resources.limits[memory] '-16Ei' {AT_LEAST}"),
    "negative-big": ({"memory": "-1e400"}, f"spec.resources.limits[memory] '-1e400' {AT_LEAST}"),
    "exponent-wraps-to-19": (
        {"memory": "1e4294967315"},
        f"spec.resources.limits[memory] '1e4294967315' {AT_MOST}",
    ),
    "exponent-beyond-int64": (
        {"memory": "1e9223372036854775808"},
        f"spec.resources.limits[memory] '1e9223372036854775808' {AT_MOST} (the rule could not be evaluated: "
        "unable to parse quantity's suffix)",
    ),
    "boolean": ({"cpu": True}, "spec.resources.limits.cpu must be an integer or a string"),
    # Not integers on the API server (held as big decimals or at a negative scale): no multiple.
    "huge-pages-12-digits-ki": ({"cpu": "1", "hugepages-2Mi": "100000002048Ki"}, HUGE_PAGES),
    "huge-pages-19-digits": ({"cpu": "1", "hugepages-2Mi": "1999999999999737856"}, HUGE_PAGES),
    "huge-pages-zero-point-zero": ({"cpu": "1", "hugepages-2Mi": "0.0"}, HUGE_PAGES),
    "huge-pages-binary-capped": ({"cpu": "1", "hugepages-1": "8Ei"}, HUGE_PAGES),
    "huge-pages-micro": ({"cpu": "1", "hugepages-1k": "1000000000u"}, HUGE_PAGES),
    "extended-zero-point-zero": (
        {"example.com/foo": "0.0"},
        "spec.resources.limits: extended resources such as nvidia.com/gpu must be whole numbers",
    ),
}


@pytest.mark.parametrize("case", ACCEPTED, ids=list(ACCEPTED))
def test_a_quantity_the_api_server_accepts_is_accepted(case: str) -> None:
    assert performer_errors(performer(ACCEPTED[case])) == []


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_quantity_the_api_server_refuses_is_refused(case: str) -> None:
    limits, said = REFUSED[case]
    errors = performer_errors(performer(limits))
    assert any(error.startswith(said) for error in errors), errors
