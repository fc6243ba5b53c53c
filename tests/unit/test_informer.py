"""The informer's handling of watch events: cache updates, handler calls, bookmarks, 410 Gone.
(List+watch against a real API server is exercised by every operator cluster test.)"""

from __future__ import annotations

import threading

import pytest

from hourglass_operator.informer import GoneError, Informer


def obj(name: str, rv: str) -> dict:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv}}


@pytest.fixture
def informer() -> tuple[Informer, list]:
    calls: list = []
    handler = lambda kind, old, new: calls.append((kind, old and old["metadata"]["resourceVersion"],  # noqa: E731
                                                   new and new["metadata"]["resourceVersion"]))  # fmt: skip
    return Informer(None, "/api/v1/pods", handler, stop=threading.Event()), calls


def test_events_update_the_cache_and_call_the_handler(informer):
    inf, calls = informer
    assert inf._dispatch({"type": "ADDED", "object": obj("a", "5")}, "1") == "5"
    assert inf._dispatch({"type": "MODIFIED", "object": obj("a", "7")}, "5") == "7"
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "7"
    assert inf._dispatch({"type": "DELETED", "object": obj("a", "9")}, "7") == "9"
    assert inf.get("ns/a") is None
    assert calls == [("ADDED", None, "5"), ("MODIFIED", "5", "7"), ("DELETED", "7", None)]


def test_bookmarks_only_advance_the_resource_version(informer):
    inf, calls = informer
    assert inf._dispatch({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}}, "1") == "42"
    assert calls == [] and inf.list() == []


def test_gone_means_list_again(informer):
    inf, _ = informer
    with pytest.raises(GoneError):
        inf._dispatch({"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}, "1")


def test_update_keeps_the_newer_object(informer):
    inf, _ = informer
    inf._dispatch({"type": "ADDED", "object": obj("a", "10")}, "1")
    inf.update(obj("a", "8"))
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "10"
    inf.update(obj("a", "12"))
    assert inf.get("ns/a")["metadata"]["resourceVersion"] == "12"
