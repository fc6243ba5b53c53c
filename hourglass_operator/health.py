"""HTTP endpoints for probes and scraping: /healthz (the loop's threads are alive), /readyz (every
informer finished its first list) and /metrics (Prometheus text format)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


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

    server = ThreadingHTTPServer(_split(address), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"http {address}", daemon=True).start()
    return server


def check(ok: Callable[[], bool]) -> Callable[[], tuple[int, str, bytes]]:
    return lambda: (200, "text/plain", b"ok\n") if ok() else (503, "text/plain", b"not ready\n")


def metrics_route() -> tuple[int, str, bytes]:
    return 200, CONTENT_TYPE_LATEST, generate_latest()
