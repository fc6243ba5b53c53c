"""The small API client's connections (plugins/module_utils/kube_rest.py) beyond plain HTTP: TLS as a
kubeconfig sets it up (the cluster's CA, a client certificate, tls-server-name, verification on unless
turned off), a server URL with a path (an API proxy), which failures send a call again (only a
kept-alive connection the server closed before reading it: never one that may have been carried out),
the waits a Retry-After asks for, and a time limit on the calls made through the Kubernetes client."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes
import pytest
from ansible_collections.hourglass.operator.plugins.module_utils import hourglass_kube
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import RestClient, settings_of

from tests.support.pki import certificate_pem, key_pem, new_key
from tests.unit.test_kube_rest import Recorder, server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.unit

SERVER_NAME = "kube.example"  # the only name the API server's certificate holds (no IP address)


@pytest.fixture(autouse=True)
def clients() -> Iterator[list[RestClient]]:
    """The clients a test made, closed after it (each keeps its connection open for the next call)."""
    made: list[RestClient] = []
    CLIENTS.append(made)
    yield made
    CLIENTS.pop()
    for client in made:
        client.close()


CLIENTS: list[list[RestClient]] = []


def _caller(settings: dict, **options: object) -> Callable:
    """hourglass_kube's caller on a new RestClient closed after the test."""
    client = RestClient(settings, **options)
    CLIENTS[-1].append(client)
    return hourglass_kube.caller(client)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A cluster CA, the API server's certificate (for SERVER_NAME) and a client's (CN "operator")."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key = new_key(), new_key(), new_key()
    files = {
        "ca": certificate_pem("cluster-ca", ca_key, "cluster-ca", ca_key, ca=True),
        "server_cert": certificate_pem(
            "apiserver", server_key, "cluster-ca", ca_key, ca=False, dns=[SERVER_NAME]
        ),
        "server_key": key_pem(server_key),
        "client_cert": certificate_pem("operator", client_key, "cluster-ca", ca_key, ca=False),
        "client_key": key_pem(client_key),
    }
    for name, content in files.items():
        (directory / f"{name}.pem").write_bytes(content)
    return {name: str(directory / f"{name}.pem") for name in files}


