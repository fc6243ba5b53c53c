"""HTTP endpoints for probes and scraping: /healthz (the loop's threads are alive), /readyz (every
informer finished its first list) and /metrics (Prometheus text format).

An address without a host (":8081") listens on every address of both IP families: on an IPv6-only
cluster the kubelet probes the pod's IPv6 address, and a server on 0.0.0.0 would never answer it. A
host in brackets ("[::1]:8081") is an IPv6 address.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def split_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port", "[v6 address]:port", ":port" or a bare "port" (host ""); a
    ValueError when `address` has no port or one outside 0-65535."""
    if address.isdigit():
        address = ":" + address
    host, colon, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port) if colon and port.isdigit() else -1
    if not 0 <= number <= 65535:
        raise ValueError(f"{address}: not host:port with a port from 0 to 65535")
    return host, number


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _server(address: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    host, port = split_address(address)
    if host and ":" not in host:
        return ThreadingHTTPServer((host, port), handler)
    if host:
        return _IPv6Server((host, port), handler)
    try:  # every address of both families
        server = _IPv6Server(("::", port), handler, bind_and_activate=False)
    except OSError:  # a kernel without IPv6
        return ThreadingHTTPServer(("0.0.0.0", port), handler)
    try:
        server.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        server.server_bind()
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    return server


def serve(address: str, routes: dict[str, Callable[[], tuple[int, str, bytes]]]) -> ThreadingHTTPServer:
    """Serve `routes` (path -> (status, content type, body)) on `address` ("host:port") in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, content_type, body = route() if route else (404, "text/plain", b"not found\n")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # probes every few seconds are not news
            pass

    server = _server(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"http {address}", daemon=True).start()
    return server


def check(ok: Callable[[], bool]) -> Callable[[], tuple[int, str, bytes]]:
    return lambda: (200, "text/plain", b"ok\n") if ok() else (503, "text/plain", b"not ready\n")


def metrics_route() -> tuple[int, str, bytes]:
    return 200, CONTENT_TYPE_LATEST, generate_latest()
