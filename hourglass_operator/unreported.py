"""What the runner loop does for a custom resource its ansible run reported nothing about (the run
failed before the status task, was cancelled, or its module died): say so where `kubectl describe`
shows it, and never let a finalizer hang on a run that cannot finish.

- `Warnings` records a Warning Event on the resource once per distinct reason (a retry that fails
  the same way adds nothing), so a Performer stuck in back-off is not silent.
- `delete_children` deletes a deleted Performer's Pod and Service directly and says which are still
  there. The role's finalizer run does nothing else, so once both are gone the loop may release the
  finalizer itself; a Performer whose every run fails is then still deleted, instead of staying
  Terminating for ever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from hourglass_operator.informer import Obj, object_key

log = logging.getLogger(__name__)


def delete_children(
    core: kubernetes.client.CoreV1Api, namespace: str, name: str, kinds: Collection[str] = ("pod", "service")
) -> list[str]:
    """Deletes Pod and Service `performer-<name>` of `kinds` ("pod", "service"; in the background,
    like the role) and returns the kinds still present afterwards (a pod with a grace period, say).
    API errors propagate."""
    child = contract.child_name(name)
    calls = {
        "Pod": (core.delete_namespaced_pod, core.read_namespaced_pod),
        "Service": (core.delete_namespaced_service, core.read_namespaced_service),
    }
    remaining = []
    for kind, (delete, read) in calls.items():
        if kind.lower() not in kinds:
            continue
        try:
            delete(child, namespace, propagation_policy="Background", _preload_content=False)
            read(child, namespace, _preload_content=False)
            remaining.append(kind)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
    return remaining


def describe(error: Exception) -> str:
    """What a log may say of `error`: an API error's reason (its body may hold the object), else its
    type and text."""
    if isinstance(error, kubernetes.client.ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"


class Warnings:
    """Warning Events about resources, each reason recorded once until `clear`."""

    def __init__(
        self, core: kubernetes.client.CoreV1Api, component: str = contract.DEFAULT_FIELD_MANAGER
    ) -> None:
        self.core = core
        self.component = component
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def warn(self, cr: Obj, reason: str, message: str) -> None:
        """Records the Event unless the last one recorded for `cr` said the same; best effort: a
        failure is logged (the log says it too), and the next warning of the same tries again."""
        key = object_key(cr)
        with self._lock:
            if self._last.get(key) == message:
                return
        meta = cr["metadata"]
        now = contract.now()
        event = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": cr.get("apiVersion"), "kind": cr.get("kind"), "name": meta["name"],
                "namespace": meta["namespace"], "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": "Warning", "reason": reason, "message": message[:1024],
            "source": {"component": self.component}, "reportingComponent": self.component,
            "reportingInstance": self.component, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }  # fmt: skip
        try:
            self.core.create_namespaced_event(meta["namespace"], event)
        except Exception as error:  # an API error, or none at all (a reset): never the caller's failure
            log.warning("could not record an Event: %s", describe(error), extra={"key": key})
            return
        with self._lock:
            self._last[key] = message

    def clear(self, key: str) -> None:
        with self._lock:
            self._last.pop(key, None)
