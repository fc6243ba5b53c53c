"""The operator benchmark's floors (bench/operator_bench.py): what the same cluster takes to reach
the operator's end state without the operator.

- floor: a plain client creates N bare Pods and Services, then deletes them;
- contract floor: a plain client writes what the contract requires to exist for N Performers, one
  request per object: each Performer, then the Pod and the Service the role renders for it (labels,
  probes, security context, owner references to the Performer); then deletes the three. No
  finalizer, status or Event;
- status floor: the contract floor plus the fewest writes an operator of the contract makes while
  keeping the status truthful, made with the operator's own request builders (its finalizer patch,
  status patch and Events) by a plain client that knows everything for free: the finalizer added
  before the children; one status patch (ready) and its Event once the pod is Ready (as a watch
  saw it); on deletion one status patch (Terminating) and its Event, and the finalizer removed once
  the Pod and the Service are gone. What the operator takes beyond it is the price of its own work:
  Ansible, informers, batching, rechecks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    caller,
    custom_object_path,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    compute_status,
    transitions,
)
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    CONCURRENT_WRITES,
    patch_status,
    record_events,
)

from bench.process_tree import PhaseMeter
from bench.progress import say
from bench.watching import Watcher, performer_watcher, pod_ready, since, wait_first, wait_gone, wait_until
from hourglass_operator.finalizers import Failure, Finalizers
from hourglass_operator.startup import calls_client
from tests.support.paths import REPO
from tests.support.performers import GROUP, PLURAL, VERSION, create_performer, performer

PAUSE = "registry.k8s.io/pause:3.10"
ROLE_DEFAULTS = REPO / "roles" / "performer" / "defaults" / "main.yml"
UID_TO_COME = "00000000-0000-0000-0000-000000000000"  # the Performer's uid, known once it is created
FLOORS = ("floor", "contract_floor", "status_floor")  # their keys in a run's result


def floor_phase(core: Any, namespace: str, count: int, timeout: float, meter: PhaseMeter) -> dict:
    """N Pods and Services created, until all Ready; then deleted, until all gone."""
    names = sorted(f"floor-{i:04d}" for i in range(count))

    def create(name: str) -> None:
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": PAUSE}]},
            },
        )
        core.create_namespaced_service(
            namespace,
            {"metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": [{"port": 9090}]}},
        )

    def delete(name: str) -> None:
        core.delete_namespaced_pod(name, namespace)
        core.delete_namespaced_service(name, namespace)

    say(f"floor: creating {count} Pods + Services")
    return _timed_phase(core, namespace, "floor", names, set(names), create, delete, timeout, meter)


def contract_objects(namespace: str, names: list[str]) -> dict[str, dict]:
    """Per name: the Performer the operator benchmark creates and the Pod and Service the role
    renders for it, owned by a Performer whose uid is not known yet (rendered before the phase's
    clock starts, so that the phase times the cluster, not the templates)."""
    settings = yaml.safe_load(ROLE_DEFAULTS.read_text())
    objects = {}
    for name in names:
        body = performer(name, config={})
        cr = {**body, "metadata": {**body["metadata"], "namespace": namespace, "uid": UID_TO_COME}}
        [rendered] = performer_render([{"_hourglass_eigenlayer_io_performer": cr}], settings)
        if "error" in rendered:
            raise RuntimeError(f"the role did not render {name}: {rendered['error']}")
        objects[name] = {"performer": body, "pod": rendered["pod"], "service": rendered["service"]}
    return objects


def owned_by(child: dict, uid: str) -> dict:
    """A copy of a rendered child whose owner references name the created Performer's uid."""
    owned = copy.deepcopy(child)
    for reference in owned["metadata"]["ownerReferences"]:
        if reference["uid"] == UID_TO_COME:
            reference["uid"] = uid
    return owned


def contract_floor_phase(
    core: Any, custom: Any, namespace: str, count: int, timeout: float, meter: PhaseMeter
) -> dict:
    """N Performers with their rendered Pods and Services written by a plain client, until every
    pod is Ready; then the three deleted, until the Pods and Services are gone."""
    names = sorted(f"contract-{i:04d}" for i in range(count))
    objects = contract_objects(namespace, names)
    children = {child_name(n) for n in names}

    def create(name: str) -> None:
        wanted = objects[name]
        uid = create_performer(custom, namespace, wanted["performer"])["metadata"]["uid"]
        core.create_namespaced_pod(namespace, owned_by(wanted["pod"], uid))
        core.create_namespaced_service(namespace, owned_by(wanted["service"], uid))

    def delete(name: str) -> None:
        core.delete_namespaced_pod(child_name(name), namespace)
        core.delete_namespaced_service(child_name(name), namespace)
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    say(f"contract floor: creating {count} Performers with their Pods + Services")
    return _timed_phase(core, namespace, "contract floor", names, children, create, delete, timeout, meter)


