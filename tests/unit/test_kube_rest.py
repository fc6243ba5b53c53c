"""The modules' small API client (plugins/module_utils/kube_rest.py): the runner loop hands its resolved
connection to a run, and a module then calls the API server without the Kubernetes client. Checked
against a local HTTP server: the request a call makes, the Authorization header, a kept-alive
connection the server closed, a call the server asks to retry later, and which client a module picks."""

from __future__ import annotations

import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import kubernetes
import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import hourglass_kube
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    RETRY_AFTER_MAX,
    RETRY_ATTEMPTS,
    RestClient,
    retry_wait,
    settings_of,
    write_settings,
)

pytestmark = pytest.mark.unit


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict]] = []
    close_next = False
    # path -> the answers to give it first: (status, Retry-After header or None)
    refusals: ClassVar[dict[str, list[tuple[int, str | None]]]] = {}

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append({
            "method": self.command, "path": self.path, "body": body,
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "user_agent": self.headers.get("User-Agent"),
        })  # fmt: skip
        payload = json.dumps({"kind": "Status", "path": self.path}).encode()
        refused = Recorder.refusals.get(self.path)
        status, retry_after = (
            refused.pop(0) if refused else (404 if self.path.startswith("/missing") else 200, None)
        )
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if Recorder.close_next:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PATCH = do_DELETE = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    Recorder.seen, Recorder.close_next, Recorder.refusals = [], False, {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_call_sends_method_path_query_body_and_the_authorization(server):
    client = RestClient({"host": server, "authorization": "Bearer abc"})
    call = hourglass_kube.caller(client)
    query = [("fieldManager", "m"), ("force", "true")]
    apply_yaml = "application/apply-patch+yaml"
    pod = {"kind": "Pod", "env": "🙂"}
    status, body = call(
        "PATCH", "/api/v1/namespaces/a/pods/p", query=query, body=pod, content_type=apply_yaml
    )
    assert status == 200 and body["path"] == "/api/v1/namespaces/a/pods/p?fieldManager=m&force=true"
    sent = Recorder.seen[-1]
    assert sent["method"] == "PATCH" and sent["authorization"] == "Bearer abc"
    assert sent["content_type"] == apply_yaml and json.loads(sent["body"]) == pod
    assert "\\ud83d" not in sent["body"].decode()  # YAML-safe: no surrogate-pair escapes


def test_a_404_is_returned_with_its_body_and_a_json_body_is_sent_as_json(server):
    call = hourglass_kube.caller(RestClient({"host": server}))
    assert call("GET", "/missing/x")[0] == 404
    assert call("POST", "/api/v1/namespaces/a/events", body={"reason": "R"})[0] == 200
    assert Recorder.seen[-1]["authorization"] is None
    assert json.loads(Recorder.seen[-1]["body"]) == {"reason": "R"}


def test_every_call_names_the_operator_as_its_user_agent_the_field_manager_of_plain_writes(server):
    """The API server names the field manager of a write that gives none after the User-Agent's first
    word; http.client sends none, which the server records as "unknown"."""
    hourglass_kube.caller(RestClient({"host": server}))("PATCH", "/status", body={})
    hourglass_kube.caller(RestClient({"host": server, "user_agent": "hourglass-operator/1.2.3"}))("GET", "/x")
    assert [s["user_agent"] for s in Recorder.seen] == ["hourglass-operator", "hourglass-operator/1.2.3"]


@pytest.mark.parametrize("kube_client", [False, True], ids=["small client", "kubernetes client"])
def test_a_call_the_api_server_asks_to_retry_later_is_sent_again_after_its_wait(server, kube_client):
    """What API Priority and Fairness answers while the API server is overloaded (429 with
    Retry-After); a 5xx that says when to retry is too. The same call goes again, body included."""
    if kube_client:
        configuration = kubernetes.client.Configuration(host=server)
        client = kubernetes.client.ApiClient(configuration)
    else:
        client = RestClient({"host": server})
    call = hourglass_kube.caller(client)
    Recorder.refusals["/api/v1/namespaces/a/pods"] = [(429, "0"), (503, "0")]
    status, _ = call("POST", "/api/v1/namespaces/a/pods", body={"kind": "Pod"})
    assert status == 200
    assert [(s["method"], s["path"], json.loads(s["body"])) for s in Recorder.seen] == [
        ("POST", "/api/v1/namespaces/a/pods", {"kind": "Pod"})
    ] * 3


def test_a_refusal_that_says_no_wait_is_returned_and_retries_end(server):
    call = hourglass_kube.caller(RestClient({"host": server}))
    Recorder.refusals["/a"] = [(429, None)]  # no Retry-After: not a call to make again
    Recorder.refusals["/b"] = [(500, None)]
    Recorder.refusals["/c"] = [(409, "0")]  # a conflict is the caller's to handle
    assert [call("GET", path)[0] for path in ("/a", "/b", "/c")] == [429, 500, 409]
    assert len(Recorder.seen) == 3
    Recorder.refusals["/d"] = [(429, "0")] * (RETRY_ATTEMPTS + 5)
    assert call("GET", "/d")[0] == 429
    assert len([s for s in Recorder.seen if s["path"] == "/d"]) == RETRY_ATTEMPTS


def test_the_wait_is_the_one_asked_for_within_bounds():
    assert retry_wait(429, "1", attempt=1) == 1.0
    assert retry_wait(503, " 3 ", attempt=2) == 3.0
    assert retry_wait(429, "3600", attempt=1) == RETRY_AFTER_MAX
    assert retry_wait(429, "-1", attempt=1) == 0.0
    assert retry_wait(429, "Wed, 21 Oct 2026 07:28:00 GMT", attempt=1) is None
    assert retry_wait(429, "1", attempt=RETRY_ATTEMPTS) is None
    assert retry_wait(404, "1", attempt=1) is None


def test_a_connection_the_server_closed_is_reopened_once(server):
    client = RestClient({"host": server})
    call = hourglass_kube.caller(client)
    Recorder.close_next = True
    assert call("GET", "/first")[0] == 200  # the server closes this connection after answering
    Recorder.close_next = False
    assert call("GET", "/second")[0] == 200
    assert [s["path"] for s in Recorder.seen][-1] == "/second"


def test_a_call_the_server_refused_leaves_no_broken_connection_behind():
    """The runner loop's client lives on through an API server outage: a connection whose request
    failed midway (here: refused while the server was down) is not used again."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    port = httpd.server_address[1]
    httpd.server_close()  # the API server is down
    call = hourglass_kube.caller(RestClient({"host": f"http://127.0.0.1:{port}"}))
    with pytest.raises(ConnectionRefusedError):
        call("GET", "/during")
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Recorder)  # back
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        assert call("GET", "/after")[0] == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [s["path"] for s in Recorder.seen] == ["/after"]


def test_the_loops_settings_carry_the_token_of_its_kubeconfig_and_are_private(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://api.example:6443"}}],
        "users": [{"name": "u", "user": {"token": "sa-token"}}],
    }))  # fmt: skip
    settings = settings_of(hourglass_kube.api_client(str(kubeconfig)).configuration, "hourglass-operator/9")
    assert settings["host"] == "https://api.example:6443" and settings["verify"] is True
    assert settings["user_agent"] == "hourglass-operator/9"
    assert settings["authorization"] == "Bearer sa-token"  # what the client itself sends
    path = tmp_path / "connection.json"
    write_settings(str(path), settings)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == settings


def test_a_refreshed_token_is_handed_over_and_a_proxy_is_not():
    configuration = kubernetes.client.Configuration()
    configuration.host = "https://api.example:6443"
    configuration.api_key = {"BearerToken": "Bearer t0"}
    configuration.refresh_api_key_hook = lambda c: c.api_key.update(BearerToken="Bearer t1")
    assert settings_of(configuration)["authorization"] == "Bearer t1"  # exec plugins, rotated SA tokens
    configuration.proxy = "http://proxy:3128"
    assert settings_of(configuration) is None  # not handed over: modules use the Kubernetes client


def test_a_module_uses_the_handed_over_connection_unless_the_task_names_its_own(tmp_path, monkeypatch):
    path = tmp_path / "connection.json"
    write_settings(str(path), {"host": "https://api.example:6443", "verify": False})
    monkeypatch.setenv(CONNECTION_ENV, str(path))
    assert isinstance(hourglass_kube.module_client(), RestClient)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://own.example"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))  # fmt: skip
    own = hourglass_kube.module_client(str(kubeconfig))
    assert not isinstance(own, RestClient) and own.configuration.host == "https://own.example"
    monkeypatch.delenv(CONNECTION_ENV)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert not isinstance(hourglass_kube.module_client(), RestClient)


def test_the_loops_own_calls_send_the_token_its_configuration_has_at_each_call(server):
    from hourglass_operator.startup import calls_client

    api = kubernetes.client.ApiClient(kubernetes.client.Configuration())
    api.configuration.host = server
    api.configuration.api_key = {"BearerToken": "Bearer t0"}
    current = {"token": "Bearer t1"}  # what the refresh hook (exec plugin, service account file) finds
    api.configuration.refresh_api_key_hook = lambda c: c.api_key.update(BearerToken=current["token"])
    client = calls_client(api)
    assert isinstance(client, RestClient)
    call = hourglass_kube.caller(client)
    assert call("GET", "/first")[0] == 200
    current["token"] = "Bearer t2"  # rotated
    assert call("GET", "/second")[0] == 200
    assert [s["authorization"] for s in Recorder.seen] == ["Bearer t1", "Bearer t2"]
    api.configuration.proxy = "http://proxy:3128"
    assert calls_client(api) is api  # what the small client cannot do: the Kubernetes client's own
