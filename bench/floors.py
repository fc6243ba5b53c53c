"""The operator benchmark's two floors (bench/operator_bench.py): what the same cluster takes to
reach the operator's end state without the operator.

- floor: a plain client creates N bare Pods and Services, then deletes them;
- contract floor: a plain client writes what the contract requires to exist for N Performers, one
  request per object: each Performer, then the Pod and the Service the role renders for it (labels,
  probes, security context, owner references to the Performer); then deletes the three. No
  finalizer, status or Event: those and the operator's own CPU are what the operator adds to it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import performer_render

from bench.process_tree import PhaseMeter
from bench.progress import say
from bench.watching import Watcher, pod_ready, since, wait_first, wait_gone
from tests.support.paths import REPO
from tests.support.performers import GROUP, PLURAL, VERSION, create_performer, performer

PAUSE = "registry.k8s.io/pause:3.10"
ROLE_DEFAULTS = REPO / "roles" / "performer" / "defaults" / "main.yml"
UID_TO_COME = "00000000-0000-0000-0000-000000000000"  # the Performer's uid, known once it is created


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
    """The operator's times over each floor's, and the contract floor's over the floor's."""
    found = {}
    operator = result.get("operator", {})
    for floor_key in ("floor", "contract_floor"):
        floor = result.get(floor_key)
        if not floor or "delete" not in operator:
            continue
        ready, gone = floor["create"]["all_ready_s"], floor["delete"]["all_gone_s"]
        found[f"operator_over_{floor_key}"] = {
            "all_ready": round(operator["create"]["all_ready_s"] / ready, 2),
            "children_gone": round(operator["delete"]["children_gone_s"] / gone, 2),
            "performers_gone": round(operator["delete"]["performers_gone_s"] / gone, 2),
        }
    if "floor" in result and "contract_floor" in result:
        floor, contract = result["floor"], result["contract_floor"]
        found["contract_floor_over_floor"] = {
            "all_ready": round(contract["create"]["all_ready_s"] / floor["create"]["all_ready_s"], 2),
            "all_gone": round(contract["delete"]["all_gone_s"] / floor["delete"]["all_gone_s"], 2),
        }
    return found
