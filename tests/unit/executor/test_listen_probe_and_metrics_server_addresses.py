"""The bind probe reports only a taken or privileged port; the metrics server binds every address."""

from __future__ import annotations

import asyncio
import errno
import socket
import urllib.request

import pytest
from hourglass_executor.metrics import ExecutorMetrics
from hourglass_executor.server.listen import bind_problem
from hourglass_executor.server.metrics_http import MetricsServer

from tests.support.ports import free_port

pytestmark = pytest.mark.unit


def test_a_port_taken_on_a_bracketed_host_is_reported_in_use() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.bind(("::1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = bind_problem("[::1]", port)
    assert problem is not None and problem.errno == errno.EADDRINUSE


def test_an_address_not_of_this_machine_is_left_to_the_server() -> None:
    assert bind_problem("192.0.2.1", 0) is None  # TEST-NET-1: EADDRNOTAVAIL, not the probe's to report


def test_a_port_whose_last_connection_lingers_in_time_wait_is_free() -> None:
    """A restarted executor's port: its old server (SO_REUSEADDR, as gRPC's) left a TIME_WAIT connection."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server's side closes first: it is the side left in TIME_WAIT
            assert client.recv(1) == b""
    assert bind_problem("127.0.0.1", port) is None


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


async def served_metrics(port: int, host: str) -> tuple[int, str]:
    server = MetricsServer(ExecutorMetrics(), port, host)
    await server.start()
    try:
        return server.bound_port, await asyncio.to_thread(metrics_text, server.bound_port)
    finally:
        await server.stop()


@pytest.mark.parametrize("host", ["[::]", "::", "0.0.0.0", ""])
def test_the_metrics_server_on_every_address_answers_on_ipv4_loopback(host: str) -> None:
    port = free_port()
    bound, text = asyncio.run(served_metrics(port, host))
    assert bound == port
    assert "# TYPE" in text


def test_the_metrics_server_on_port_0_reports_the_port_it_was_given() -> None:
    bound, text = asyncio.run(served_metrics(0, "127.0.0.1"))
    assert bound != 0  # metrics_text reached it there
    assert "# TYPE" in text
