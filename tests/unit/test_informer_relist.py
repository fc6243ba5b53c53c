"""The informer's list+watch loop around its events: a list again after the watch's resourceVersion
expired reports what changed while no watch ran (created, changed, deleted: each a handler call, as
the watch would have made it), a watch the API server refuses with 410 lists again instead of asking
for the same expired version forever, and an API server that keeps failing is asked again after a
back-off doubling from 0.5 s to 5 s, from 0.5 s again once a watch worked."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import kubernetes
import pytest

from hourglass_operator.informer import Informer
from tests.unit.test_informer import Stream, obj

pytestmark = pytest.mark.unit


@pytest.fixture
def informer() -> tuple[Informer, list]:
    """An informer of pods and the handler calls it made: (event, old resourceVersion, new one)."""
    calls: list = []

    def handler(kind: str, old: dict | None, new: dict | None) -> None:
        versions = [o and o["metadata"]["resourceVersion"] for o in (old, new)]
        calls.append((kind, *versions))

    return Informer(None, "/api/v1/pods", handler, stop=threading.Event()), calls


def listing(rv: str, *items: dict) -> SimpleNamespace:
    return SimpleNamespace(data=json.dumps({"kind": "PodList", "metadata": {"resourceVersion": rv},
                                            "items": list(items)}).encode())  # fmt: skip


def test_a_list_again_after_the_watch_expired_reports_what_changed_while_no_watch_ran(informer, monkeypatch):
    inf, calls = informer
    lists = [listing("10", obj("a", "9"), obj("b", "9"), obj("c", "9")),
             listing("20", obj("a", "9"), obj("b", "15"), obj("d", "14"))]  # fmt: skip
    listed_from: list[str | None] = []
    watches = [Stream([{"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}])]

    def request(params: dict, timeout: float):
        if params.get("watch") != "true":
            listed_from.append(params["resourceVersion"])
            return lists.pop(0)
        if not watches:
            inf._stop.set()
            return Stream([])
        return watches.pop(0)

    monkeypatch.setattr(inf, "_request", request)
    monkeypatch.setattr(inf._stop, "wait", lambda timeout: False)
    inf._run()
    # The first list may come from the API server's watch cache; the one after it must be current.
    assert listed_from == ["0", None]
    assert calls[3:] == [("MODIFIED", "9", "15"), ("ADDED", None, "14"), ("DELETED", "9", None)]
    assert sorted(o["metadata"]["name"] for o in inf.list()) == ["a", "b", "d"]


def test_a_watch_the_api_server_refuses_as_gone_lists_again(informer, monkeypatch):
    inf, calls = informer
    lists = [listing("10", obj("a", "9")), listing("30", obj("a", "25"))]
    watched_from: list[str] = []

    def request(params: dict, timeout: float):
        if params.get("watch") != "true":
            return lists.pop(0)
        watched_from.append(params["resourceVersion"])
        if len(watched_from) == 1:
            raise kubernetes.client.ApiException(status=410, reason="Gone")
        inf._stop.set()
        return Stream([])

    monkeypatch.setattr(inf, "_request", request)
    monkeypatch.setattr(inf._stop, "wait", lambda timeout: False)
    inf._run()
    assert watched_from == ["10", "30"] and lists == []
    assert calls == [("ADDED", None, "9"), ("MODIFIED", "9", "25")]


def test_the_back_off_doubles_to_5_s_while_the_api_server_fails_and_starts_over_after_a_watch_that_worked(
    informer, monkeypatch
):
    inf, _ = informer
    outcomes = ["fail"] * 6 + ["ok", "fail"]  # each watch: refused, or ended as watches do
    waits: list[float] = []

    def request(params: dict, timeout: float):
        if params.get("watch") != "true":
            return listing("10")
        if not outcomes:
            inf._stop.set()
            return Stream([])
        if outcomes.pop(0) == "fail":
            raise ConnectionRefusedError(111, "Connection refused")
        return Stream([])

    monkeypatch.setattr(inf, "_request", request)
    monkeypatch.setattr(inf._stop, "wait", lambda timeout: waits.append(timeout) or False)
    inf._run()
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 0.5]
