"""What the collection's two Kubernetes modules do with their validated arguments: their argument
specs and the call that returns the task's result. Shared by the modules (`plugins/modules`, a
process per call, wherever the task runs) and by their action plugins (`plugins/action`), which run
the same call inside the Ansible worker when the task's connection is local — as every run of the
performer role is — sparing a Python process, its imports and the module's packaging per call."""

from __future__ import annotations

from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    KUBE_ARGUMENT_SPEC,
    caller,
    module_client,
)
from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    CONCURRENT_CALLS,
    STATES,
    ObjectWriter,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import (
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_FIELD_MANAGER,
)
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    CONCURRENT_WRITES,
    ResultsFile,
    StatusWriter,
    batch_keys,
)

APPLY_ARGUMENT_SPEC: dict[str, Any] = {
    "objects": {"type": "list", "elements": "dict"},
    "plan": {"type": "dict"},
    "state": {"type": "str", "choices": list(STATES), "default": "present"},
    "field_manager": {"type": "str", "default": DEFAULT_FIELD_MANAGER},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 120},
    **KUBE_ARGUMENT_SPEC,
}

# performer_apply takes either a list of objects in one state or a plan's four lists.
APPLY_CONSTRAINTS: dict[str, Any] = {
    "mutually_exclusive": [["objects", "plan"]],
    "required_one_of": [["objects", "plan"]],
}
# A plan's lists (performer_plan filter), in the order they are written: (list, state, result key).
PLAN_STEPS = (
    ("apply", "present", "applied"),
    ("restore", "updated", "updated"),
    ("replace", "replaced", "replaced"),
    ("delete", "absent", "deleted"),
)

STATUS_ARGUMENT_SPEC: dict[str, Any] = {
    "batch": {"type": "list", "elements": "dict", "required": True},
    "observed": {"type": "dict", "default": {}},
    "plan": {"type": "dict", "required": True},
    "applied": {"type": "dict", "default": {}},
    "updated": {"type": "dict", "default": {}},
    "replaced": {"type": "dict", "default": {}},
    "deleted": {"type": "dict", "default": {}},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "field_manager": {"type": "str", "default": DEFAULT_FIELD_MANAGER},
    "cluster_domain": {"type": "str", "default": DEFAULT_CLUSTER_DOMAIN},
    "unschedulable_timeout": {"type": "int", "default": 300},
    "results_file": {"type": "path"},
    **KUBE_ARGUMENT_SPEC,
}
# The options that carry a batch (dicts and lists of dicts, without suboptions).
BATCH_SIZED = ("batch", "observed", "plan", "applied", "updated", "replaced", "deleted")
APPLY_BATCH_SIZED = ("objects", "plan")


def apply_objects(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """performer_apply: writes the objects in the given state, or each list of a plan in its state;
    the task's result."""
    client = module_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_CALLS)
    writer = ObjectWriter(
        caller(client), field_manager=params["field_manager"], check_mode=check_mode,
        wait=params["wait"], wait_timeout=params["wait_timeout"],
    )  # fmt: skip
    if params["plan"] is None:
        return _written(writer, params["objects"], params["state"])
    steps = {key: _written(writer, params["plan"].get(name) or [], state) for name, state, key in PLAN_STEPS}
    return {"changed": any(step["changed"] for step in steps.values()), **steps}


def _written(writer: ObjectWriter, objects: list[dict[str, Any]], state: str) -> dict[str, Any]:
    """What a call for `objects` in `state` registers (an empty list: what a skipped task registers)."""
    if not objects:
        return {"changed": False, "skipped": True, "skip_reason": "no objects"}
    results = writer.write(objects, state)
    # The objects can be megabytes large (env values): report which they were, not what they held.
    return {
        "changed": any(r["changed"] for r in results),
        "result": {"results": results},
        "invocation": {"module_args": {"state": state, "objects": [r["object"] for r in results]}},
    }


def write_statuses(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """performer_status: writes the status of every Performer of the batch; the task's result."""
    client = module_client(params["kubeconfig"], params["context"], pool_size=CONCURRENT_WRITES)
    writer = StatusWriter(
        caller(client), plan=params["plan"], applied=params["applied"], updated=params["updated"],
        replaced=params["replaced"], deleted=params["deleted"], observed=params["observed"],
        state=params["state"], field_manager=params["field_manager"],
        cluster_domain=params["cluster_domain"], check_mode=check_mode,
        unschedulable_timeout=params["unschedulable_timeout"],
    )  # fmt: skip
    if params["results_file"]:
        with ResultsFile(params["results_file"]) as results_file:
            results = writer.write(params["batch"], on_result=results_file.append)
    else:
        results = writer.write(params["batch"])
    args = {k: v for k, v in params.items() if k not in BATCH_SIZED}
    invocation = {"module_args": {**args, "batch": batch_keys(params["batch"])}}
    return {"changed": any(r["patched"] for r in results), "results": results, "invocation": invocation}
