"""The watched kind's finalizer on a custom resource: added before its children exist, removed once
a finalizer run (or the loop itself) confirmed they are gone. Each change is a JSON patch guarded by
a test of the finalizers it changes (of the resourceVersion when there are none yet), so a status
written meanwhile — the finalizer run writes one just before the finalizer is removed — does not
make it conflict; when another client changed the finalizers, the object is read again and the change
retried, a few times. A resource that is gone needs no finalizer change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    api_message,
    custom_object_path,
    request,
)

from hourglass_operator.informer import Obj, object_key

log = logging.getLogger(__name__)

ATTEMPTS = 3
JSON_PATCH = "application/json-patch+json"


def carries(cr: Obj, finalizer: str | None) -> bool:
    """Whether `cr` carries `finalizer` (never, when the watch has none)."""
    return bool(finalizer) and finalizer in (cr["metadata"].get("finalizers") or [])


def guarded_patch(cr: Obj, current: list[str], wanted: list[str]) -> list[dict]:
    """The JSON patch that sets the finalizers of `cr` from `current` to `wanted`, applied only while
    they are still `current`."""
    if current:
        guard = {"op": "test", "path": "/metadata/finalizers", "value": current}
        return [guard, {"op": "replace", "path": "/metadata/finalizers", "value": wanted}]
    guard = {"op": "test", "path": "/metadata/resourceVersion", "value": cr["metadata"]["resourceVersion"]}
    return [guard, {"op": "add", "path": "/metadata/finalizers", "value": wanted}]


class Finalizers:
    def __init__(self, client: Any, *, group: str, version: str, plural: str, name: str) -> None:
        """`client`: what `hourglass_kube.request` calls with (`startup.calls_client`)."""
        self.client = client
        self.group, self.version, self.plural, self.name = group, version, plural, name

    def add(self, cr: Obj) -> Obj | None:
        """`cr` as updated with the finalizer added, or None when that failed."""
        return self._patch(cr, lambda current: current if self.name in current else [*current, self.name])

    def remove(self, cr: Obj) -> Obj | None:
        """`cr` as updated with the finalizer removed, or None when that failed."""
        return self._patch(cr, lambda current: [f for f in current if f != self.name])

    def _patch(self, cr: Obj, change: Callable[[list[str]], list[str]]) -> Obj | None:
        """Sets the finalizers to `change(current finalizers)`."""
        path = custom_object_path(self.group, self.version, self.plural, cr["metadata"])
        for _ in range(ATTEMPTS):
            current = list(cr["metadata"].get("finalizers") or [])
            wanted = change(current)
            if wanted == current:
                return cr
            status, body = request(
                self.client, "PATCH", path, body=guarded_patch(cr, current, wanted), content_type=JSON_PATCH
            )
            if status < 300:
                return body
            if status in (409, 422):  # 422: a test failed, the finalizers changed meanwhile
                status, body = request(self.client, "GET", path)
                if status < 300:
                    cr = body
                    continue
            if status != 404:
                message = api_message(body)
                log.warning(
                    "finalizer update failed: HTTP %s %s", status, message, extra={"key": object_key(cr)}
                )
            return None
        return None
