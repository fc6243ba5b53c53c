"""A fake Kubernetes API server over plain HTTP on loopback, for unit tests of the executor's start-up
checks (`performers/kubernetes/access.py`): API discovery of the Performer group, the two
self-reviews (access: allowed for the verbs in `allowed`; who am I: `username`) and an empty list
of Performers. Anything else (any method) is a 404. `kubeconfig(path)` writes a kubeconfig pointing at it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

GROUP, VERSION = "hourglass.eigenlayer.io", "v1alpha1"
ALL_VERBS = {"create", "delete", "get", "list", "watch"}


class FakeKubeServer:
    def __init__(self, *, serves_performers: bool = True, allowed: set[str] | None = None) -> None:
        self.serves_performers = serves_performers
        self.allowed = ALL_VERBS if allowed is None else allowed
        self.username = "system:serviceaccount:avs:executor"
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKubeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        if method == "GET" and path == f"/apis/{GROUP}/{VERSION}":
            if not self.serves_performers:
                return 404, {"kind": "Status", "message": "the server could not find the requested resource"}
            resources = [{"name": "performers", "namespaced": True, "kind": "Performer", "verbs": []}]
            return 200, {
                "kind": "APIResourceList",
                "groupVersion": f"{GROUP}/{VERSION}",
                "resources": resources,
            }
        if method == "POST" and path.endswith("/selfsubjectaccessreviews"):
            verb = body["spec"]["resourceAttributes"]["verb"]
            return 201, {**body, "status": {"allowed": verb in self.allowed}}
        if method == "POST" and path.endswith("/selfsubjectreviews"):
            return 201, {**body, "status": {"userInfo": {"username": self.username}}}
        if method == "GET" and path.startswith(f"/apis/{GROUP}/{VERSION}/namespaces/"):
            return 200, {"kind": "PerformerList", "metadata": {"resourceVersion": "1"}, "items": []}
        return 404, {"kind": "Status", "message": "not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, answer = fake._answer(self.command, self.path.split("?")[0], body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
