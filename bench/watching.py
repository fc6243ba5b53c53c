"""What the operator benchmark sees of the cluster: a watch per kind of object in a thread,
recording when things happened (the first time an object satisfied a predicate, the first time each
incarnation — uid — did, when an object was deleted), so that a phase waits on events, not on
polls of the API server (which would inflate the request counts the benchmark reports)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import kubernetes

from bench.progress import Ticker
from tests.support.performers import GROUP, PLURAL, VERSION


class Watcher:
    """Watches the objects `list_fn` lists in `namespace` (raw dicts) from a thread.

    first[name]: the first time `predicate` held for an object of that name (any incarnation);
    uid_first[uid]: the same per incarnation; seen[uid]: when an incarnation first appeared;
    marked[uid]: when it was first seen marked for deletion (a deletionTimestamp); gone[name]: the
    time of the last DELETED event of that name; objects[name]: the latest state; incarnations[name]:
    the uids that name had, in order."""

    def __init__(
        self, list_fn: Callable[..., Any], predicate: Callable[[dict], bool], namespace: str
    ) -> None:
        self.first: dict[str, float] = {}
        self.uid_first: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.marked: dict[str, float] = {}
        self.incarnations: dict[str, list[str]] = {}
        self.gone: dict[str, float] = {}
        self.objects: dict[str, dict] = {}
        self._stop = threading.Event()
        self._list_fn, self._predicate, self._namespace = list_fn, predicate, namespace
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version = None
        while not self._stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                version = version or self._relist()
                for event in watch.stream(
                    self._list_fn, self._namespace, timeout_seconds=60, deserialize=False,
                    resource_version=version,
                ):  # fmt: skip
                    if event["type"] == "ERROR":  # the version expired (410): list again
                        version = None
                        break
                    if event["type"] == "BOOKMARK":
                        continue
                    version = self._record(event["type"], event["object"])
                    if self._stop.is_set():
                        return
            except Exception:  # a dropped connection: list again, then watch
                version = None
                time.sleep(0.2)

    def _relist(self) -> str:
        """Lists what is there now and returns the list's resourceVersion to watch from. An object
        known before that is not in the list was deleted while no watch ran (a watch of 1000 objects
        being deleted can expire): it counts as gone now."""
        response = self._list_fn(self._namespace, _preload_content=False)
        listing = json.loads(response.data)
        present = {item["metadata"]["name"] for item in listing["items"]}
        now = time.monotonic()
        for name in [name for name in self.objects if name not in present]:
            self.gone[name] = now
            del self.objects[name]
        for item in listing["items"]:
            self._record("ADDED", item)
        return listing["metadata"]["resourceVersion"]

    def _record(self, kind: str, obj: dict) -> str:
        now = time.monotonic()
        metadata = obj["metadata"]
        name, uid = metadata["name"], metadata["uid"]
        if kind == "DELETED":
            self.gone[name] = now
            self.objects.pop(name, None)
            return metadata["resourceVersion"]
        self.objects[name] = obj
        if uid not in self.seen:
            self.incarnations.setdefault(name, []).append(uid)
        self.seen.setdefault(uid, now)
        if metadata.get("deletionTimestamp"):
            self.marked.setdefault(uid, now)
        if uid not in self.uid_first and self._predicate(obj):
            self.uid_first[uid] = now
            self.first.setdefault(name, now)
        return metadata["resourceVersion"]

    def uid(self, name: str) -> str | None:
        obj = self.objects.get(name)
        return obj["metadata"]["uid"] if obj else None

    def stop(self) -> None:
        self._stop.set()


def performer_watcher(custom: Any, namespace: str) -> Watcher:
    """The Performers of `namespace` (`custom`: a CustomObjectsApi), `first` when status.ready."""
    return Watcher(
        lambda ns, **kw: custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, **kw),
        performer_ready,
        namespace,
    )


def pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def performer_ready(performer: dict) -> bool:
    return bool((performer.get("status") or {}).get("ready"))


def performer_ready_at(performer: dict, generation: int | None = None) -> bool:
    """Ready with a status written for `generation` or a later one (default: its own, the spec as it
    is now)."""
    wanted = performer["metadata"]["generation"] if generation is None else generation
    return performer_ready(performer) and performer["status"].get("observedGeneration", 0) >= wanted


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    progress: Callable[[], str] | None = None,
    interval: float = 0.02,
) -> float:
    """Polls `check` (in-process state, no API calls) until true; the time it became true. Says
    `progress()` every 5 s while waiting."""
    ticker = Ticker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        if progress:
            ticker.tick(progress())
        time.sleep(interval)
    raise TimeoutError(f"{what}: not done after {timeout:.0f} s" + (f" ({progress()})" if progress else ""))


def wait_first(watcher: Watcher, names: set[str], timeout: float, what: str) -> float:
    """Waits until the predicate held for every name; the time the last one did."""
    wait_until(
        lambda: names <= watcher.first.keys(),
        timeout,
        what,
        lambda: f"{what}: {len(names & watcher.first.keys())}/{len(names)}",
    )
    return max(watcher.first[n] for n in names)


def wait_gone(watchers: list[Watcher], names: set[str], since: float, timeout: float, what: str) -> float:
    """Waits until every name was deleted (after `since`) in each watcher; the time the last went."""

    def left(watcher: Watcher) -> int:
        return sum(1 for n in names if watcher.gone.get(n, 0.0) < since)

    wait_until(
        lambda: not any(left(w) for w in watchers),
        timeout,
        what,
        lambda: f"{what}: " + " + ".join(str(left(w)) for w in watchers) + " left",
    )
    return max(w.gone[n] for w in watchers for n in names)


def since(times: dict[str, float], names: list[str] | set[str], start: float) -> list[float]:
    """Seconds from `start` to each name's time (names without one left out), for the charts."""
    return sorted(round(times[n] - start, 3) for n in names if n in times)