def status_floor_phase(
    core: Any, custom: Any, namespace: str, count: int, timeout: float, meter: PhaseMeter
) -> dict:
    """The contract floor's objects with the finalizer, statuses and Events an operator writes, until
    every Performer's status says ready; then deleted, until the Pods and Services are gone and the
    Performers after them (their finalizers removed)."""
    names = sorted(f"status-{i:04d}" for i in range(count))
    objects = contract_objects(namespace, names)
    children = {child_name(n) for n in names}
    client = calls_client(core.api_client)
    call = caller(client)
    finalizers = Finalizers(client, group=GROUP, version=VERSION, plural=PLURAL, name=contract.FINALIZER)
    latest: dict[str, dict] = {}  # each Performer as the floor's last write of it returned it
    terminating: set[str] = set()  # deleted Performers whose Terminating status is written

    def write_status(name: str, pod: dict | None, deleting: bool) -> None:
        performer = latest[name]
        status = compute_status(performer, pod, deleting=deleting)
        path = custom_object_path(GROUP, VERSION, PLURAL, performer["metadata"])
        code, body = patch_status(call, path, status, performer.get("status") or {})
        if code >= 300:
            raise RuntimeError(f"status floor: the status of {name} was not written: HTTP {code}")
        events = transitions(performer.get("status") or {}, status)
        record_events(call, performer, events, contract.DEFAULT_FIELD_MANAGER, contract.now())
        latest[name] = body

    def create(name: str) -> None:
        wanted = objects[name]
        created = create_performer(custom, namespace, wanted["performer"])
        latest[name] = _finalizer_changed(finalizers.add(created), name)
        uid = created["metadata"]["uid"]
        core.create_namespaced_pod(namespace, owned_by(wanted["pod"], uid))
        core.create_namespaced_service(namespace, owned_by(wanted["service"], uid))

    def ready(name: str) -> None:
        write_status(name, pods.objects.get(child_name(name)), deleting=False)

    def delete(name: str) -> None:
        latest[name] = custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        # The Service first: the endpoints controller then has no endpoints to update when the pod goes.
        core.delete_namespaced_service(child_name(name), namespace)
        core.delete_namespaced_pod(child_name(name), namespace)
        write_status(name, None, deleting=True)
        terminating.add(name)

    def release(name: str) -> None:
        _finalizer_changed(finalizers.remove(latest[name]), name)

    def pod_ready_after_create(name: str) -> bool:
        return name in latest and child_name(name) in pods.first

    def children_gone_after_delete(name: str) -> bool:
        child = child_name(name)
        gone = min(pods.gone.get(child, 0.0), services.gone.get(child, 0.0))
        return name in terminating and gone >= begun["at"]

    pods = Watcher(core.list_namespaced_pod, pod_ready, namespace)
    services = Watcher(core.list_namespaced_service, lambda _: True, namespace)
    performers = performer_watcher(custom, namespace)
    say(f"status floor: creating {count} Performers with their Pods + Services, statuses and Events")
    try:
        begun = meter.start()
        _alongside(names, create, pod_ready_after_create, ready, timeout, "status floor: statuses")
        done = wait_first(performers, set(names), timeout, "status floor: Performers ready")
        created = {"all_ready_s": round(done - begun["at"], 2), **meter.finish(begun, count)}
        timelines = {"status_floor_ready": since(performers.first, names, begun["at"])}
        say(f"status floor: all {count} ready after {created['all_ready_s']:.1f} s; deleting them")
        begun = meter.start()
        _alongside(names, delete, children_gone_after_delete, release, timeout, "status floor: finalizers")
        children_done = wait_gone([pods, services], children, begun["at"], timeout, "status floor: children")
        performers_done = wait_gone(
            [performers], set(names), begun["at"], timeout, "status floor: Performers"
        )
        deleted = {
            "all_gone_s": round(children_done - begun["at"], 2),
            "performers_gone_s": round(performers_done - begun["at"], 2),
            **meter.finish(begun, count),
        }
        gone = [*since(pods.gone, children, begun["at"]), *since(services.gone, children, begun["at"])]
        timelines["status_floor_gone"] = sorted(gone)
        say(f"status floor: children gone after {deleted['all_gone_s']:.1f} s")
    finally:
        for watcher in (pods, services, performers):
            watcher.stop()
    return {"create": created, "delete": deleted, "timelines": timelines}


