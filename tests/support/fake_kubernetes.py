"""`FakePerformerApi`: a scripted stand-in for the Kubernetes API server's Performer endpoints, over
real HTTP on loopback (aiohttp), for unit tests of the executor's watch and backend: the real
kubernetes_asyncio client talks to it, so requests, streaming and status codes are the real ones.

It keeps Performers by name (list, get, create, delete answer from them) and serves each watch
request with the next `Stream` the test queued: its events as JSON lines (or raw byte chunks), then
either the end of the response (the server-side timeout) or, with `hold`, an open response until the
client goes away. A watch request with no stream queued waits for one. Every request's query is
recorded; `watching` is set while a watch request is being served, `read` once a Performer was read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

GROUP, VERSION, PLURAL = "hourglass.eigenlayer.io", "v1alpha1", "performers"


@dataclass
class Stream:
    events: list[dict[str, Any] | bytes] = field(default_factory=list)
    status: int = 200  # another status answers the request with a Status of that code instead
    message: str = ""
    hold: bool = False


def performer(name: str, uid: str = "", rv: str = "1", status: dict | None = None, **spec: Any) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Performer",
        "metadata": {"name": name, "uid": uid or f"uid-{name}", "resourceVersion": rv, "generation": 1},
        "spec": {"avsAddress": "0x0", "image": "img:v1", "config": {"grpcPort": 8080}, **spec},
        "status": status or {},
    }


def status_body(code: int, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


class FakePerformerApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.list_version = "1"
        self.list_failures: list[tuple[int, str]] = []  # answers for the next list requests
        self.create_refusals: list[tuple[int, str | None]] = []  # (status, Retry-After) for the next creates
        self.create_requests = 0
        self.streams: asyncio.Queue[Stream] = asyncio.Queue()
        self.requests: list[dict[str, str]] = []
        self.authorizations: list[str] = []  # the Authorization header of each list or watch request
        self.watching = asyncio.Event()
        self.read = asyncio.Event()  # set once a Performer was read (GET by name)
        self.watch_requests = 0
        self._watch_arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}"
        app.router.add_get(base, self._collection)
        app.router.add_post(base, self._create)
        app.router.add_get(base + "/{name}", self._get)
        app.router.add_delete(base + "/{name}", self._delete)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def client(self) -> ApiClient:
        return ApiClient(Configuration(host=f"http://127.0.0.1:{self.port}"))

    async def until_watches(self, count: int) -> None:
        """Returns once `count` watch requests arrived."""
        while True:
            self._watch_arrived.clear()
            if self.watch_requests >= count:
                return
            await self._watch_arrived.wait()

    def watch_queries(self) -> list[dict[str, str]]:
        return [query for query in self.requests if query.get("watch") in ("true", "True")]

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(query)
        self.authorizations.append(request.headers.get("Authorization", ""))
        if query.get("watch") not in ("true", "True"):
            if self.list_failures:
                code, message = self.list_failures.pop(0)
                return web.json_response(status_body(code, message), status=code)
            items = list(self.objects.values())
            return web.json_response({"items": items, "metadata": {"resourceVersion": self.list_version}})
        self.watch_requests += 1
        self._watch_arrived.set()
        self.watching.set()
        try:
            stream = await self.streams.get()
            if stream.status != 200:
                return web.json_response(status_body(stream.status, stream.message), status=stream.status)
            response = web.StreamResponse()
            response.content_type = "application/json"
            await response.prepare(request)
            for event in stream.events:
                await response.write(
                    event if isinstance(event, bytes) else json.dumps(event).encode() + b"\n"
                )
            if stream.hold:
                await asyncio.Event().wait()  # until the client closes the connection
            return response
        finally:
            self.watching.clear()

    async def _get(self, request: web.Request) -> web.Response:
        self.read.set()
        obj = self.objects.get(request.match_info["name"])
        if obj is None:
            return web.json_response(status_body(404, "not found"), status=404)
        return web.json_response(obj)

    async def _create(self, request: web.Request) -> web.Response:
        self.create_requests += 1
        if self.create_refusals:
            code, wait = self.create_refusals.pop(0)
            headers = {"Retry-After": wait} if wait is not None else None
            return web.json_response(status_body(code, "too many requests"), status=code, headers=headers)
        body = await request.json()
        name = body["metadata"]["name"]
        body["metadata"].update(uid=f"uid-{name}", resourceVersion="1", generation=1)
        self.objects[name] = body
        return web.json_response(body, status=201)

    async def _delete(self, request: web.Request) -> web.Response:
        obj = self.objects.pop(request.match_info["name"], None)
        if obj is None:
            return web.json_response(status_body(404, "not found"), status=404)
        return web.json_response(obj)


def event(kind: str, obj: dict) -> dict:
    return {"type": kind, "object": obj}


def bookmark(rv: str) -> dict:
    return {"type": "BOOKMARK", "object": {"kind": "Performer", "metadata": {"resourceVersion": rv}}}


def gone(message: str = "too old resource version") -> dict:
    return {"type": "ERROR", "object": status_body(410, message)}
