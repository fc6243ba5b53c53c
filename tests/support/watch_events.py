"""Recording what a watch delivers while a test block runs: every event after a resourceVersion, in
the watch's order, so that a state that lasts a moment is seen too."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kubernetes
import urllib3

T = TypeVar("T")


@contextlib.contextmanager
def events_seen(
    list_fn: Callable[..., Any], *args: object, since: str, record: Callable[[dict], T], timeout: int = 60
) -> Iterator[list[T]]:
    """`record(event)` of each event of a watch of `list_fn(*args)` after resourceVersion `since`, in
    order, while the block runs."""
    seen: list[T] = []
    watch = kubernetes.watch.Watch()

    def follow() -> None:
        # The stream may end abruptly when the test's namespace goes away; the test is over then.
        with contextlib.suppress(urllib3.exceptions.HTTPError, kubernetes.client.ApiException):
            for event in watch.stream(list_fn, *args, resource_version=since, timeout_seconds=timeout):
                seen.append(record(event))

    threading.Thread(target=follow, daemon=True).start()
    try:
        yield seen
    finally:
        watch.stop()
