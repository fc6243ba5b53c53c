"""The plural of a watched kind comes from API discovery, not from its name."""

from __future__ import annotations

import threading

import kubernetes
import pytest

from hourglass_operator import discovery
from hourglass_operator.discovery import DiscoveryError, plural_in, resource_plural, wait_for_plural


def resource(name: str, kind: str) -> kubernetes.client.V1APIResource:
    return kubernetes.client.V1APIResource(
        name=name, kind=kind, namespaced=True, singular_name="", verbs=["get"]
    )


LISTING = [
    resource("policies", "Policy"),
    resource("policies/status", "Policy"),
    resource("proxies", "Proxy"),
]


def test_the_plural_is_the_one_discovery_lists_for_the_kind():
    assert plural_in(LISTING, "Policy") == "policies"  # not "policys"
    assert plural_in(LISTING, "Proxy") == "proxies"
    assert plural_in(LISTING, "Missing") is None


class Discovery:
    def __init__(self, answers: list) -> None:
        self.answers = answers

    def get_api_resources(self, group: str, version: str) -> kubernetes.client.V1APIResourceList:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return kubernetes.client.V1APIResourceList(group_version=f"{group}/{version}", resources=answer)


@pytest.fixture
def answers(monkeypatch) -> list:
    answers: list = []
    monkeypatch.setattr(discovery.kubernetes.client, "CustomObjectsApi", lambda api: Discovery(answers))
    return answers


def test_a_kind_not_served_is_an_error_naming_it(answers):
    answers += [kubernetes.client.ApiException(status=404), []]
    with pytest.raises(
        DiscoveryError, match=r"kind Policy of example\.com/v1: the API server does not serve"
    ):
        resource_plural(None, "example.com", "v1", "Policy")
    with pytest.raises(
        DiscoveryError, match=r"kind Policy of example\.com/v1: example\.com/v1 has no such kind"
    ):
        resource_plural(None, "example.com", "v1", "Policy")


def test_waiting_retries_until_the_kind_is_served(answers, monkeypatch):
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", lambda seconds: False)
    answers += [kubernetes.client.ApiException(status=404), [], LISTING]
    assert wait_for_plural(None, "example.com", "v1", "Proxy", stop) == "proxies"


def test_waiting_ends_when_stopped(answers):
    stop = threading.Event()
    stop.set()
    assert wait_for_plural(None, "example.com", "v1", "Proxy", stop) is None


GVK = {"group": "hourglass.eigenlayer.io", "version": "v1alpha1", "kind": "Performer"}


def published(*status_fields: str) -> dict:
    """An OpenAPI v3 document of the group/version, as the API server publishes a CRD's schema."""
    performer = {
        "x-kubernetes-group-version-kind": [GVK],
        "properties": {"status": {"type": "object", "properties": {f: {} for f in status_fields}}},
    }
    listing = {"x-kubernetes-group-version-kind": [{**GVK, "kind": "PerformerList"}], "properties": {}}
    schemas = {"io.eigenlayer.hourglass.v1alpha1.Performer": performer, "PerformerList": listing}
    return {"components": {"schemas": schemas}}


def answering(code: int, document: object) -> object:
    asked = []

    def call(method: str, path: str, **options: object) -> tuple[int, object]:
        asked.append((method, path))
        return code, document

    call.asked = asked  # type: ignore[attr-defined]
    return call


def test_the_status_fields_an_older_crd_lacks_are_named_from_the_published_schema():
    call = answering(200, published("phase", "ready"))
    missing = discovery.missing_status_fields(
        call, *GVK.values(), ["ready", "endedPods", "phase", "readyTime"]
    )
    assert missing == ["endedPods", "readyTime"]
    assert call.asked == [("GET", "/openapi/v3/apis/hourglass.eigenlayer.io/v1alpha1")]
    assert discovery.missing_status_fields(answering(200, published("ready")), *GVK.values(), ["ready"]) == []


@pytest.mark.parametrize(
    ("code", "document"), [(403, {"kind": "Status"}), (404, None), (200, {"components": {}})]
)
def test_a_schema_that_cannot_be_read_is_no_answer(code, document):
    assert discovery.missing_status_fields(answering(code, document), *GVK.values(), ["ready"]) is None


def test_an_older_crd_gets_a_warning_that_says_how_to_upgrade_it(caplog):
    with caplog.at_level("WARNING", logger="hourglass_operator.discovery"):
        discovery.warn_if_status_fields_missing(
            answering(200, published("phase")), *GVK.values(), ["phase", "endedPods"]
        )
    [record] = caplog.records
    assert "status schema lacks endedPods" in record.message
    upgrade = "kubectl apply --server-side --force-conflicts -f crds/hourglass.eigenlayer.io_performers.yaml"
    assert upgrade in record.message

    def unreachable(method: str, path: str, **options: object) -> tuple[int, object]:
        raise OSError("connection refused")

    caplog.clear()
    with caplog.at_level("WARNING", logger="hourglass_operator.discovery"):
        discovery.warn_if_status_fields_missing(unreachable, *GVK.values(), ["phase"])  # never raises
        discovery.warn_if_status_fields_missing(answering(200, published("phase")), *GVK.values(), ["phase"])
    assert caplog.records == []
