"""Custom resources whose last reconcile a ResourceQuota refused, and the quota changes that may let
them through.

A pod or Service the API server refuses for a quota ("exceeded quota", "failed quota", "status unknown
for quota") fails the reconcile, which is retried with back-off: after a few failures, minutes apart.
The quota is raised, or another pod of the namespace goes, and the performer would stay down until
its next retry. So the loop watches the ResourceQuotas of its namespaces (when it may list and watch
them) and retries those resources at once when a quota of their namespace may have made room: its
status (what the API server's admission checks) allows more, or uses less, or the quota is deleted.
A quota created, or one whose spec alone changed (the quota controller then updates its status: that
is the event that counts), makes no room.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from kubernetes.utils import parse_quantity

from hourglass_operator.informer import Obj

# What the API server's ResourceQuota admission says when it refuses an object.
REFUSALS = ("exceeded quota", "failed quota", "status unknown for quota")


def refused_by_quota(error: str | None) -> bool:
    return bool(error) and any(refusal in error for refusal in REFUSALS)


def _quantity(value: object) -> Decimal | None:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return None


def _loosened(before: dict[str, object], after: dict[str, object], *, larger_is_looser: bool) -> bool:
    """Whether some resource in `after` compared with `before` gives more room: a limit raised or gone
    (`larger_is_looser`), a usage lowered or gone (not). Values that are not quantities count as
    room when they changed."""
    for resource, old in before.items():
        if resource not in after:
            return True
        new = after[resource]
        old_q, new_q = _quantity(old), _quantity(new)
        if old_q is None or new_q is None:
            if old != new:
                return True
        elif (new_q > old_q) if larger_is_looser else (new_q < old_q):
            return True
    return False


def may_make_room(event: str, old: Obj | None, new: Obj | None) -> bool:
    """Whether the ResourceQuota event (an informer's: ADDED, MODIFIED or DELETED) may let through
    what the quota refused before."""
    if event == "DELETED":
        return True
    if event != "MODIFIED" or old is None or new is None:
        return False
    before, after = old.get("status") or {}, new.get("status") or {}
    return _loosened(before.get("hard") or {}, after.get("hard") or {}, larger_is_looser=True) or _loosened(
        before.get("used") or {}, after.get("used") or {}, larger_is_looser=False
    )


class QuotaWaits:
    """The keys (namespace/name) whose last reconcile a quota refused."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def settled(self, key: str, error: str | None) -> None:
        """Records the outcome of a reconcile of `key`: waiting when a quota refused it, else not."""
        with self._lock:
            if refused_by_quota(error):
                self._keys.add(key)
            else:
                self._keys.discard(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def in_namespace(self, namespace: str) -> list[str]:
        prefix = f"{namespace}/"
        with self._lock:
            return sorted(k for k in self._keys if k.startswith(prefix))
