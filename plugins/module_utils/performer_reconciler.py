"""What the performer_reconcile module does: writes the Pods and Services of a batch's plan and the
status of each Performer as soon as its own Pod and Service are written, the Performers of the batch
concurrently.

Writing every object of a batch first and every status after (performer_apply, then
performer_status) keeps each Performer waiting for the whole batch: with 100 Performers, a pod that
was Ready a moment after its creation waited 3-5 s for its status to say so. Here a Performer is one
unit of work: its objects in the order of the plan's lists (force_delete, create, apply, restore,
replace, delete), each written by object_writer.py, then its status, computed and written by
status_writer.py from what was written for it, and handed to `on_result` at once, so that the runner
loop settles the Performer (and the status fast path follows its pod) while the rest of the batch is
still being written. A replacement that has to wait for the old pod to go first writes the status
that says so (Upgrading, not ready), since the old pod serves nothing any more.

The results have the shapes of the two modules': the registered result of the writes of each list,
and one status result per Performer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    ObjectWriter,
    as_registered,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import child_name
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import StatusWriter, item_key

Obj = dict[str, Any]
Entry = tuple[int, int, Obj]  # an object of the plan: (its list's index in PLAN_STEPS, its index there, it)
# A plan's lists (performer_plan filter), in the order a Performer's objects are written:
# (list, state, result key).
PLAN_STEPS = (
    ("force_delete", "lost", "forced"),  # first: the graceful deletion of a deleted Performer's pod waits
    ("create", "created", "created"),
    ("apply", "present", "applied"),
    ("restore", "updated", "updated"),
    ("replace", "replaced", "replaced"),
    ("delete", "absent", "deleted"),
)
CONCURRENT_PERFORMERS = 16  # each issues its calls one after the other


class Reconciler:
    """Writes the objects of `plan` with `objects` and the statuses with `statuses`, per Performer."""

    def __init__(
        self,
        objects: ObjectWriter,
        statuses: StatusWriter,
        plan: Obj,
        *,
        concurrency: int = CONCURRENT_PERFORMERS,
    ) -> None:
        self.objects, self.statuses, self.plan = objects, statuses, plan
        self.concurrency = concurrency

    def run(self, batch: list[Obj], on_result: Callable[[Obj], None] | None = None) -> tuple[Obj, list[Obj]]:
        """The registered result of the writes by result key (`forced`, `created`, `applied`, `updated`,
        `replaced`, `deleted`) and one status result per Performer of `batch`, in order; each
        status result is also handed to `on_result` as soon as it is known."""
        units, unowned = self._units(batch)
        written: dict[tuple[int, int], Obj] = {}

        def write(entries: list[Entry], item: Obj | None = None) -> None:
            upgrading = (lambda: self._say_upgrading(item)) if item is not None else None
            for step, position, obj in entries:
                _, state, result_key = PLAN_STEPS[step]
                written[(step, position)] = result = self.objects.write_one(obj, state, upgrading)
                self.statuses.record(result_key, result)

        def reconcile(item: Obj) -> Obj:
            write(units.pop(item_key(item), []), item)
            result = self.statuses.reconcile_status(item)
            if on_result:
                on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(reconcile, batch))
            list(pool.map(lambda entry: write([entry]), unowned))
        registered = {
            result_key: as_registered(
                [written[(step, position)] for position in range(len(self.plan.get(name) or []))], state
            )
            for step, (name, state, result_key) in enumerate(PLAN_STEPS)
        }
        return registered, results

    def _say_upgrading(self, item: Obj) -> None:
        """The Performer's status says it is not ready (Upgrading, after a spec change) while its run
        waits for the replaced pod; a failed write is left to its status at the end of the run."""
        with contextlib.suppress(Exception):
            self.statuses.write_upgrading(item)

    def _units(self, batch: list[Obj]) -> tuple[dict[str, list[Entry]], list[Entry]]:
        """Each Performer's objects, in the order they are written, and the objects of no Performer
        of the batch (the role plans none)."""
        owners = {}
        for key in map(item_key, batch):
            namespace, name = key.split("/", 1)
            owners[(namespace, child_name(name))] = key
        units: dict[str, list[Entry]] = {}
        unowned: list[Entry] = []
        for step, (name, _, _) in enumerate(PLAN_STEPS):
            for position, obj in enumerate(self.plan.get(name) or []):
                meta = obj.get("metadata") or {}
                owner = owners.get((meta.get("namespace"), meta.get("name")))
                (units.setdefault(owner, []) if owner else unowned).append((step, position, obj))
        return units, unowned
