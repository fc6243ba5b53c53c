"""The "single changes" scenario of the operator benchmark: on an otherwise idle cluster, one change
at a time, as an executor makes them (a new Performer for a new AVS, a blue-green deploy):

1. create one Performer -> status.ready;
2. change its environment -> its new pod (a new uid) Ready;
3. change its image -> its new pod exists;
4. beside a slow replacement: its pod is held terminating (a finalizer of the benchmark's, as a
   performer that ignores SIGTERM is on a real kubelet for its grace period) while its environment
   changes, and a new Performer is created meanwhile -> that one's status.ready; then the hold is
   released -> the held Performer's new pod Ready (made by the run the old pod's deletion triggers).

`rounds` times each, sequentially, each on a fresh Performer and only once the operator's queue is
idle; p50/p95 of each. The timestamps come from watches in this process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name

from bench.progress import say
from bench.watching import Watcher, performer_watcher, pod_ready, wait_until
from tests.support.operator import OperatorProcess
from tests.support.performers import GROUP, IMAGE, PLURAL, VERSION, performer, pod_held

KINDS = (
    "create_to_ready",
    "env_change_to_new_pod_ready",
    "image_change_to_new_pod",
    "create_beside_a_slow_replacement_to_ready",
    "slow_old_pod_released_to_new_pod_ready",
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    custom: Any, core: Any, process: OperatorProcess, namespace: str, rounds: int, timeout: float
) -> dict:
    performers = performer_watcher(custom, namespace)
    pods = Watcher(core.list_namespaced_pod, pod_ready, namespace)
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    where = {"round": 0, "step": ""}

    def waiting(what: str) -> Callable[[], str]:
        where["step"] = what
        return lambda: f"single changes {where['round']}/{rounds}: waiting for {where['step']}"

    def idle() -> None:
        what = "the operator's queue to be idle"
        wait_until(process.queue_idle, timeout, what, waiting(what), interval=0.05)

    def patch(name: str, spec: dict) -> float:
        started = time.monotonic()
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": spec})
        return started

    def new_pod(name: str, old_uid: str, ready: bool) -> float:
        record = pods.uid_first if ready else pods.seen

        def replaced() -> bool:
            uid = pods.uid(child_name(name))
            return uid is not None and uid != old_uid and uid in record

        what = f"a new pod of {name}" + (" to be Ready" if ready else "")
        wait_until(replaced, timeout, what, waiting(what))
        return record[pods.uid(child_name(name))]  # type: ignore[index]

    def pod_ready_now(name: str) -> str:
        """Waits until the pod `name` has now is Ready; its uid."""
        pod = child_name(name)
        what = f"the pod of {name} to be Ready"
        wait_until(lambda: pods.uid(pod) in pods.uid_first, timeout, what, waiting(what))
        return pods.uid(pod)  # type: ignore[return-value]

    def create(name: str) -> float:
        """Seconds from creating a Performer to its status.ready."""
        started = time.monotonic()
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer(name, config={}))
        what = f"{name} to be ready"
        wait_until(lambda: name in performers.first, timeout, what, waiting(what))
        return performers.first[name] - started

    def beside_a_slow_replacement(name: str, i: int) -> tuple[float, float]:
        """Seconds to a new Performer's ready while `name`'s replaced pod is held terminating, and
        from the hold's release to `name`'s new pod Ready."""
        held = pod_ready_now(name)
        with pod_held(core, namespace, child_name(name)):
            patch(name, {"config": {"environment": {"REVISION": f"slow-{i}"}}})
            what = f"the held pod of {name} to be terminating"
            wait_until(lambda: held in pods.marked, timeout, what, waiting(what))
            beside = create(f"beside-{i:03d}")
            released = time.monotonic()
        return beside, new_pod(name, held, ready=True) - released

    try:
        for i in range(rounds):
            name = f"single-{i:03d}"
            where["round"] = i + 1
            idle()
            seconds["create_to_ready"].append(create(name))
            old = pod_ready_now(name)

            idle()
            started = patch(name, {"config": {"environment": {"REVISION": str(i)}}})
            seconds["env_change_to_new_pod_ready"].append(new_pod(name, old, ready=True) - started)

            idle()
            old = pods.uid(child_name(name))
            started = patch(name, {"image": f"{IMAGE.rsplit(':', 1)[0]}:single-{i}"})
            seconds["image_change_to_new_pod"].append(new_pod(name, old, ready=False) - started)

            idle()
            beside, replaced = beside_a_slow_replacement(name, i)
            seconds["create_beside_a_slow_replacement_to_ready"].append(beside)
            seconds["slow_old_pod_released_to_new_pod_ready"].append(replaced)
            say(
                f"single changes: {i + 1}/{rounds} "
                + ", ".join(f"{kind} {seconds[kind][-1]:.2f} s" for kind in KINDS)
            )
    finally:
        performers.stop()
        pods.stop()
    result: dict[str, Any] = {"rounds": rounds, "seconds": seconds}
    for kind in KINDS:
        result[f"{kind}_p50_s"] = percentile(seconds[kind], 0.5)
        result[f"{kind}_p95_s"] = percentile(seconds[kind], 0.95)
    return result
