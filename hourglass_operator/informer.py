"""List+watch of one resource (optionally one namespace and a label selector) into an in-memory
cache, calling a handler for every change.

It lists, then watches from the list's resourceVersion with bookmarks; when a watch ends or breaks
off it resumes from the last resourceVersion seen; on 410 Gone it lists again (and reports objects
that vanished in between as deleted); on API or network errors it backs off (0.5 s doubling to 5 s:
the end of an API server outage is noticed within 5 s, and three watches per namespace retrying
every 5 s cost it nothing), and says so as watch_failures.py does (once a minute for a failure that
lasts). Objects are plain dicts decoded from the API's JSON (no client models: cheaper, and what the
role receives).

The cache holds each object pickled, without metadata.managedFields: a sixth of the memory of the
decoded dicts (a Pod is about 2.6 kB pickled against 16 kB of dicts; at 1000 Performers the three
caches hold about 5 MB instead of 28 MB). Every read unpickles a fresh copy, so what a caller does with
it never changes the cache. Pickle rather than JSON: it is several times faster to write and faster to
read, and these bytes never leave the process (nothing unpickled here came from anywhere else).
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
from collections.abc import Callable
from typing import Any

import kubernetes

from hourglass_operator.watch_failures import FailureReport

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[str, Obj | None, Obj | None], None]  # (event type, old, new)
WATCH_TIMEOUT_SECONDS = 300
MAX_BACKOFF_SECONDS = 5.0


def _newer_or_same(candidate: Obj, current: Obj) -> bool:
    """resourceVersions are opaque; etcd's are integers, which is all this comparison relies on."""
    try:
        return int(candidate["metadata"]["resourceVersion"]) >= int(current["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return True


class GoneError(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


def _slim(obj: Obj) -> Obj:
    """`obj` without metadata.managedFields (a shallow copy when it has them; `obj` is left as it is):
    nobody here reads them, and they are often half of an object that is cached, and handed to
    Ansible for every reconcile."""
    metadata = obj.get("metadata")
    if not metadata or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


def _freeze(obj: Obj) -> bytes:
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


_thaw = pickle.loads


def object_key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Informer:
    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        path: str,
        handler: Handler,
        *,
        label_selector: str = "",
        name: str = "",
        stop: threading.Event,
    ) -> None:
        self._api = api
        self._path = path
        self._handler = handler
        self._selector = label_selector
        self._stop = stop
        self.name = name or path
        self._cache: dict[str, bytes] = {}  # object key -> the object, slimmed and pickled
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._resource_version: str | None = None  # where the next watch starts; None: list first
        self._failures = FailureReport(self.name)
        self._thread = threading.Thread(target=self._run, name=f"informer {self.name}", daemon=True)

    # --- public -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def get(self, key: str) -> Obj | None:
        with self._lock:
            frozen = self._cache.get(key)
        return None if frozen is None else _thaw(frozen)

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def list(self) -> list[Obj]:
        with self._lock:
            everything = list(self._cache.values())
        return [_thaw(frozen) for frozen in everything]

    def update(self, obj: Obj) -> None:
        """Record an object the caller just wrote, unless the cache already holds a newer one. Only
        the watch adds and removes keys: an object whose deletion the watch delivered while the
        caller was writing it (removing its finalizer does delete it) must not come back, since no
        event would ever remove it again."""
        key, frozen = object_key(obj), _freeze(_slim(obj))
        with self._lock:
            current = self._cache.get(key)
            if current is not None and _newer_or_same(obj, _thaw(current)):
                self._cache[key] = frozen

    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- internals ----------------------------------------------------------------------------

    def _request(self, params: dict[str, Any], timeout: float) -> Any:
        """GET the resource path; returns the raw urllib3 response (streamed for watches)."""
        query = [(k, v) for k, v in params.items() if v not in (None, "")]
        if self._selector:
            query.append(("labelSelector", self._selector))
        method, url, headers, _, _ = self._api.param_serialize(
            "GET", self._path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self._api.call_api(method, url, header_params=headers, _request_timeout=timeout)
        if response.status >= 400:
            raise kubernetes.client.ApiException(
                status=response.status, reason=response.reason, body=response.read()
            )
        self._failures.succeeded()  # a watch that works again says so when it starts, not when it ends
        return response.response

    def _list(self) -> str:
        response = self._request({"resourceVersion": "0" if not self._synced.is_set() else None}, 60)
        body = json.loads(response.data)
        items = {object_key(item): _slim(item) for item in body.get("items") or []}
        kind = body.get("kind", "List").removesuffix("List")
        api_version = body.get("apiVersion", "v1")
        for item in items.values():  # list items carry no kind/apiVersion
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        with self._lock:
            old = self._cache
            self._cache = {key: _freeze(item) for key, item in items.items()}
        for key, item in items.items():
            previous = _thaw(old[key]) if key in old else None
            if previous is None:
                self._handler("ADDED", None, item)
            elif previous["metadata"].get("resourceVersion") != item["metadata"].get("resourceVersion"):
                self._handler("MODIFIED", previous, item)
        for key in old.keys() - items.keys():
            self._handler("DELETED", _thaw(old[key]), None)
        self._synced.set()
        return body["metadata"]["resourceVersion"]

    def _watch(self) -> None:
        """Watches from `_resource_version`, advancing it with every event handled, so that a watch
        that breaks off (a reset connection, an error event) resumes after the last one: resuming
        from where it began would replay events the cache already has."""
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self._resource_version,
            "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS),
        }
        response = self._request(params, WATCH_TIMEOUT_SECONDS + 30)
        buffer = b""
        try:
            for chunk in response.stream(65536, decode_content=True):
                if self._stop.is_set():
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._resource_version = self._dispatch(json.loads(line), self._resource_version)
        finally:
            response.release_conn()

    def _dispatch(self, event: Obj, resource_version: str) -> str:
        kind, obj = event.get("type"), _slim(event.get("object") or {})
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise GoneError(obj.get("message", "resource version too old"))
            raise kubernetes.client.ApiException(status=obj.get("code"), reason=obj.get("message"))
        new_version = obj.get("metadata", {}).get("resourceVersion", resource_version)
        if kind == "BOOKMARK":
            return new_version
        key = object_key(obj)
        if kind == "DELETED":
            with self._lock:
                frozen_old = self._cache.pop(key, None)
            # Not cached (a replayed deletion): the handler still gets what was deleted.
            self._handler(kind, obj if frozen_old is None else _thaw(frozen_old), None)
            return new_version
        frozen = _freeze(obj)  # outside the lock: readers need not wait for it
        with self._lock:
            frozen_old = self._cache.get(key)
            old = None if frozen_old is None else _thaw(frozen_old)
            if old is not None and not _newer_or_same(obj, old):
                # Older than an object this process wrote and recorded itself (`update`): the cache
                # keeps the newer one, and the event tells the process nothing it does not know.
                return new_version
            self._cache[key] = frozen
        self._handler(kind, old, obj)
        return new_version

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._resource_version is None:
                    self._resource_version = self._list()
                self._watch()
                backoff = 0.5
            except GoneError as error:
                log.info("watch expired, listing again", extra={"informer": self.name, "reason": str(error)})
                self._resource_version = None
            except Exception as error:  # network, API or decoding errors: back off and retry
                if self._stop.is_set():
                    break
                self._failures.failed(error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                if isinstance(error, kubernetes.client.ApiException) and error.status == 410:
                    self._resource_version = None
