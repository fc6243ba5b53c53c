"""The watched kind's finalizer on a custom resource: added before its children exist, removed once
a finalizer run (or the loop itself) confirmed they are gone. Each change is a JSON patch guarded by
a test of the finalizers it changes (of the resourceVersion when there are none yet), so a status
written meanwhile — the finalizer run writes one just before the finalizer is removed — does not
make it conflict; when another client changed the finalizers, the object is read again and the change
retried, a few times. A resource that is gone needs no finalizer change. A change that fails says why
(`Failure`): the API server's status and message, or the connection's error, so that only that
resource backs off, whatever else its batch does."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    api_message,
    custom_object_path,
    request,
)

from hourglass_operator.informer import Obj, object_key

log = logging.getLogger(__name__)

ATTEMPTS = 3
JSON_PATCH = "application/json-patch+json"
# A call that got no answer: the small HTTPS client's (a reset, a timeout), the Kubernetes client's.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


@dataclass(frozen=True)
class Failure:
    """Why a finalizer change failed: the API server's HTTP status and message, or (status 0) the
    error of a call that got no answer."""

    status: int
    message: str

    def __str__(self) -> str:
        if not self.status:
            return self.message
        return f"HTTP {self.status}: {self.message}" if self.message else f"HTTP {self.status}"


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

    def add(self, cr: Obj) -> Obj | Failure:
        """`cr` as updated with the finalizer added, or why that failed."""
        return self._patch(cr, lambda current: current if self.name in current else [*current, self.name])

    def remove(self, cr: Obj) -> Obj | Failure:
        """`cr` as updated with the finalizer removed, or why that failed."""
        return self._patch(cr, lambda current: [f for f in current if f != self.name])

    def _patch(self, cr: Obj, change: Callable[[list[str]], list[str]]) -> Obj | Failure:
        """Sets the finalizers to `change(current finalizers)`."""
        path = custom_object_path(self.group, self.version, self.plural, cr["metadata"])
        failure, sent = Failure(0, "no attempt"), None
        for _ in range(ATTEMPTS):
            current = list(cr["metadata"].get("finalizers") or [])
            wanted = change(current)
            if wanted == current:
                return cr
            patch = guarded_patch(cr, current, wanted)
            if failure.status == 422 and patch == sent:
                break  # what the test guards is unchanged: the change itself was refused (a schema, a policy)
            sent = patch
            try:
                status, body = request(self.client, "PATCH", path, body=patch, content_type=JSON_PATCH)
                if status < 300:
                    return body
                failure = Failure(status, api_message(body))
                if status not in (409, 422):  # 422: a test failed, the finalizers changed meanwhile
                    break
                status, body = request(self.client, "GET", path)
            except TRANSPORT_ERRORS as error:
                failure = Failure(0, f"{type(error).__name__}: {error}")
                break
            if status >= 300:
                failure = Failure(status, api_message(body))
                break
            cr = body
        if failure.status != 404:  # gone: it needs no finalizer change
            log.warning("finalizer update failed: %s", failure, extra={"key": object_key(cr)})
        return failure
