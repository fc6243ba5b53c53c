"""A batch of due keys sorted by lifecycle, and the run request of each group."""

from __future__ import annotations

from pathlib import Path

from hourglass_operator.batching import (
    finalizer_is_the_roles_deletion,
    operator_sdk_vars,
    run_request,
    sort_by_lifecycle,
)
from hourglass_operator.watches import Finalizer, Watch

FIN = "example.com/finalizer"
ROLE, CLEANUP = Path("/c/roles/app"), Path("/c/roles/cleanup")


def cr(name: str, finalizers: tuple[str, ...] = (), deleting: bool = False) -> dict:
    meta = {"name": name, "namespace": "ns", "finalizers": list(finalizers)}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"replicaCount": 2, "nodeSelector": {"diskType": "ssd"}}}


DEFAULT_FINALIZER = Finalizer(FIN, vars={"state": "absent"})


def watch(finalizer: Finalizer | None = DEFAULT_FINALIZER, **options) -> Watch:
    return Watch(group="example.com", version="v1", kind="App", role=ROLE, vars={"mode": "x"},
                 finalizer=finalizer, plural="apps", **options)  # fmt: skip


def test_a_batch_sorted_by_lifecycle():
    cached = {
        "ns/new": cr("new"), "ns/old": cr("old", (FIN,)), "ns/del": cr("del", (FIN,), deleting=True),
        "ns/foreign": cr("foreign", ("other/f",), deleting=True),
        "ns/orphan": cr("orphan", (FIN, "orphan"), deleting=True),  # kubectl delete --cascade=orphan
    }  # fmt: skip
    batch = sort_by_lifecycle([*cached, "ns/gone"], cached.get, FIN)
    assert batch.gone == ["ns/gone"]
    assert batch.needs_finalizer == [cached["ns/new"]]
    assert batch.present == [cached["ns/old"]]
    assert batch.deleting == [cached["ns/del"]]
    assert batch.orphaning == [cached["ns/orphan"]]


def test_without_a_finalizer_everything_present_is_run_and_nothing_deleting():
    cached = {"ns/a": cr("a"), "ns/b": cr("b", deleting=True)}
    batch = sort_by_lifecycle(["ns/a", "ns/b"], cached.get, None)
    assert (batch.present, batch.needs_finalizer, batch.deleting) == ([cached["ns/a"]], [], [])


def test_run_requests_for_present_and_absent():
    items = [{"item": 1}]
    present = run_request(watch(), "present", items, state_var="state", items_var="items")
    assert (present.role, present.playbook) == (ROLE, None)
    assert present.extravars == {"mode": "x", "state": "present", "items": items}
    absent = run_request(watch(), "absent", items, state_var="state", items_var="items")
    assert absent.extravars == {"mode": "x", "state": "absent", "items": items}
    own = watch(Finalizer(FIN, role=CLEANUP, vars={"purge": True}))
    absent = run_request(own, "absent", items, state_var="state", items_var="items")
    assert (absent.role, absent.extravars) == (CLEANUP, {"mode": "x", "purge": True, "state": "absent",
                                                         "items": items})  # fmt: skip


def test_a_state_set_by_the_watch_vars_wins():
    w = Watch(group="g", version="v1", kind="App", role=ROLE, vars={"state": "custom"}, plural="apps")
    assert run_request(w, "present", [], state_var="state", items_var="items").extravars["state"] == "custom"


def test_which_finalizer_runs_are_the_roles_own_deletion():
    assert finalizer_is_the_roles_deletion(watch())
    assert finalizer_is_the_roles_deletion(watch(Finalizer(FIN, role=ROLE)))
    assert not finalizer_is_the_roles_deletion(watch(Finalizer(FIN, role=CLEANUP)))
    assert not finalizer_is_the_roles_deletion(watch(None))


def test_operator_sdk_vars_with_and_without_snake_case():
    resource = cr("a")
    assert operator_sdk_vars(watch(), resource) == {
        "replicaCount": 2, "nodeSelector": {"diskType": "ssd"},
        "ansible_operator_meta": {"name": "a", "namespace": "ns"}, "_example_com_app": resource,
    }  # fmt: skip
    snake = operator_sdk_vars(watch(snake_case_parameters=True), resource)
    assert (snake["replica_count"], snake["node_selector"]) == (2, {"disk_type": "ssd"})
