"""The operator finds the resource name of a watched kind by API discovery on the real API server:
the CRD's plural for Performers, the served plural for a kind whose plural is not its name + "s",
and an error naming a kind the server does not serve. An operator started before its kind is
served waits for it: alive, not ready."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import caller

from hourglass_operator.discovery import DiscoveryError, missing_status_fields, resource_plural
from hourglass_operator.startup import calls_client
from tests.support.paths import REPO
from tests.support.performers import GROUP, PLURAL, VERSION
from tests.support.waiting import wait_for


def test_the_performer_plural_is_the_crds(cluster, performer_crd):
    plural = resource_plural(cluster.api, GROUP, VERSION, "Performer")
    assert plural == performer_crd["spec"]["names"]["plural"] == PLURAL


def test_the_performer_status_fields_are_read_from_the_schema_the_api_server_publishes(
    cluster, performer_crd
):
    call = caller(calls_client(cluster.api))
    assert missing_status_fields(call, GROUP, VERSION, "Performer", contract.STATUS_FIELDS) == []
    fields = [*contract.STATUS_FIELDS, "notDeclared"]
    assert missing_status_fields(call, GROUP, VERSION, "Performer", fields) == ["notDeclared"]


def test_a_plural_that_is_not_the_kind_plus_s(cluster):
    assert resource_plural(cluster.api, "networking.k8s.io", "v1", "NetworkPolicy") == "networkpolicies"


def test_a_kind_the_server_does_not_serve(cluster, performer_crd):
    with pytest.raises(DiscoveryError, match="has no such kind"):
        resource_plural(cluster.api, GROUP, VERSION, "Nonesuch")
    with pytest.raises(DiscoveryError, match="does not serve"):
        resource_plural(cluster.api, "nonesuch.example.com", "v1", "Performer")


def test_an_operator_whose_kind_is_not_served_waits_alive_and_not_ready(operators, tmp_path):
    watches = tmp_path / "watches.yaml"
    watches.write_text(yaml.safe_dump([
        {"group": "nonesuch.example.com", "version": "v1", "kind": "Performer",
         "role": str(REPO / "roles" / "performer")},
    ]))  # fmt: skip
    process = operators("--watches-file", str(watches))
    waiting = "waiting for the API server to serve the watched kind"
    wait_for(lambda: any(waiting in line for line in process.log_lines()), timeout=30, what="the wait")
    assert any(
        "nonesuch.example.com/v1: the API server does not serve" in line
        and "is its CRD installed? install it with" in line
        for line in process.log_lines()
    )
    assert process.process.poll() is None
    assert process.get("/healthz") == (200, "ok\n")
    assert process.get("/readyz")[0] == 503
    assert process.stop() == 0
