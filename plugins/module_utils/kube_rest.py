"""A small HTTPS client for the Kubernetes API that the collection's modules use when the runner loop
hands them the connection it already resolved, so that a module does not import the Kubernetes Python
client: that import (about 0.5 CPU-seconds, every module call being a new process) was the largest
single cost of a reconcile run.

The runner loop writes the settings of its own client (`settings_of`: server, CA, client certificate
and key files, the current Authorization header — refreshed, so exec plugins and rotated service
account tokens are honoured) to a file private to the run (`write_settings`, mode 0600) and names it in
the environment variable CONNECTION_ENV. A module finds it through `hourglass_kube.module_client`;
without it (the operator-sdk ansible-operator, a one-off ansible-playbook) modules use the Kubernetes
client as before. A connection this client cannot make as the Kubernetes client would (an HTTP proxy)
is not handed over (`settings_of` returns None). The runner loop makes its own most frequent calls
(finalizers, the status fast path's patches and Events) with it too, about half the client CPU of the
Kubernetes client's per call, asking its configuration for a fresh token at each call.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

CONNECTION_ENV = "HOURGLASS_KUBE_CONNECTION"

# The User-Agent of every call. The API server names the field manager of a write that gives none (the
# status and finalizer patches) after its first word, and its audit log records it: without one, both
# say "unknown". The runner loop hands its own, with its version, in the settings.
USER_AGENT = "hourglass-operator"

# An answer that asks to be called again later (API Priority and Fairness rejecting a call while the
# API server is overloaded: 429 with Retry-After) is waited for and sent again, as client-go does: at
# most RETRY_ATTEMPTS calls in all, each wait as long as Retry-After says but at most RETRY_AFTER_MAX
# seconds. Without it each refused write failed its Performer's reconcile, which then wrote a status
# and an Event more to the overloaded server and was retried with back-off (40 Performers created at
# once under a policy shedding pod creates: 54 failed reconciles, 18 ReconcileFailed Events).
RETRY_ATTEMPTS = 10
RETRY_AFTER_MAX = 10.0

# Failures that mean the server closed a kept-alive connection before reading the request: the request
# is sent again once on a new connection.
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def retry_wait(status: int, retry_after: str | None, attempt: int) -> float | None:
    """Seconds to wait before sending again a call whose `attempt`-th answer was `status` with the
    Retry-After header `retry_after` (None: do not send it again). Only a 429 or a 5xx that says when
    to retry is retried: the API server did not carry such a call out, whatever its method."""
    if attempt >= RETRY_ATTEMPTS or retry_after is None or (status != 429 and status < 500):
        return None
    try:
        seconds = int(retry_after.strip())  # the API server sends whole seconds (an HTTP date: no retry)
    except ValueError:
        return None
    return float(min(max(seconds, 0), RETRY_AFTER_MAX))


def authorization_of(configuration: Any) -> str | None:
    """The Authorization header a kubernetes.client.Configuration sends now (a kubeconfig or service
    account token is stored as BearerToken; asking for it refreshes an expired one)."""
    return (configuration.auth_settings().get("BearerToken") or {}).get("value")


def settings_of(configuration: Any, user_agent: str = USER_AGENT) -> dict[str, Any] | None:
    """The connection of a kubernetes.client.Configuration as plain data, with the User-Agent to send,
    or None when it needs something this client does not do (a proxy)."""
    if getattr(configuration, "proxy", None):
        return None
    return {
        "host": configuration.host,
        "ca_file": configuration.ssl_ca_cert,
        "cert_file": configuration.cert_file,
        "key_file": configuration.key_file,
        "verify": bool(configuration.verify_ssl),
        "server_name": getattr(configuration, "tls_server_name", None),
        "authorization": authorization_of(configuration),
        "user_agent": user_agent,
    }


def write_settings(path: str, settings: dict[str, Any]) -> None:
    """Writes `settings` to `path`, readable by the owner only (it may hold a bearer token)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(settings, file)


class RestClient:
    """One HTTPS (or HTTP) connection per thread to the API server; `send` makes one call. With
    `authorization`, each call asks it for the Authorization header (a long-lived client whose token
    is refreshed), instead of sending the one in `settings`."""

    def __init__(
        self,
        settings: dict[str, Any],
        timeout: float = 60,
        authorization: Callable[[], str | None] | None = None,
    ) -> None:
        url = urlsplit(settings["host"])
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname or "localhost", url.port
        self._base = url.path.rstrip("/")
        self._authorization = authorization or (lambda: settings.get("authorization"))
        self._timeout = timeout
        self._context = self._ssl_context(settings) if self._https else None
        self._server_name = settings.get("server_name") or None
        self._user_agent = settings.get("user_agent") or USER_AGENT
        self._local = threading.local()

    @classmethod
    def from_file(cls, path: str) -> RestClient:
        with open(path, encoding="utf-8") as file:
            return cls(json.load(file))

    @staticmethod
    def _ssl_context(settings: dict[str, Any]) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=settings.get("ca_file"))
        if not settings.get("verify", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if settings.get("cert_file"):
            context.load_cert_chain(settings["cert_file"], settings.get("key_file"))
        return context

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None or fresh:
            if connection is not None:
                connection.close()
            if self._https:
                connection = _SniConnection(self._host, self._port, self._server_name,
                                            timeout=self._timeout, context=self._context)  # fmt: skip
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def send(self, method: str, path: str, query: list | None, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes, str | None]:  # fmt: skip
        """One call; returns the HTTP status, the raw response body and its Retry-After header."""
        target = self._base + quote(path, safe="/:@")
        if query:
            target += "?" + urlencode(query)
        headers = {"User-Agent": self._user_agent, **headers}
        authorization = self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None) is not None
            connection = self._connection(fresh=attempt == 2)
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read(), response.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as error:
                # Whatever failed, this connection is not used again: after a failure mid-call it would
                # refuse every later request (CannotSendRequest), and the runner loop's client lives on.
                connection.close()
                self._local.connection = None
                if attempt == 2 or not reused or not isinstance(error, _STALE_CONNECTION):
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


class _SniConnection(http.client.HTTPSConnection):
    """An HTTPS connection that checks the server against `server_name` when the kubeconfig sets
    tls-server-name (the address it connects to stays the server's)."""

    def __init__(self, host: str, port: int | None, server_name: str | None, **options: Any) -> None:
        super().__init__(host, port, **options)
        self._server_name = server_name

    def connect(self) -> None:
        if not self._server_name:
            return super().connect()
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)
