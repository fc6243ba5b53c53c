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