@pytest.fixture
def tls_server(pki: dict[str, str]) -> Iterator[str]:
    """An HTTPS API server that asks for a client certificate and answers with the CN it got."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert() or {}
            subject = dict(item for field in peer.get("subject", ()) for item in field)
            body = json.dumps({"client": subject.get("commonName"), "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_OPTIONAL
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_kubeconfigs_tls_settings_are_handed_over(pki):
    configuration = kubernetes.client.Configuration(host="https://10.0.0.1:6443")
    configuration.ssl_ca_cert, configuration.verify_ssl = pki["ca"], False
    configuration.cert_file, configuration.key_file = pki["client_cert"], pki["client_key"]
    configuration.tls_server_name = SERVER_NAME
    settings = settings_of(configuration)
    keys = ("host", "ca_file", "cert_file", "key_file", "verify", "server_name")
    assert {k: settings[k] for k in keys} == {
        "host": "https://10.0.0.1:6443", "ca_file": pki["ca"], "cert_file": pki["client_cert"],
        "key_file": pki["client_key"], "verify": False, "server_name": SERVER_NAME,
    }  # fmt: skip


def test_a_call_over_tls_trusts_the_clusters_ca_checks_the_server_name_and_shows_the_client_cert(
    pki, tls_server
):
    settings = {"host": tls_server, "ca_file": pki["ca"], "verify": True, "server_name": SERVER_NAME,
                "cert_file": pki["client_cert"], "key_file": pki["client_key"]}  # fmt: skip
    status, body = _caller(settings)("GET", "/api")
    assert (status, body["client"]) == (200, "operator")


def test_a_server_certificate_for_another_name_is_refused(pki, tls_server):
    """Without tls-server-name the address (127.0.0.1) is what the certificate must name."""
    settings = {"host": tls_server, "ca_file": pki["ca"], "verify": True}
    with pytest.raises(ssl.SSLCertVerificationError):
        _caller(settings)("GET", "/api")


def test_verification_is_on_unless_the_settings_turn_it_off(pki, tls_server):
    with pytest.raises(ssl.SSLCertVerificationError):  # the cluster's CA is not a system one
        _caller({"host": tls_server})("GET", "/api")
    status, body = _caller({"host": tls_server, "verify": False})("GET", "/api")
    assert (status, body["client"]) == (200, None)


def test_a_server_url_with_a_path_prefixes_every_call(server):  # noqa: F811
    """An API server reached through a proxy (Rancher: https://rancher/k8s/clusters/<id>)."""
    call = _caller({"host": server + "/k8s/clusters/c-1/"})
    assert call("GET", "/api/v1/namespaces/a/pods/p")[0] == 200
    assert Recorder.seen[-1]["path"] == "/k8s/clusters/c-1/api/v1/namespaces/a/pods/p"


def test_the_waits_are_the_ones_retry_after_asks_for(server, monkeypatch):  # noqa: F811
    waits: list[float] = []
    monkeypatch.setattr(hourglass_kube.time, "sleep", waits.append)
    Recorder.refusals["/api/v1/namespaces/a/pods"] = [(429, "2"), (503, "1")]
    status, _ = _caller({"host": server})("POST", "/api/v1/namespaces/a/pods", body={})
    assert status == 200 and waits == [2.0, 1.0]


class ScriptedServer:
    """A raw HTTP server whose n-th connection does what `script[n]` says with each request it reads:
    "answer" (200, kept alive), "drop" (close without answering) or "hang" (never answer)."""

    def __init__(self, script: list[list[str]]) -> None:
        self.script = script
        self.requests: list[tuple[int, bytes]] = []  # (connection, request line) of every request read
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        for number, actions in enumerate(self.script):
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the test is over, with connections of the script unused
                return
            threading.Thread(target=self._connection, args=(number, conn, actions), daemon=True).start()

    def _connection(self, number: int, conn: socket.socket, actions: list[str]) -> None:
        stream = conn.makefile("rb")
        with conn:
            for action in actions:
                line = stream.readline()
                while stream.readline() not in (b"\r\n", b""):  # the headers (these calls have no body)
                    pass
                self.requests.append((number, line.strip()))
                if action == "drop":
                    return
                if action == "hang":
                    self.release.wait(30)
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                )

    def close(self) -> None:
        self.release.set()
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[list[list[str]]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: list[list[str]]) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for started in servers:
        started.close()


def test_a_call_dropped_on_a_new_connection_is_not_sent_again(scripted):
    """The server may have carried it out (a create): only a kept-alive connection closed before the
    call goes again."""
    api = scripted([["drop"], ["answer"]])
    call = _caller({"host": api.url})
    with pytest.raises(ConnectionError):
        call("DELETE", "/api/v1/namespaces/a/pods/p")
    assert api.requests == [(0, b"DELETE /api/v1/namespaces/a/pods/p HTTP/1.1")]


def test_a_call_that_timed_out_on_a_kept_alive_connection_is_not_sent_again(scripted):
    api = scripted([["answer", "hang"], ["answer"]])
    call = _caller({"host": api.url}, timeout=0.5)
    assert call("GET", "/first")[0] == 200
    with pytest.raises(TimeoutError):
        call("DELETE", "/second")
    assert api.requests == [(0, b"GET /first HTTP/1.1"), (0, b"DELETE /second HTTP/1.1")]


def test_a_kept_alive_connection_the_server_dropped_is_replaced_once(scripted):
    api = scripted([["answer", "drop"], ["answer"]])
    call = _caller({"host": api.url})
    assert call("GET", "/first")[0] == 200
    assert call("GET", "/second")[0] == 200
    assert api.requests == [
        (0, b"GET /first HTTP/1.1"),
        (0, b"GET /second HTTP/1.1"),
        (1, b"GET /second HTTP/1.1"),
    ]


def test_a_call_through_the_kubernetes_client_has_a_time_limit(server):  # noqa: F811
    """A hung API server must not hold a call (and its reconcile) for as long as TCP lets it."""
    timeouts: list[object] = []

    class Client(kubernetes.client.ApiClient):
        def call_api(self, *args, **kwargs):
            timeouts.append(kwargs.get("_request_timeout"))
            return super().call_api(*args, **kwargs)

    client = Client(kubernetes.client.Configuration(host=server))
    assert hourglass_kube.caller(client)("GET", "/api")[0] == 200
    assert len(timeouts) == 1 and timeouts[0] is not None and 0 < timeouts[0] <= 60
