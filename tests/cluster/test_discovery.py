"""The operator finds the resource name of a watched kind by API discovery on the real API server:
the CRD's plural for Performers, the served plural for a kind whose plural is not its name + "s",
and an error naming a kind the server does not serve."""

from __future__ import annotations

import pytest

from hourglass_operator.discovery import DiscoveryError, resource_plural
from tests.support.performers import GROUP, PLURAL, VERSION


def test_the_performer_plural_is_the_crds(cluster, performer_crd):
    plural = resource_plural(cluster.api, GROUP, VERSION, "Performer")
    assert plural == performer_crd["spec"]["names"]["plural"] == PLURAL


def test_a_plural_that_is_not_the_kind_plus_s(cluster):
    assert resource_plural(cluster.api, "networking.k8s.io", "v1", "NetworkPolicy") == "networkpolicies"


def test_a_kind_the_server_does_not_serve(cluster, performer_crd):
    with pytest.raises(DiscoveryError, match="has no such kind"):
        resource_plural(cluster.api, GROUP, VERSION, "Nonesuch")
    with pytest.raises(DiscoveryError, match="does not serve"):
        resource_plural(cluster.api, "nonesuch.example.com", "v1", "Performer")
