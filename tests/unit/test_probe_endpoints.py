"""/healthz and /readyz answer 503 while their check fails (else the kubelet never restarts a stuck
operator, nor keeps a syncing one out of service), 200 once it passes; a query string does not hide a
route; an unknown path is 404."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from hourglass_operator import health

pytestmark = pytest.mark.unit


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_probe_fails_while_its_check_fails_and_passes_once_it_passes():
    ready = threading.Event()
    server = health.serve("127.0.0.1:0", {"/readyz": health.check(ready.is_set)})
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert _get(base + "/readyz") == (503, b"not ready\n")
        ready.set()
        assert _get(base + "/readyz") == (200, b"ok\n")
        assert _get(base + "/readyz?verbose=1") == (200, b"ok\n")
        assert _get(base + "/nothing")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
