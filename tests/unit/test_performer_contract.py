"""The Performer contract (plugins/module_utils/performer_contract.py) is the one source of the
names: the role's templates put its labels, annotation and child name on what they render, the
status rules name the children by it, and its clock writes RFC 3339."""

from __future__ import annotations

import re

import yaml
from ansible_collections.hourglass.operator.plugins.filter.performer_names import FilterModule
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.go_duration import duration_error
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import compute_status

from tests.support.paths import CRD_FILE, REPO

SETTINGS = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_the_crd_and_watches_file_agree_with_the_contract():
    crd = yaml.safe_load(CRD_FILE.read_text())
    assert (crd["spec"]["group"], crd["spec"]["names"]["plural"], crd["spec"]["names"]["kind"]) == (
        contract.GROUP, contract.PLURAL, contract.KIND,
    )  # fmt: skip
    assert contract.VERSION in [v["name"] for v in crd["spec"]["versions"]]
    [watch] = yaml.safe_load((REPO / "watches.yaml").read_text())
    names = [contract.GROUP, contract.VERSION, contract.KIND]
    assert [watch[k] for k in ("group", "version", "kind")] == names
    assert watch["finalizer"]["name"] == contract.FINALIZER


def test_the_rendered_children_carry_the_contracts_names():
    meta = {"name": "p", "namespace": "ns", "uid": "u"}
    cr = {"apiVersion": contract.API_VERSION, "kind": contract.KIND, "metadata": meta,
          "spec": {"avsAddress": AVS, "image": "i:1"}}  # fmt: skip
    [doc] = performer_render([{"_hourglass_eigenlayer_io_performer": cr}], SETTINGS)
    pod, service = doc["pod"], doc["service"]
    assert pod["metadata"]["name"] == service["metadata"]["name"] == contract.child_name("p")
    assert pod["metadata"]["labels"] == service["metadata"]["labels"] == contract.child_labels("p", AVS)
    assert list(pod["metadata"]["annotations"]) == [contract.SPEC_HASH_ANNOTATION]
    assert service["spec"]["selector"] == {contract.OWNER_LABEL: "p"}
    # the selector the runner loop lists children by matches what the role puts on them
    assert contract.CHILD_SELECTOR in {f"{key}={value}" for key, value in pod["metadata"]["labels"].items()}


def test_the_status_and_the_filter_name_the_children_by_the_contract():
    status = compute_status({"metadata": {"name": "p", "namespace": "ns"}}, None, now="2026-01-01T00:00:00Z")
    assert status["podName"] == status["serviceName"] == contract.child_name("p") == "performer-p"
    assert status["grpcEndpoint"] == contract.grpc_endpoint("p", "ns") == "performer-p.ns.svc.cluster.local"
    assert status["phase"] in contract.PHASES
    assert [c["type"] for c in status["conditions"]] == list(contract.CONDITION_TYPES)
    assert FilterModule().filters()["performer_child_name"]("p") == "performer-p"
    assert contract.performer_of(contract.child_name("a-b")) == "a-b"


def test_the_clock_writes_rfc3339_utc_seconds():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", contract.now())


def test_requeue_periods_are_go_durations():
    assert [duration_error(p) for p in ("5s", "1m30s", "250ms")] == [None, None, None]
    assert duration_error("5") == "period: '5' is not a Go duration such as 5s or 1m30s"
    assert duration_error("soon") is not None
