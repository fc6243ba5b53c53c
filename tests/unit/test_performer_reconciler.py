"""The performer_reconcile module's logic (plugins/module_utils/performer_reconciler.py) against a fake
API: each Performer's status is written as soon as its own Pod and Service are, before the objects of
the Performers after it; what it reports is what performer_apply with the plan and then
performer_status report for the same batch; one Performer's failed write is its own error; objects
of no Performer of the batch are still written."""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    ObjectWriter,
    as_registered,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_reconciler import Reconciler
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import StatusWriter

from tests.support.fake_kube_api import FakeKubeApi

NOW = "2026-11-22T10:00:00Z"
MANAGER = contract.DEFAULT_FIELD_MANAGER


def performer(name: str) -> dict:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1, "resourceVersion": "5"}
    return {"apiVersion": contract.API_VERSION, "kind": contract.KIND, "metadata": meta, "status": {}}


def item(name: str) -> dict:
    return {"_hourglass_eigenlayer_io_performer": performer(name), "_hourglass_observed": {}}


def children(name: str) -> list[dict]:
    meta = {
        "name": contract.child_name(name),
        "namespace": "ns",
        "labels": contract.child_labels(name, "0xabc"),
    }
    annotations = {contract.SPEC_HASH_ANNOTATION: "h"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "annotations": annotations},
           "spec": {"containers": [{"name": "performer", "image": "example/performer:1"}]}}  # fmt: skip
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
               "spec": {"selector": meta["labels"], "ports": [{"port": 8080}]}}  # fmt: skip
    return [pod, service]


def plan_of(names: list[str], extra: list[dict] | None = None) -> dict:
    entry = {"error": None, "upgrading": False, "upgraded_at": None, "pod_action": "create", "spec_hash": "h"}
    return {
        "apply": [obj for name in names for obj in children(name)] + (extra or []),
        "restore": [],
        "replace": [],
        "delete": [],
        "performers": {
            f"ns/{name}": {**entry, "pod_labels": contract.child_labels(name, "0xabc")} for name in names
        },
    }


def reconciler(api: FakeKubeApi, plan: dict, concurrency: int = 16) -> Reconciler:
    objects = ObjectWriter(api, field_manager=MANAGER)
    statuses = StatusWriter(api, plan=plan["performers"], now=NOW)
    return Reconciler(objects, statuses, plan, concurrency=concurrency)


def status_path(name: str) -> str:
    return f"/apis/{contract.GROUP}/{contract.VERSION}/namespaces/ns/{contract.PLURAL}/{name}/status"


def test_each_status_is_written_as_soon_as_its_own_objects_are_before_the_next_performers_objects():
    api = FakeKubeApi()
    names = ["a", "b", "c"]
    calls_when_reported: dict[str, int] = {}

    def reported(result: dict) -> None:
        calls_when_reported[result["name"]] = len(api.calls)

    registered, results = reconciler(api, plan_of(names), concurrency=1).run(
        [item(name) for name in names], on_result=reported
    )
    assert [r["name"] for r in results] == names
    for name in names:
        child = contract.child_name(name)
        writes = [
            i
            for i, (method, path) in enumerate(api.calls)
            if path.endswith(f"/{child}") and method == "PATCH"
        ]
        status = api.calls.index(("PATCH", status_path(name)))
        assert len(writes) == 2 and max(writes) < status  # its pod and service, then its status
        assert calls_when_reported[name] <= min(  # reported before anything of the next one is written
            (i for i, (method, path) in enumerate(api.calls) if i > status and "/performers/" not in path
             and method == "PATCH"), default=len(api.calls),
        )  # fmt: skip
    assert [r["object"]["name"] for r in registered["applied"]["result"]["results"]] == [
        contract.child_name(name) for name in names for _ in ("pod", "service")
    ]


