"""How a batch of due keys (handed out by the work queue, which keeps the batch window and the
full/status split) becomes ansible runs: the keys are sorted by where their custom resource is in
its life, and each non-empty group becomes one run request.

- gone: no longer cached (deleted); nothing to run, its back-off is forgotten;
- needs a finalizer: the watch has one and the resource does not carry it yet; it is added first
  (one API call each), and the resource then joins the present ones;
- present: one run of the watch's role or playbook with state `present`;
- deleting, finalizer still on: one run with state `absent`, of the finalizer's role or playbook
  when it has one, with the finalizer's vars; deleting without our finalizer: nothing to do;
- orphaning: deleting with `--cascade=orphan`, whose `orphan` finalizer is still on: nothing to run
  until the garbage collector has taken the owner references off the children and removed it (its
  removal is an event of the resource); the finalizer run then leaves them where they are.

A run's extra vars follow the operator-sdk convention for each resource (spec keys verbatim, or
snake_cased with `snakeCaseParameters`; `ansible_operator_meta`; the whole resource under
`_<group>_<kind>`), plus what the kind's adapter adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import ORPHAN_FINALIZER

from hourglass_operator.finalizers import carries
from hourglass_operator.informer import Obj
from hourglass_operator.runs import ABSENT
from hourglass_operator.watches import Watch


@dataclass
class Lifecycle:
    gone: list[str] = field(default_factory=list)
    needs_finalizer: list[Obj] = field(default_factory=list)
    present: list[Obj] = field(default_factory=list)
    deleting: list[Obj] = field(default_factory=list)
    orphaning: list[Obj] = field(default_factory=list)


def sort_by_lifecycle(
    keys: list[str], lookup: Callable[[str], Obj | None], finalizer: str | None
) -> Lifecycle:
    batch = Lifecycle()
    for key in keys:
        cr = lookup(key)
        if cr is None:
            batch.gone.append(key)
        elif cr["metadata"].get("deletionTimestamp"):
            if carries(cr, finalizer) and carries(cr, ORPHAN_FINALIZER):
                batch.orphaning.append(cr)
            elif carries(cr, finalizer):
                batch.deleting.append(cr)
        elif finalizer and not carries(cr, finalizer):
            batch.needs_finalizer.append(cr)
        else:
            batch.present.append(cr)
    return batch


@dataclass(frozen=True)
class RunRequest:
    role: Path | None
    playbook: Path | None
    extravars: dict[str, Any]


def run_request(
    watch: Watch, state: str, items: Iterable[Obj], *, state_var: str, items_var: str
) -> RunRequest:
    """The run of `items` (one per resource) in `state`. `items` may be a generator when the runner
    takes `items_var` as its batch (it writes the items to a file one by one)."""
    role, playbook = watch.role, watch.playbook
    extravars: dict[str, Any] = dict(watch.vars)
    finalizer = watch.finalizer
    if state == ABSENT and finalizer:
        if finalizer.role or finalizer.playbook:
            role, playbook = finalizer.role, finalizer.playbook
        extravars.update(finalizer.vars)
    extravars.setdefault(state_var, state)
    extravars[items_var] = items
    return RunRequest(role, playbook, extravars)


def finalizer_is_the_roles_deletion(watch: Watch) -> bool:
    """Whether the finalizer run is the watch's own role or playbook (which, with state absent,
    deletes the children and nothing else), rather than a role or playbook of its own."""
    finalizer = watch.finalizer
    return finalizer is not None and (finalizer.role, finalizer.playbook) in (
        (None, None),
        (watch.role, watch.playbook),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def snake_case_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(k): snake_case_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_case_keys(v) for v in value]
    return value


def operator_sdk_vars(watch: Watch, cr: Obj) -> dict[str, Any]:
    """One resource's extra vars as the operator-sdk Ansible operator passes them."""
    meta, spec = cr["metadata"], cr.get("spec") or {}
    return {
        **(snake_case_keys(spec) if watch.snake_case_parameters else spec),
        "ansible_operator_meta": {"name": meta["name"], "namespace": meta["namespace"]},
        watch.cr_var: cr,
    }
