"""How an informer says its list and watch requests fail: one line each, a lasting failure once a
minute with its count, and the recovery."""

from __future__ import annotations

import json
import logging
import threading
from types import SimpleNamespace

import kubernetes
import pytest

from hourglass_operator.informer import Informer
from hourglass_operator.watch_failures import FailureReport, describe

CRD_GONE = kubernetes.client.ApiException(status=404, reason="Not Found", body=b"404 page not found\n")
FORBIDDEN = kubernetes.client.ApiException(
    status=403, reason="Forbidden",
    body=json.dumps({"kind": "Status", "message": 'performers is forbidden: User "x" cannot list'}).encode(),
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "hourglass_operator.informer"]


def test_an_api_error_is_one_line_with_the_api_servers_message():
    assert describe(FORBIDDEN) == '403 Forbidden: performers is forbidden: User "x" cannot list'
    assert describe(CRD_GONE) == (
        "404 Not Found: 404 page not found (the API server does not serve the resource: was its CRD deleted?)"
    )
    assert describe(ConnectionRefusedError(111, "Connection\nrefused")) == "[Errno 111] Connection refused"


def test_a_lasting_failure_is_said_once_a_minute_with_its_count_and_the_recovery_once(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    report = FailureReport("Performer ns", clock)
    for _ in range(12):  # a minute of retries every 5 s
        report.failed(CRD_GONE, 5.0)
        clock.now += 5.0
    report.failed(CRD_GONE, 5.0)
    report.failed(FORBIDDEN, 5.0)  # another failure is said at once
    report.succeeded()
    report.succeeded()
    lines = said(caplog)
    assert [level for level, _ in lines] == ["WARNING", "WARNING", "WARNING", "INFO"]
    assert lines[0][1].startswith("list/watch failed, retrying in 5.0 s: 404 Not Found: 404 page not found")
    assert lines[1][1].startswith("list/watch failed (12 times in 60 s), retrying in 5.0 s: 404 Not Found")
    assert lines[2][1].startswith("list/watch failed, retrying in 5.0 s: 403 Forbidden")
    assert lines[3][1] == "list/watch works again after 14 failed attempts"
    assert all("\n" not in message for _, message in lines)


def test_an_informer_whose_list_keeps_failing_says_so_once_until_it_lists_again(caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    stop = threading.Event()
    listed = json.dumps({"kind": "PerformerList", "items": [], "metadata": {"resourceVersion": "7"}})
    answers = [(404, "Not Found", b"404 page not found\n")] * 4 + [(200, "OK", listed.encode())]

    class Api:  # the API server, as the informer's two client calls see it: gone 4 times, then back
        def param_serialize(self, method, path, **_):
            return method, path, {}, None, None

        def call_api(self, method, url, **_):
            status, reason, body = answers.pop(0)
            return SimpleNamespace(status=status, reason=reason, read=lambda: body,
                                   response=SimpleNamespace(data=body))  # fmt: skip

    def watch_until_stopped() -> None:
        stop.set()

    informer = Informer(
        Api(), "/apis/hourglass.eigenlayer.io/v1alpha1/performers", lambda *_: None, stop=stop
    )
    monkeypatch.setattr(informer, "_watch", watch_until_stopped)
    monkeypatch.setattr(stop, "wait", lambda timeout: False)  # no back-off to sit through
    informer._run()
    assert [level for level, _ in said(caplog)] == ["WARNING", "INFO"]
    assert said(caplog)[1][1] == "list/watch works again after 4 failed attempts"
    assert informer.has_synced() and answers == []
