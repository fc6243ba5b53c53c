"""What the collection's Kubernetes modules do with their validated arguments: their argument
specs and the call that returns the task's result. Shared by the modules (`plugins/modules`, a
process per call, wherever the task runs) and by their action plugins (`plugins/action`), which run
the same call inside the Ansible worker when the task's connection is local — as every run of the
performer role is — sparing a Python process, its imports and the module's packaging per call."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    KUBE_ARGUMENT_SPEC,
    caller,
    module_client,
)
from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    CONCURRENT_CALLS,
    STATES,
    ObjectWriter,
    as_registered,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_FIELD_MANAGER,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_plan import (
    DEFAULT_ENDED_POD_MAX_AGE,
    DEFAULT_ENDED_POD_MIN_AGE,
    DEFAULT_LOST_POD_AFTER,
    performer_plan,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_reconciler import (
    CONCURRENT_PERFORMERS,
    PLAN_STEPS,
    Reconciler,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import (
    TEMPLATES,
    performer_render,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import (
    ended_pods,
    spec_reconciled,
)
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    CONCURRENT_WRITES,
    CR_VAR,
    OBSERVED_VAR,
    ResultsFile,
    StatusWriter,
    batch_keys,
    item_key,
)

T = TypeVar("T")
Obj = dict[str, Any]

APPLY_ARGUMENT_SPEC: dict[str, Any] = {
    "objects": {"type": "list", "elements": "dict"},
    "plan": {"type": "dict"},
    "state": {"type": "str", "choices": list(STATES), "default": "present"},
    "field_manager": {"type": "str", "default": DEFAULT_FIELD_MANAGER},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 120},
    "create_by_apply": {"type": "bool", "default": False},
    **KUBE_ARGUMENT_SPEC,
}

# performer_apply takes either a list of objects in one state or a plan's six lists.
APPLY_CONSTRAINTS: dict[str, Any] = {
    "mutually_exclusive": [["objects", "plan"]],
    "required_one_of": [["objects", "plan"]],
}
# What performer_status and performer_reconcile both take: how to write the statuses of a batch.
_STATUS_OPTIONS: dict[str, Any] = {
    "observed": {"type": "dict", "default": {}},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "field_manager": {"type": "str", "default": DEFAULT_FIELD_MANAGER},
    "cluster_domain": {"type": "str", "default": DEFAULT_CLUSTER_DOMAIN},
    "unschedulable_timeout": {"type": "int", "default": 300},
    "results_file": {"type": "path"},
    **KUBE_ARGUMENT_SPEC,
}
STATUS_ARGUMENT_SPEC: dict[str, Any] = {
    "batch": {"type": "list", "elements": "dict", "required": True},
    "plan": {"type": "dict", "required": True},
    **_STATUS_OPTIONS,
    "created": {"type": "dict", "default": {}},
    "applied": {"type": "dict", "default": {}},
    "updated": {"type": "dict", "default": {}},
    "replaced": {"type": "dict", "default": {}},
    "deleted": {"type": "dict", "default": {}},
    "forced": {"type": "dict", "default": {}},
}
RECONCILE_ARGUMENT_SPEC: dict[str, Any] = {
    "batch": {"type": "list", "elements": "dict"},
    "batch_file": {"type": "path"},
    "settings": {"type": "dict", "default": {}},
    "templates": {"type": "path"},
    **_STATUS_OPTIONS,
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 120},
    "work_waiting_file": {"type": "path"},
    "create_by_apply": {"type": "bool", "default": False},
    "ended_pod_min_age": {"type": "int", "default": DEFAULT_ENDED_POD_MIN_AGE},
    "ended_pod_max_age": {"type": "int", "default": DEFAULT_ENDED_POD_MAX_AGE},
    "lost_pod_after": {"type": "int", "default": DEFAULT_LOST_POD_AFTER},
    "rollout_slots": {"type": "int"},
}
RECONCILE_CONSTRAINTS: dict[str, Any] = {
    "mutually_exclusive": [["batch", "batch_file"]],
    "required_one_of": [["batch", "batch_file"]],
}
# The options that carry a batch (dicts and lists of dicts, without suboptions).
BATCH_SIZED = ("batch", "observed", "plan", "created", "applied", "updated", "replaced", "deleted", "forced")
APPLY_BATCH_SIZED = ("objects", "plan")
RECONCILE_BATCH_SIZED = ("batch", "observed")


def apply_objects(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """performer_apply: writes the objects in the given state, or each list of a plan in its state;
    the task's result."""
    client = module_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_CALLS)
    writer = ObjectWriter(
        caller(client), field_manager=params["field_manager"], check_mode=check_mode,
        wait=params["wait"], wait_timeout=params["wait_timeout"], create_by_apply=params["create_by_apply"],
    )  # fmt: skip
    if params["plan"] is None:
        return _written(writer, params["objects"], params["state"])
    steps = {key: _written(writer, params["plan"].get(name) or [], state) for name, state, key in PLAN_STEPS}
    return {"changed": any(step["changed"] for step in steps.values()), **steps}


def _written(writer: ObjectWriter, objects: list[dict[str, Any]], state: str) -> dict[str, Any]:
    """What a call for `objects` in `state` registers (an empty list: what a skipped task registers)."""
    return as_registered(writer.write(objects, state) if objects else [], state)


