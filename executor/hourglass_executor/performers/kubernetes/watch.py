"""The executor's view of its Performers: one asyncio task lists and then watches the Performers
matching a label selector in one namespace (kubernetes_asyncio) into a cache, and wakes the
coroutines waiting for a change of one Performer.

The watch asks for bookmarks and resumes from the last resourceVersion it saw (an object's or a
bookmark's, recorded as each event is applied, so a request that breaks midway resumes after its
last event); when the API server answers 410 Gone (that version is too old) it lists again, and
Performers that vanished between the two lists count as deleted. Other API, network and decoding
errors are logged and retried after a doubling back-off (`BACKOFF_MIN` to `BACKOFF_MAX`), and so is
a watch request that ends within `SHORT_WATCH` without an event (a proxy that closes watches at
once), as client-go does; one watch request lasts `WATCH_SECONDS` on the server, then the next one
resumes. The readers (`get`, `was_deleted`, `until`) run on the same event loop as the task, so no
locking is needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from kubernetes_asyncio.client import ApiException, CustomObjectsApi

from hourglass_executor.kubernetes_api import api_message
from hourglass_executor.performers.kubernetes.resource import PLURAL, Obj

log = logging.getLogger(__name__)

T = TypeVar("T")

WATCH_SECONDS = 300  # server-side length of one watch request; the task then resumes
TOMBSTONES = 4096  # deleted Performers remembered, so that a late waiter still learns of a deletion
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
SHORT_WATCH = 1.0  # seconds: a watch request that ends sooner without an event is backed off, as an error


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


class _ShortWatch(Exception):
    """A watch request ended at once without an event: back off before the next one."""


class PerformerWatch:
    """List+watch of the Performers matching `label_selector` in `namespace`, as an asyncio task.

    Keeps the objects by name, remembers recently deleted ones (name → uid) and re-runs the
    conditions registered with `until` for a name whenever that Performer changes.
    """

    def __init__(
        self,
        custom: CustomObjectsApi,
        *,
        group: str,
        version: str,
        namespace: str,
        label_selector: str,
        connect_timeout: float,
    ) -> None:
        self._custom = custom
        self._where = (group, version, namespace, PLURAL)
        self._namespace = namespace
        self._selector = label_selector
        self._connect_timeout = connect_timeout
        self._objects: dict[str, Obj] = {}
        self._deleted: OrderedDict[str, str] = OrderedDict()
        self._waiters: dict[str, set[Callable[[], None]]] = {}
        self._synced = asyncio.Event()
        self._version: str | None = None  # where the next watch request resumes (None: list first)
        self._task: asyncio.Task[None] | None = None
        self.last_error = ""

    # --- readers ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"performer watch {self._namespace}"
            )

    async def wait_synced(self, timeout: float) -> bool:
        """Whether the first list completed (waiting at most `timeout` seconds for it)."""
        if not self._synced.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._synced.wait()
            except TimeoutError:
                return False
        return True

    def get(self, name: str) -> Obj | None:
        return self._objects.get(name)

    def was_deleted(self, name: str, uid: str = "") -> bool:
        """Whether the watch saw Performer `name` (with `uid`, when given) deleted."""
        deleted_uid = self._deleted.get(name)
        return deleted_uid is not None and (not uid or deleted_uid == uid)

    async def until(self, name: str, decide: Callable[[], T | None], timeout: float) -> T | None:
        """Evaluates `decide` now and after every change of Performer `name` until it returns
        something other than None (returned) or raises (raised); None after `timeout` seconds."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def poke() -> None:
            if future.done():
                return
            try:
                result = decide()
            except Exception as error:
                future.set_exception(error)
                return
            if result is not None:
                future.set_result(result)

        waiters = self._waiters.setdefault(name, set())
        waiters.add(poke)
        try:
            poke()
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            waiters.discard(poke)
            if not waiters and self._waiters.get(name) is waiters:
                del self._waiters[name]

    async def stop(self) -> None:
        """Ends the watch (its open request is closed, not waited out)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- the task --------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff, self._version = BACKOFF_MIN, None
        while True:
            try:
                if self._version is None:
                    self._version = await self._list()
                began = loop.time()
                if not await self._watch(self._version) and loop.time() - began < SHORT_WATCH:
                    raise _ShortWatch(f"the watch request ended within {SHORT_WATCH:g} s without an event")
                backoff = BACKOFF_MIN
            except _Expired:
                self._version = None
            except Exception as error:  # API, network or decoding errors: back off, then resume
                self.last_error = (
                    api_message(error) if isinstance(error, ApiException) else str(error) or repr(error)
                )
                log.warning("watching Performers failed, retrying in %.1f s: %s", backoff, self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _list(self) -> str:
        body = await self._custom.list_namespaced_custom_object(
            *self._where, label_selector=self._selector, _request_timeout=self._connect_timeout
        )
        objects = {item["metadata"]["name"]: item for item in body.get("items") or []}
        previous, self._objects = self._objects, objects
        for name in previous.keys() - objects.keys():
            self._remember_deleted(name, previous[name]["metadata"].get("uid", ""))
        self._synced.set()
        for name in previous.keys() | objects.keys():
            self._notify(name)
        return body["metadata"]["resourceVersion"]

    async def _watch(self, resource_version: str) -> int:
        """One watch request from `resource_version`; returns the number of events it delivered."""
        events = 0
        response = await self._custom.list_namespaced_custom_object(
            *self._where,
            label_selector=self._selector,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=WATCH_SECONDS,
            _preload_content=False,
            _request_timeout=(self._connect_timeout, WATCH_SECONDS + 30),
        )
        try:
            if response.status == 410:
                raise _Expired(await response.text())
            if not 200 <= response.status <= 299:
                raise _status_error(response.status, response.reason or "", await response.read())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._apply(json.loads(line))
                        events += 1
        finally:
            response.close()
        return events

    def _apply(self, event: Obj) -> None:
        """Applies one event to the cache and records its resourceVersion, the one to resume from."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired(obj.get("message", ""))
            raise ApiException(status=obj.get("code"), reason=obj.get("message"))
        metadata = obj.get("metadata") or {}
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            name = metadata["name"]
            if kind == "DELETED":
                self._objects.pop(name, None)
                self._remember_deleted(name, metadata.get("uid", ""))
            else:
                self._objects[name] = obj
                self._deleted.pop(name, None)
            self._notify(name)
        self._version = metadata.get("resourceVersion") or self._version

    def _remember_deleted(self, name: str, uid: str) -> None:
        self._deleted[name] = uid
        self._deleted.move_to_end(name)
        while len(self._deleted) > TOMBSTONES:
            self._deleted.popitem(last=False)

    def _notify(self, name: str) -> None:
        for poke in list(self._waiters.get(name, ())):
            poke()


def _status_error(status: int, reason: str, body: bytes) -> ApiException:
    """The ApiException for a watch request the API server refused (403, 404, ...)."""
    error = ApiException(status=status, reason=reason)
    error.body = body.decode(errors="replace")
    return error
