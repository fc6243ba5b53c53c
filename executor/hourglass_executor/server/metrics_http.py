"""The HTTP server of `/metrics` (config `metricsPort`; 0: none), on the executor's event loop
(aiohttp, already a dependency through kubernetes_asyncio). Any other path is 404.

A port that cannot be bound stops the start with `metricsPort: cannot listen on <address>: <why>`,
like the gRPC ports (`grpcPort`, `managementServerGrpcPort`).
"""

from __future__ import annotations

from aiohttp import web

from hourglass_executor.metrics import CONTENT_TYPE, ExecutorMetrics
from hourglass_executor.server.listen import listen_error


class MetricsServer:
    def __init__(self, metrics: ExecutorMetrics, port: int, host: str) -> None:
        self._metrics = metrics
        self._port = port
        # Every address, as the gRPC servers' "[::]": None (asyncio would bind "::" as IPv6 only).
        self._host: str | None = None if host.strip("[]") in ("::", "0.0.0.0", "") else host.strip("[]")
        self._runner: web.AppRunner | None = None
        self.bound_port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise listen_error("metricsPort", f"{self._host or '[::]'}:{self._port}", error) from None
        self._runner = runner
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        response = web.Response(body=self._metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response