def _finalizer_changed(performer: dict | Failure, name: str) -> dict:
    if isinstance(performer, Failure):
        raise RuntimeError(f"status floor: the finalizer of {name} was not changed: {performer}")
    return performer


def _alongside(
    names: list[str],
    first: Callable[[str], None],
    due: Callable[[str], bool],
    then: Callable[[str], None],
    timeout: float,
    what: str,
) -> None:
    """`first` for each name (8 threads) and, meanwhile, `then` for each name once `due(name)`
    (CONCURRENT_WRITES threads, as the operator writes), until every `then` is done."""
    waiting = set(names)
    with ThreadPoolExecutor(8) as firsts, ThreadPoolExecutor(CONCURRENT_WRITES) as thens:
        started = [firsts.submit(first, name) for name in names]
        handed: list = []

        def hand_out() -> bool:
            for future in started:
                if future.done() and future.exception():
                    raise future.exception()  # type: ignore[misc]
            for name in [n for n in waiting if due(n)]:
                waiting.discard(name)
                handed.append(thens.submit(then, name))
            return not waiting

        wait_until(hand_out, timeout, what, lambda: f"{what}: {len(waiting)} waiting")
        for future in [*started, *handed]:
            future.result()


def _timed_phase(
    core: Any,
    namespace: str,
    floor: str,
    names: list[str],
    children: set[str],
    create: Callable[[str], None],
    delete: Callable[[str], None],
    timeout: float,
    meter: PhaseMeter,
) -> dict:
    """`create` for each name (8 threads), until every pod of `children` is Ready; then `delete` for
    each, until those Pods and Services are gone. The timelines are named after the floor."""
    pods = Watcher(core.list_namespaced_pod, pod_ready, namespace)
    services = Watcher(core.list_namespaced_service, lambda _: True, namespace)
    key = floor.replace(" ", "_")
    try:
        begun = meter.start()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, names))
        done = wait_first(pods, children, timeout, f"{floor}: Pods Ready")
        created = {"all_ready_s": round(done - begun["at"], 2), **meter.finish(begun, len(names))}
        timelines = {f"{key}_ready": since(pods.first, children, begun["at"])}
        say(f"{floor}: all {len(names)} Ready after {created['all_ready_s']:.1f} s; deleting them")
        begun = meter.start()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(delete, names))
        done = wait_gone([pods, services], children, begun["at"], timeout, f"{floor}: deleting")
        deleted = {"all_gone_s": round(done - begun["at"], 2), **meter.finish(begun, len(names))}
        gone = [*since(pods.gone, children, begun["at"]), *since(services.gone, children, begun["at"])]
        timelines[f"{key}_gone"] = sorted(gone)
        say(f"{floor}: all gone after {deleted['all_gone_s']:.1f} s")
    finally:
        pods.stop()
        services.stop()
    return {"create": created, "delete": deleted, "timelines": timelines}


def ratios(result: dict) -> dict:
    """The operator's times over each floor's, and the other floors' over the floor's. Performers gone
    compares with a floor's Performers gone where it has a finalizer to wait for (the status floor),
    else with its children gone."""
    found = {}
    operator = result.get("operator", {})
    for floor_key in FLOORS:
        floor = result.get(floor_key)
        if not floor or "delete" not in operator:
            continue
        ready, gone = floor["create"]["all_ready_s"], floor["delete"]["all_gone_s"]
        performers_gone = floor["delete"].get("performers_gone_s", gone)
        found[f"operator_over_{floor_key}"] = {
            "all_ready": round(operator["create"]["all_ready_s"] / ready, 2),
            "children_gone": round(operator["delete"]["children_gone_s"] / gone, 2),
            "performers_gone": round(operator["delete"]["performers_gone_s"] / performers_gone, 2),
        }
    for floor_key in FLOORS[1:]:
        if "floor" in result and floor_key in result:
            floor, other = result["floor"], result[floor_key]
            found[f"{floor_key}_over_floor"] = {
                "all_ready": round(other["create"]["all_ready_s"] / floor["create"]["all_ready_s"], 2),
                "all_gone": round(other["delete"]["all_gone_s"] / floor["delete"]["all_gone_s"], 2),
            }
    return found
