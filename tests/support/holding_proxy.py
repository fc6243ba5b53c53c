"""A TCP proxy for tests that can stop delivering the server's answers: after `hold()` it still
forwards what the client sends but drops what the server sends back — to both ends, what a network
that loses the answers looks like (the server has answered; the client never hears it). When either
side closes, the other is closed too. It runs on the caller's event loop, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib


class HoldingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.held = False
        self.dropped_bytes = 0

    async def start(self) -> int:
        """Listens on a free port of 127.0.0.1 and returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def hold(self) -> None:
        """From now on, drop the server's bytes instead of forwarding them."""
        self.held = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self._connections:
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self._pump(client_reader, server_writer, from_server=False),
                self._pump(server_reader, client_writer, from_server=True),
            )
        finally:
            self._connections.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_server: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if from_server and self.held:
                    self.dropped_bytes += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
