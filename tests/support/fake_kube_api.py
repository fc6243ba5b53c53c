"""A fake Kubernetes REST API for unit tests of the collection's module_utils: answers the calls
`hourglass_kube.request` would make (method, path, query, body, content type) from an in-memory
store of objects by path, records every call, and can be told to answer one path with an error.
An update is passed through `admit` (what a mutating admission policy would make of it), and one
that leaves the object as it was writes nothing (its resourceVersion stays), as the API server does."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from tests.support.performers import with_changes

Obj = dict[str, Any]


def _as_written(obj: Obj) -> Obj:
    """What an update compares: the object without its resourceVersion and status (an update leaves
    the status alone), and without empty labels or annotations (the API server stores none)."""
    kept = {k: v for k, v in obj.items() if k != "status"}
    kept["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items()
                        if k != "resourceVersion" and (v or k not in ("labels", "annotations"))}  # fmt: skip
    return kept


class FakeKubeApi:
    def __init__(self, objects: dict[str, Obj] | None = None) -> None:
        self.objects: dict[str, Obj] = copy.deepcopy(objects or {})
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str, Any]] = []
        self.queries: list[tuple[str, str, dict]] = []
        self.errors: dict[tuple[str, str], list[tuple[int, Obj]]] = {}
        self.linger: dict[str, int] = {}  # path -> GETs that still find an object after its DELETE
        # What admission makes of an update: (path, body) -> the body written (a mutating policy)
        self.admit: Callable[[str, Obj], Obj] = lambda path, body: body
        self._version = 100
        self._lock = threading.Lock()

    def fail(
        self, method: str, path: str, status: int, message: str = "", times: int = 1, causes: tuple = ()
    ) -> None:
        """Answer the next `times` calls of `method` on `path` with `status` (a Status saying `message`,
        with the reasons `causes` in its details)."""
        answer: Obj = {"message": message}
        if causes:
            answer["details"] = {"causes": [{"reason": cause} for cause in causes]}
        self.errors.setdefault((method, path), []).extend([(status, answer)] * times)

    def __call__(
        self, method: str, path: str, *, query: list | None = None, body: Any = None, content_type: str = ""
    ) -> tuple[int, Any]:
        with self._lock:
            self.calls.append((method, path))
            self.bodies.append((method, path, copy.deepcopy(body)))
            self.queries.append((method, path, dict(query or [])))
            queued = self.errors.get((method, path))
            if queued:
                return queued.pop(0)
            return self._answer(method, path, dict(query or []), body, content_type)

    def _answer(self, method: str, path: str, query: dict, body: Any, content_type: str) -> tuple[int, Any]:
        if method == "GET":
            if self.linger.get(path):
                self.linger[path] -= 1
                return 200, {"metadata": {"name": path.rsplit("/", 1)[1]}}
            found = self.objects.get(path)
            return (200, copy.deepcopy(found)) if found else (404, {"message": "not found"})
        if method == "DELETE":
            if path not in self.objects:
                return 404, {"message": "not found"}
            uid = ((body or {}).get("preconditions") or {}).get("uid")
            if uid and uid != (self.objects[path].get("metadata") or {}).get("uid"):
                return 409, {
                    "message": f"Precondition failed: UID in precondition: {uid}",
                    "reason": "Conflict",
                }
            obj = copy.deepcopy(self.objects.get(path) if query.get("dryRun") else self.objects.pop(path))
            if self.linger.get(path) and not query.get("dryRun"):  # graceful: returned as terminating
                obj.setdefault("metadata", {})["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            return 200, obj
        if method == "POST" and path.endswith(("/pods", "/services", "/events")):  # kept: they are read
            meta = body["metadata"]
            target = f"{path}/{meta.get('name') or meta['generateName'] + 'x7k2q'}"  # as if generated
            if target in self.objects:
                return 409, {"message": f"{target} already exists", "reason": "AlreadyExists"}
            return 201, self._store(target, body, query)
        if method == "POST":
            return 201, copy.deepcopy(body)
        if method in ("PATCH", "PUT"):
            if path.endswith("/status"):
                target = self.objects.setdefault(path.removesuffix("/status"), {})
                target.update(copy.deepcopy(body))
                return 200, copy.deepcopy(target)
            if method == "PUT" and path in self.objects:
                admitted = self.admit(path, copy.deepcopy(body))
                if _as_written(admitted) == _as_written(self.objects[path]):  # nothing to write
                    return 200, copy.deepcopy(self.objects[path])
                return 200, self._store(path, admitted, query)
            if content_type == "application/merge-patch+json" and path in self.objects:
                merged = with_changes(self.objects[path], body)  # a JSON merge patch
                if merged == self.objects[path]:  # a patch that changes nothing writes nothing
                    return 200, copy.deepcopy(merged)
                return 200, self._store(path, merged, query)
            return 200, self._store(path, body, query)
        return 405, {"message": f"{method} not supported"}

    def _store(self, path: str, body: Obj, query: dict) -> Obj:
        """`body` with a new resourceVersion, stored at `path` unless it is a dry run."""
        obj = copy.deepcopy(body)
        self._version += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._version)
        if not query.get("dryRun"):
            self.objects[path] = obj
        return copy.deepcopy(obj)
