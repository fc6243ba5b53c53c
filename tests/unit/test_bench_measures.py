"""The operator benchmark's measuring parts without a cluster: the CPU and memory of a process tree
read from /proc (bench/process_tree.py) with real child processes, the API server's request counter
parsed from its metrics text (bench/apiserver.py), what a watch records (bench/watching.py), the
median of repeated runs (bench/repeat.py), its table (bench/operator_table.py), the PNG chart of a
run (bench/charts.py), and which checkout the collection the runs load comes from."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
import yaml

from bench import charts, floors, process_tree, write_costs
from bench.apiserver import by_verb, requests_by_kind
from bench.operator_bench import REPLACEMENT_STEPS, collection_tree
from bench.operator_table import rows
from bench.repeat import median_of
from bench.watching import Watcher, performer_ready_at, pod_ready, wait_gone
from tests.support.paths import REPO

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
HOLD = """
import sys
block = bytearray(60 * 1024 * 1024)
block[::4096] = b"x" * len(block[::4096])  # touched, so resident
print("ready", flush=True)
sys.stdin.read()
"""


def test_the_collection_the_benchmark_checks_is_this_checkouts() -> None:
    # The benchmark refuses to run when the collection is another checkout's; from this one it runs.
    assert collection_tree() == Path(__file__).resolve().parents[2]


def test_parse_stat_reads_a_command_with_spaces_and_parentheses() -> None:
    fields = " ".join(["S", "42", *["0"] * 9, "100", "20", "3", "4", *["0"] * 30])
    stat = process_tree.parse_stat(f"77 (a (b) c) {fields}")
    assert (stat.pid, stat.ppid, stat.cpu_ticks, stat.name) == (77, 42, 127, "a (b) c")


def test_control_plane_cpu_is_summed_by_component_from_the_processes_names(tmp_path) -> None:
    ticks = process_tree.CLOCK_TICKS

    def process(pid: int, name: str, utime: int, stime: int) -> None:
        fields = " ".join(["S", "1", *["0"] * 9, str(utime), str(stime), "0", "0", *["0"] * 30])
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({name}) {fields}")

    process(10, "kube-apiserver", 3 * ticks, ticks)
    process(11, "etcd", ticks, 0)
    process(12, "kube-controller", 0, ticks)  # kube-controller-manager, cut to 15 characters
    process(13, "etcd", ticks, ticks)  # a second one (another cluster on this machine) adds up
    process(14, "python3", 50 * ticks, 0)  # not the control plane
    (tmp_path / "self").mkdir()
    assert process_tree.control_plane_cpu_seconds(tmp_path) == {
        "apiserver": 4.0, "etcd": 3.0, "controller-manager": 1.0,
    }  # fmt: skip
    assert process_tree.control_plane_cpu_seconds(tmp_path / "self") == {}  # a cluster elsewhere


def test_tree_lists_descendants_and_nothing_else() -> None:
    def stat(pid: int, ppid: int) -> process_tree.Stat:
        return process_tree.Stat(pid, ppid, 0)

    stats = {s.pid: s for s in (stat(1, 0), stat(10, 1), stat(11, 10), stat(12, 11), stat(20, 1))}
    assert sorted(process_tree.tree(10, stats)) == [10, 11, 12]
    assert process_tree.tree(99, stats) == []


def test_tree_cpu_counts_a_child_that_already_exited() -> None:
    own_before = sum(os.times()[:2])
    before = process_tree.tree_cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", BURN], check=True)
    used = process_tree.tree_cpu_seconds(os.getpid()) - before
    own = sum(os.times()[:2]) - own_before
    assert used - own >= 0.35  # the child's 0.4 s, through this process's cutime/cstime


def test_tree_rss_sums_live_children() -> None:
    own, processes = process_tree.tree_rss_mb(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        total, with_child = process_tree.tree_rss_mb(os.getpid())
        assert with_child == processes + 1
        assert total - own >= 60
    finally:
        child.communicate("")


def test_tree_pss_splits_the_pages_a_forked_child_shares() -> None:
    ballast = bytearray(os.urandom(64 * 1024 * 1024))  # 64 MB of this process's own pages
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # shares every page with the parent until one writes it
        os.close(write)
        os.read(read, 1)
        os._exit(0)
    try:
        rss, processes = process_tree.tree_rss_mb(os.getpid())
        pss = process_tree.tree_pss_mb(os.getpid())
        assert processes >= 2 and len(ballast) > 0
        assert rss - pss >= 50  # the RSS sum counts the shared 64 MB twice, the PSS sum once
    finally:
        os.write(write, b"x")
        os.waitpid(child, 0)


def test_requests_by_kind_sums_the_counter_and_ignores_other_metrics() -> None:
    text = "\n".join(
        [
            "# TYPE apiserver_request_total counter",
            'apiserver_request_total{code="200",resource="pods",verb="GET",version="v1"} 7',
            'apiserver_request_total{code="404",resource="pods",verb="GET",version="v1"} 2',
            'apiserver_request_total{code="201",resource="performers",verb="POST",version="v1alpha1"} 5',
            'apiserver_request_total{resource="pods",subresource="status",verb="PATCH",version="v1"} 3',
            'apiserver_request_total{code="200",subresource="/healthz",verb="",version=""} 1',
            'apiserver_request_duration_seconds_count{verb="GET"} 1000',
        ]
    )
    by_kind = requests_by_kind(text)
    assert by_kind == {"GET pods": 9.0, "POST performers": 5.0, "PATCH pods/status": 3.0, "other": 1.0}
    assert by_verb(by_kind) == {"GET": 9.0, "POST": 5.0, "PATCH": 3.0, "other": 1.0}


def test_median_of_runs_takes_numbers_common_to_all_and_drops_the_rest() -> None:
    runs = [
        {"a": 1.0, "b": {"c": 10, "d": [1]}, "only_first": 3, "nan": float("nan"), "flag": True},
        {"a": 3.0, "b": {"c": 30, "d": [2]}, "nan": 4.0, "flag": False},
        {"a": 2.0, "b": {"c": 20, "d": [3]}, "nan": float("nan"), "flag": True},
    ]
    assert median_of(runs) == {"a": 2.0, "b": {"c": 20.0}, "nan": 4.0}


def test_operator_chart_writes_a_png(tmp_path: Path) -> None:
    run = {
        "run": 1,
        "count": 3,
        "timelines": {
            "floor_ready": [0.5, 0.7, 0.9],
            "operator_ready": [1.0, 1.5, 2.0],
            "operator_pods_ready": [0.8, 1.2, 1.9],
            "floor_gone": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "operator_children_gone": [1.0] * 6,
            "operator_performers_gone": [2.0] * 3,
            "operator_tree_rss": [(0.0, 100.0, 1), (1.0, 180.0, 4)],
            "operator_phase_starts": {"create": 0.5},
        },
    }
    path = charts.operator_chart(run, tmp_path / "run.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_watcher_times_each_incarnation_and_deletions() -> None:
    blocked = threading.Event()
    watcher = Watcher(lambda *_, **__: blocked.wait(), pod_ready, "ns")  # events fed by hand below
    try:

        def pod(uid: str, ready: bool, version: str) -> dict:
            condition = {"type": "Ready", "status": "True" if ready else "False"}
            return {
                "metadata": {"name": "p", "uid": uid, "resourceVersion": version},
                "status": {"conditions": [condition]},
            }

        assert watcher._record("ADDED", pod("u1", False, "1")) == "1"
        assert watcher.uid("p") == "u1" and "p" not in watcher.first
        watcher._record("MODIFIED", pod("u1", True, "2"))
        first_ready = watcher.first["p"]
        assert watcher.uid_first["u1"] == first_ready
        assert "u1" not in watcher.marked
        marking = pod("u1", True, "3")
        marking["metadata"]["deletionTimestamp"] = "2026-12-05T00:00:00Z"
        watcher._record("MODIFIED", marking)
        assert watcher.marked["u1"] >= first_ready  # the old pod's deletion began
        deleted_after = time.monotonic()
        watcher._record("DELETED", pod("u1", True, "3"))
        assert watcher.uid("p") is None and watcher.gone["p"] >= deleted_after
        watcher._record("ADDED", pod("u2", True, "4"))
        assert watcher.first["p"] == first_ready  # by name: the first incarnation's time
        assert watcher.incarnations["p"] == ["u1", "u2"]
        assert watcher.uid_first["u2"] >= watcher.gone["p"]
        assert wait_gone([watcher], {"p"}, deleted_after, 1, "p") == watcher.gone["p"]
        with pytest.raises(TimeoutError, match="p: 1 left"):
            wait_gone([watcher], {"p"}, time.monotonic(), 0.1, "p")
    finally:
        watcher.stop()
        blocked.set()


def test_watcher_lists_again_and_counts_what_went_unwatched_as_gone() -> None:
    listing: dict = {"metadata": {"resourceVersion": "1"}, "items": []}
    watching = threading.Event()
    release = threading.Event()

    def list_fn(namespace: str, **kwargs: object) -> object:
        if kwargs.get("watch"):
            watching.set()
            release.wait(30)
            raise ConnectionError("the watch dropped")
        return types.SimpleNamespace(data=json.dumps(listing).encode())

    def pod(name: str) -> dict:
        return {"metadata": {"name": name, "uid": name, "resourceVersion": "2"}, "status": {}}

    watcher = Watcher(list_fn, pod_ready, "ns")
    try:
        assert watching.wait(30)  # listed (nothing there), then watching
        watcher._record("ADDED", pod("kept"))
        watcher._record("ADDED", pod("went"))
        listing = {"metadata": {"resourceVersion": "9"}, "items": [pod("kept")]}
        before = time.monotonic()
        assert watcher._relist() == "9"
        assert watcher.gone.keys() == {"went"} and watcher.gone["went"] >= before
        assert watcher.uid("kept") == "kept" and watcher.uid("went") is None
        assert wait_gone([watcher], {"went"}, before, 1, "went") == watcher.gone["went"]
    finally:
        watcher.stop()
        release.set()


def test_operator_table_of_a_median_shows_what_the_median_dropped_as_absent() -> None:
    runs = [
        {
            "operator": {
                "drift": {
                    "drift_repair_s": {"status-forged": [seconds]},
                    "drift_repair_p50_s": seconds,
                    "drift_repair_p95_s": seconds,
                    "drift_repair_max_s": seconds,
                    "tree_cpu_s": 2 * seconds,
                    "load_average_1m_start_end": [1.0, 2.0],
                },
            },
        }
        for seconds in (1.0, 3.0, float("nan"))
    ]
    table = dict(rows(median_of(runs), argparse.Namespace(count=5)))
    assert table["drift -> repaired p50 / p95 / max"] == "2.00 s / 2.00 s / 2.00 s"
    drift_costs = table["  drift: CPU whole tree (per tampering) / peak RSS / PSS whole tree"]
    assert drift_costs == "4.00 s (-) / - / -"
    assert "  status-forged p50 / max" not in table  # the per-case lists are per run only
    assert "  drift: control plane CPU (per tampering), by component" not in table  # none was measured
    assert "  drift: load average 1 min, start -> end" not in table


def test_operator_table_shows_the_control_plane_cpu_of_a_phase_by_component() -> None:
    create = {
        "all_ready_s": 4.0,
        "api_requests": 1600,
        "api_requests_per_object": 8.0,
        "control_plane_cpu_s": {"apiserver": 4.5, "etcd": 1.4, "kwok": 0.6},
        "control_plane_cpu_ms_per_object": 32.5,
    }
    result = {"floor": {"create": create, "delete": {"all_gone_s": 3.0}}}
    table = dict(rows(result, argparse.Namespace(count=200)))
    assert table["  create: control plane CPU (per pair), by component"] == (
        "6.50 s (32.5 ms): apiserver 4.5, etcd 1.4, kwok 0.6"
    )
    assert "  delete: control plane CPU (per pair), by component" not in table


def test_a_performer_is_ready_at_a_generation_once_its_ready_status_was_written_for_it() -> None:
    cr = {"metadata": {"generation": 3}, "status": {"ready": True, "observedGeneration": 2}}
    assert performer_ready_at(cr, 2) and not performer_ready_at(cr, 3)
    assert not performer_ready_at(cr)  # by default its own generation: the status is one behind
    cr["status"]["observedGeneration"] = 3
    assert performer_ready_at(cr)
    cr["status"]["ready"] = False
    assert not performer_ready_at(cr, 1)


def test_operator_table_breaks_a_spec_change_down_into_the_steps_of_the_pods_replacement() -> None:
    steps = dict(zip(REPLACEMENT_STEPS, (1.5, 1.8, 2.0, 2.1, 2.4, 2.6), strict=True))
    changes = {"spec_change_steps_p50_s": steps, "spec_changes_completed": 50}
    changes["spec_change_pods_made_again"] = 3
    runs = [{"operator": {"changes": changes}}, {"operator": {"changes": changes}}]
    table = dict(rows(median_of(runs), argparse.Namespace(count=1000)))
    breakdown = table["  p50: old pod deleted / gone / new pod / bound / Ready / Performer ready"]
    assert breakdown == "1.50 s / 1.80 s / 2.00 s / 2.10 s / 2.40 s / 2.60 s"  # in the order of the steps
    assert table["  new pods deleted by another client and made again"] == "3"


def test_the_contract_floor_writes_the_roles_children_owned_by_the_created_performer() -> None:
    [(name, wanted)] = floors.contract_objects("bench", ["p"]).items()
    assert name == "p" and wanted["performer"]["metadata"]["name"] == "p"
    for kind in ("pod", "service"):
        child = wanted[kind]
        assert child["metadata"]["name"] == "performer-p"
        owned = floors.owned_by(child, "uid-of-p")
        [reference] = owned["metadata"]["ownerReferences"]
        assert (reference["kind"], reference["name"], reference["uid"]) == ("Performer", "p", "uid-of-p")
        assert reference["controller"] is True
        assert child["metadata"]["ownerReferences"][0]["uid"] == floors.UID_TO_COME  # rendered once, copied
    assert wanted["pod"]["spec"]["containers"][0]["ports"][0]["name"] == "grpc"


def test_the_operator_is_measured_against_each_floor_it_ran_with() -> None:
    def floor(ready: float, gone: float) -> dict:
        return {"create": {"all_ready_s": ready}, "delete": {"all_gone_s": gone}}

    operator = {
        "create": {"all_ready_s": 30.0},
        "delete": {"children_gone_s": 24.0, "performers_gone_s": 25.0},
    }
    contract = floor(15.0, 12.0)
    both = floors.ratios({"floor": floor(10.0, 8.0), "contract_floor": contract, "operator": operator})
    assert both == {
        "operator_over_floor": {"all_ready": 3.0, "children_gone": 3.0, "performers_gone": 3.12},
        "operator_over_contract_floor": {"all_ready": 2.0, "children_gone": 2.0, "performers_gone": 2.08},
        "contract_floor_over_floor": {"all_ready": 1.5, "all_gone": 1.5},
    }
    assert floors.ratios({"floor": floor(10.0, 8.0), "operator": operator}).keys() == {"operator_over_floor"}
    table = dict(rows({"contract_floor": contract, **both}, argparse.Namespace(count=3)))
    assert table["contract floor: N Performers, Pods, Services until all Ready"] == "15.0 s"
    assert table["  contract floor / floor"] == "1.50 x"
    assert table["  contract floor / floor: all gone"] == "1.50 x"


def test_the_status_floor_compares_performers_gone_with_its_own_performers_gone() -> None:
    operator = {
        "create": {"all_ready_s": 30.0},
        "delete": {"children_gone_s": 24.0, "performers_gone_s": 25.0},
    }
    status = {"create": {"all_ready_s": 20.0}, "delete": {"all_gone_s": 16.0, "performers_gone_s": 20.0}}
    floor = {"create": {"all_ready_s": 10.0}, "delete": {"all_gone_s": 8.0}}
    found = floors.ratios({"floor": floor, "status_floor": status, "operator": operator})
    over_status = {"all_ready": 1.5, "children_gone": 1.5, "performers_gone": 1.25}
    assert found["operator_over_status_floor"] == over_status
    assert found["status_floor_over_floor"] == {"all_ready": 2.0, "all_gone": 2.0}
    table = dict(rows({"status_floor": status, **found}, argparse.Namespace(count=3)))
    assert table["status floor: N Performers until all ready"] == "20.0 s"
    assert table["  status floor: until the Performers are gone"] == "20.0 s"
    assert table["  status floor / floor: children gone"] == "2.00 x"


def test_the_status_floor_writes_each_status_once_it_is_due_while_the_creates_go_on() -> None:
    created: list[str] = []
    written: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def create(name: str) -> None:
        with lock:
            created.append(name)

    def write(name: str) -> None:
        with lock:
            written.append((name, name in created))

    floors._alongside(["a", "b", "c"], create, lambda name: name in created, write, 5, "statuses")
    assert sorted(written) == [("a", True), ("b", True), ("c", True)]


def test_the_status_floor_stops_at_a_failed_create_instead_of_waiting_for_its_status() -> None:
    def create(name: str) -> None:
        if name == "b":
            raise RuntimeError("the API server refused b")

    # Waiting for b's status would end in a TimeoutError after 5 s instead.
    with pytest.raises(RuntimeError, match="refused b"):
        floors._alongside(["a", "b"], create, lambda name: False, lambda name: None, 5, "statuses")


def test_the_write_cost_crds_are_the_performer_crd_under_throwaway_groups_one_without_cel_rules() -> None:
    def rules(node: object) -> int:
        if isinstance(node, dict):
            return len(node.get("x-kubernetes-validations", [])) + sum(rules(v) for v in node.values())
        return sum(rules(v) for v in node) if isinstance(node, list) else 0

    shipped, bare = write_costs.crd_variant("shipped"), write_costs.crd_variant("no-cel")
    original = yaml.safe_load((REPO / "crds" / "hourglass.eigenlayer.io_performers.yaml").read_text())
    assert (shipped["spec"]["group"], bare["spec"]["group"]) == (
        "shipped.writecost.bench.hourglass.example",
        "no-cel.writecost.bench.hourglass.example",
    )
    assert shipped["metadata"]["name"] == "performers.shipped.writecost.bench.hourglass.example"
    assert rules(shipped) == rules(original) > 100
    assert rules(bare) == 0
    assert shipped["spec"]["versions"] == original["spec"]["versions"]