def write_statuses(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """performer_status: writes the status of every Performer of the batch; the task's result."""
    client = module_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_WRITES)
    writer = _status_writer(
        caller(client), params, check_mode, plan=params["plan"], created=params["created"],
        applied=params["applied"], updated=params["updated"], replaced=params["replaced"],
        deleted=params["deleted"], forced=params["forced"],
    )  # fmt: skip
    results = _with_results_file(params, writer.write)
    return {
        "changed": any(r["patched"] for r in results),
        "results": results,
        "invocation": _batch_invocation(params, BATCH_SIZED),
    }


def reconcile_performers(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """performer_reconcile: renders and plans the batch, writes the objects of the plan and each
    Performer's status as soon as its own objects are written; the task's result (what performer_apply
    with the plan and performer_status would have registered, together), or only what changed when
    the results go to a results file."""
    if params["batch"] is None:
        with open(params["batch_file"], encoding="utf-8") as batch_file:
            params = {**params, "batch": json.load(batch_file)}
    plan = plan_batch(
        params["batch"],
        params["observed"],
        params["state"],
        params["settings"],
        params["templates"] or str(TEMPLATES),
        params["ended_pod_min_age"],
        params["ended_pod_max_age"],
        params["lost_pod_after"],
        params["rollout_slots"],
    )
    client = module_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_PERFORMERS)
    call = caller(client)
    objects = ObjectWriter(
        call, field_manager=params["field_manager"], check_mode=check_mode, wait=params["wait"],
        wait_timeout=params["wait_timeout"], create_by_apply=params["create_by_apply"],
        stop_waiting=_exists(params["work_waiting_file"]),
    )  # fmt: skip
    statuses = _status_writer(call, params, check_mode, plan=plan["performers"])
    written, results = _with_results_file(params, Reconciler(objects, statuses, plan).run)
    changed = any(step["changed"] for step in written.values()) or any(r["patched"] for r in results)
    if params["results_file"]:
        # Whoever reads the file needs no more: the written objects of a batch would only be carried
        # back to the play, copied and stored as a variable nobody reads.
        return {"changed": changed, "performers": len(results), "results_file": params["results_file"]}
    return {
        "changed": changed,
        **written,
        "results": results,
        "invocation": _batch_invocation(params, RECONCILE_BATCH_SIZED),
    }


def _exists(path: str | None) -> Callable[[], bool]:
    """Whether the file at `path` exists now (never, without a path)."""
    return (lambda: os.path.exists(path)) if path else (lambda: False)


def plan_batch(
    batch: list[Obj],
    observed: dict[str, Obj],
    state: str,
    settings: Obj,
    templates: str,
    ended_pod_min_age: float = DEFAULT_ENDED_POD_MIN_AGE,
    ended_pod_max_age: float = DEFAULT_ENDED_POD_MAX_AGE,
    lost_pod_after: float = DEFAULT_LOST_POD_AFTER,
    rollout_slots: int | None = None,
) -> Obj:
    """The plan of a batch (performer_plan): each Performer rendered with the role's `settings` and
    `templates`, compared with what was observed of its Pod and Service (the item's own observation,
    else `observed`), with the count of its pods that ended its status keeps (`endedPods`) and whether
    its status says its spec was reconciled (for `rollout_slots`). A deletion renders nothing: it
    deletes what exists of what the Performer owns."""
    keys = [item_key(item) for item in batch]
    seen = {
        key: item.get(OBSERVED_VAR) or observed.get(key) or {} for key, item in zip(keys, batch, strict=True)
    }
    if state == "absent":  # who owns the children, and whether the garbage collector orphans them
        desired = [_deleted(key, item) for key, item in zip(keys, batch, strict=True)]
    else:
        desired = performer_render(batch, settings, templates)
    ended = {key: ended_pods(item[CR_VAR]) for key, item in zip(keys, batch, strict=True)}
    spec_seen = {key for key, item in zip(keys, batch, strict=True) if spec_reconciled(item[CR_VAR])}
    return performer_plan(
        desired, seen, state, ended_pod_min_age, ended_pod_max_age, ended, lost_pod_after,
        spec_seen=spec_seen, rollout_slots=rollout_slots,
    )  # fmt: skip


def _deleted(key: str, item: Obj) -> Obj:
    namespace, name = key.split("/", 1)
    meta = (item.get(CR_VAR) or {}).get("metadata") or {}
    return {"namespace": namespace, "name": name, "uid": meta.get("uid"),
            "finalizers": meta.get("finalizers")}  # fmt: skip


def _status_writer(call: Any, params: dict[str, Any], check_mode: bool, **options: Any) -> StatusWriter:
    return StatusWriter(
        call, observed=params["observed"], state=params["state"], field_manager=params["field_manager"],
        cluster_domain=params["cluster_domain"], check_mode=check_mode,
        unschedulable_timeout=params["unschedulable_timeout"], **options,
    )  # fmt: skip


def _with_results_file(params: dict[str, Any], write: Callable[..., T]) -> T:
    """`write(batch, on_result=...)`, each result also appended to the results file when there is one."""
    if not params["results_file"]:
        return write(params["batch"])
    with ResultsFile(params["results_file"]) as results_file:
        return write(params["batch"], on_result=results_file.append)


def _batch_invocation(params: dict[str, Any], batch_sized: tuple[str, ...]) -> dict[str, Any]:
    """The invocation a module reports: its arguments, the batch named by its Performers' keys, and
    none of the other batch-sized ones (megabytes for large batches)."""
    args = {k: v for k, v in params.items() if k not in batch_sized}
    return {"module_args": {**args, "batch": batch_keys(params["batch"])}}
