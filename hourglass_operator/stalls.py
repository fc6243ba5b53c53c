"""Custom resources whose last reconcile stalled: it failed in a way that only a change of the spec
can fix (the status says Stalled; an unknown gpuType, a derived name too long). Such a resource is
not retried with back-off, and the periodic resync skips it while its generation is the one that
stalled; a new generation (a spec change) queues it as any change does, and a success forgets it.
"""

from __future__ import annotations

import threading

from hourglass_operator.informer import Obj, object_key


def _generation(cr: Obj) -> int:
    return int(cr["metadata"].get("generation") or 0)


class Stalls:
    def __init__(self) -> None:
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, cr: Obj) -> None:
        with self._lock:
            self._generations[object_key(cr)] = _generation(cr)

    def clear(self, key: str) -> None:
        with self._lock:
            self._generations.pop(key, None)

    def holds(self, cr: Obj) -> bool:
        """Whether `cr` stalled at its current generation (a run would stall again)."""
        with self._lock:
            return self._generations.get(object_key(cr)) == _generation(cr)