def test_it_reports_what_apply_then_status_report_for_the_same_batch():
    names = ["a", "b", "c", "d"]
    plan = plan_of(names)
    batch = [item(name) for name in names]
    together = FakeKubeApi()
    registered, results = reconciler(together, plan).run(batch)

    apart = FakeKubeApi()
    writer = ObjectWriter(apart, field_manager=MANAGER)
    applied = as_registered(writer.write(plan["apply"], "present"), "present")
    expected = StatusWriter(apart, plan=plan["performers"], applied=applied, now=NOW).write(batch)

    def outline(result: dict) -> tuple:
        baseline = dict(result["baseline"] or {})
        baseline.pop("service_resource_version", None)  # the fake's versions count its calls
        return (
            result["name"],
            result["phase"],
            result["ready"],
            result["error"],
            result["patched"],
            baseline,
        )

    assert [outline(r) for r in results] == [outline(r) for r in expected]
    assert all(r["baseline"] for r in results)
    assert registered["applied"]["invocation"] == applied["invocation"]
    assert [(r["object"], r["changed"]) for r in registered["applied"]["result"]["results"]] == [
        (r["object"], r["changed"]) for r in applied["result"]["results"]
    ]
    assert all(registered[key]["skipped"] for key in ("updated", "replaced", "deleted"))
    assert sorted(together.calls) == sorted(apart.calls)  # the same requests, in another order


def test_a_failed_write_is_the_error_of_its_own_performer_only():
    api = FakeKubeApi()
    api.fail("PATCH", "/api/v1/namespaces/ns/pods/performer-b", 422, "spec.containers: Required value")
    _, results = reconciler(api, plan_of(["a", "b"])).run([item("a"), item("b")])
    by_name = {r["name"]: r for r in results}
    assert by_name["a"]["error"] is None and by_name["a"]["baseline"]
    assert by_name["b"]["error"] == "422 spec.containers: Required value"
    assert by_name["b"]["phase"] == "Failed" and by_name["b"]["baseline"] is None


def test_objects_of_no_performer_of_the_batch_are_still_written_and_reported():
    stray = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "elsewhere", "namespace": "ns"},
             "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    api = FakeKubeApi()
    registered, results = reconciler(api, plan_of(["a"], extra=[stray])).run([item("a")])
    assert [r["name"] for r in results] == ["a"]
    assert ("PATCH", "/api/v1/namespaces/ns/services/elsewhere") in api.calls
    assert registered["applied"]["result"]["results"][-1]["object"]["name"] == "elsewhere"


def replacing(name: str, lingering_looks: int) -> tuple[FakeKubeApi, dict]:
    """A fake API with the old pod of `name`, still found by that many looks after its deletion, and
    the plan that replaces it."""
    pod = children(name)[0]
    pod_path = f"/api/v1/namespaces/ns/pods/{contract.child_name(name)}"
    api = FakeKubeApi({pod_path: {**pod, "metadata": {**pod["metadata"], "resourceVersion": "3"}}})
    api.linger[pod_path] = lingering_looks
    plan = {**plan_of([name]), "apply": [], "replace": [pod]}
    plan["performers"][f"ns/{name}"].update(pod_action="replace", upgrading=True, upgraded_at=NOW)
    return api, plan


def status_patches(api: FakeKubeApi, name: str) -> list[tuple[int, dict]]:
    return [(i, body) for i, (method, path, body) in enumerate(api.bodies)
            if method == "PATCH" and path == status_path(name)]  # fmt: skip


def test_a_replacement_that_waits_for_the_old_pod_says_upgrading_first_with_one_event():
    api, plan = replacing("a", lingering_looks=3)
    reconciler(api, plan).run([item("a")])
    pod_creates = ("POST", "/api/v1/namespaces/ns/pods")
    created = [call[:2] == pod_creates and "dryRun" not in call[2] for call in api.queries].index(True)
    [(first, upgrading), (last, _)] = status_patches(api, "a")
    assert first < created < last  # said while the old pod was still there, then again with the new one
    assert (upgrading["status"]["phase"], upgrading["status"]["ready"]) == ("Upgrading", False)
    reasons = [body["reason"] for method, path, body in api.bodies if path.endswith("/events")]
    assert reasons.count("Upgrading") == 1

    api, plan = replacing("a", lingering_looks=0)  # gone at the first look: one status, as before
    reconciler(api, plan).run([item("a")])
    assert len(status_patches(api, "a")) == 1


def test_an_ended_pod_replaced_while_its_run_waits_for_it_is_counted_once():
    """The status written while the run waits for the ended pod to go and the one written after say
    the same count: the plan's, not one more each time the status is computed."""
    api, plan = replacing("a", lingering_looks=3)
    plan["performers"]["ns/a"].update(upgrading=False, upgraded_at=None, pod_ended="OutOfcpu", ended_pods=3)
    cr = item("a")
    cr["_hourglass_eigenlayer_io_performer"]["status"] = {"endedPods": 2}
    reconciler(api, plan).run([cr])
    patches = status_patches(api, "a")
    assert len(patches) == 2 and [body["status"]["endedPods"] for _, body in patches] == [3, 3]
