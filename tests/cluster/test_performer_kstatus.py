"""The Performer's status read by kstatus' own computation (sigs.k8s.io/cli-utils/pkg/kstatus/status,
built from the Go module proxy by hack/kstatus/build.sh), as Flux, Argo CD and `kpt live` read it:
Current once Ready, InProgress while its pod is not ready and the moment its spec changes, Failed
when Stalled by an error only a spec change can fix (a GPU type the operator does not know), which
the operator does not retry until the spec changes, and Failed when its pod stays Unschedulable.
The Performer's grpcEndpoint stays empty while it has no Service."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.go_tools import go_tool
from tests.support.operator import OperatorProcess
from tests.support.paths import REPO
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    create_performer,
    get_performer,
    performer,
    set_pod_ready,
    wait_performer_ready,
)
from tests.support.waiting import wait_for

UNSCHEDULABLE_TIMEOUT = 3


@pytest.fixture(scope="module")
def kstatus() -> Path:
    return go_tool("kstatus", REPO / "hack" / "kstatus" / "build.sh", "HOURGLASS_KSTATUS")


def compute(kstatus: Path, obj: dict) -> tuple[str, str]:
    done = subprocess.run([str(kstatus)], input=json.dumps([obj]), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    return result["status"], result["message"]


@pytest.fixture
def operator(operators, tmp_path: Path) -> OperatorProcess:
    """An operator that knows only the A100's GPU products and stalls a pod Unschedulable for 3 s."""
    watches = yaml.safe_load((REPO / "watches.yaml").read_text())
    watches[0]["role"] = watches[0]["finalizer"]["role"] = str(REPO / "roles" / "performer")
    watches[0]["vars"] = {
        "performer_gpu_products": {"nvidia-a100": ["NVIDIA-A100-SXM4-80GB"]},
        "performer_unschedulable_timeout": UNSCHEDULABLE_TIMEOUT,
    }
    (tmp_path / "watches.yaml").write_text(yaml.safe_dump(watches))
    process = operators("--watches-file", str(tmp_path / "watches.yaml"))
    process.wait_ready()
    return process


def runs_of(process: OperatorProcess, key: str) -> int:
    return sum(
        1
        for line in process.log_entries()
        if line["msg"] == "running ansible" and key in line.get("keys", [])
    )


def test_a_performer_is_current_when_ready_and_in_progress_while_not_or_when_its_spec_changes(
    kstatus, core, custom, namespace, operator
):
    created = create_performer(custom, namespace, performer("steady", config={}))
    assert compute(kstatus, created)[0] == "Current"  # no status yet: kstatus knows nothing to wait for
    ready = wait_performer_ready(custom, namespace, "steady")
    assert compute(kstatus, ready) == ("Current", "Resource is Ready")
    assert (condition(ready, "Reconciling")["status"], condition(ready, "Stalled")["status"]) == (
        "False",
        "False",
    )
    set_pod_ready(core, namespace, "performer-steady", False)  # as the kubelet would

    def not_ready() -> dict | None:
        cr = get_performer(custom, namespace, "steady")
        return cr if not cr["status"]["ready"] else None

    lost = wait_for(not_ready, timeout=60, what="the status to follow the pod")
    assert compute(kstatus, lost)[0] == "InProgress"
    assert condition(lost, "Reconciling")["status"] == "True"
    set_pod_ready(core, namespace, "performer-steady", True)
    assert compute(kstatus, wait_performer_ready(custom, namespace, "steady"))[0] == "Current"
    changed = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "steady", {"spec": {"version": "v2"}}
    )
    status, message = compute(kstatus, changed)
    assert status == "InProgress" and "latest observed generation is 1" in message
    assert compute(kstatus, wait_performer_ready(custom, namespace, "steady"))[0] == "Current"


def test_an_unknown_gpu_type_stalls_without_retries_until_the_spec_changes(
    kstatus, custom, namespace, operator
):
    create_performer(custom, namespace, performer(
        "mystery", config={}, hardwareRequirements={"gpuType": "nvidia-h100", "gpuCount": 1}
    ))  # fmt: skip

    def stalled() -> dict | None:
        cr = get_performer(custom, namespace, "mystery")
        return cr if condition(cr, "Stalled").get("status") == "True" else None

    cr = wait_for(stalled, timeout=60, what="Stalled=True")
    status, message = compute(kstatus, cr)
    assert status == "Failed" and 'unknown GPU type "nvidia-h100"' in message
    assert condition(cr, "Stalled")["reason"] == "InvalidSpec"
    assert condition(cr, "Reconciling")["status"] == "False"
    assert cr["status"]["grpcEndpoint"] == ""  # no Service
    # Another Performer reconciled and ready afterwards: the stalled one had no second run meanwhile
    # (a failure would have been retried after 1 s, 2 s, 4 s, ...).
    wait_for(lambda: "reconcile stalled" in "\n".join(operator.log_lines()), timeout=30, what="the stall")
    create_performer(custom, namespace, performer("after", config={}))
    wait_performer_ready(custom, namespace, "after")
    assert runs_of(operator, f"{namespace}/mystery") == 1
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "mystery",
        {"spec": {"hardwareRequirements": {"gpuType": "nvidia-a100"}}},
    )
    fixed = wait_performer_ready(custom, namespace, "mystery")
    assert compute(kstatus, fixed)[0] == "Current"
    assert runs_of(operator, f"{namespace}/mystery") >= 2
    assert condition(fixed, "Stalled")["status"] == "False"
    assert fixed["status"]["grpcEndpoint"] == f"performer-mystery.{namespace}.svc.cluster.local"


def test_a_pod_unschedulable_for_too_long_stalls(kstatus, custom, namespace, operator, node_catalog):
    create_performer(custom, namespace, performer("greedy", config={}, hardwareRequirements={"gpuCount": 16}))

    def unschedulable() -> dict | None:
        cr = get_performer(custom, namespace, "greedy")
        return cr if condition(cr, "Scheduled").get("status") == "False" else None

    waiting = wait_for(unschedulable, timeout=60, what="Scheduled=False")
    if condition(waiting, "Stalled").get("status") != "True":  # within the 3 s
        assert compute(kstatus, waiting)[0] == "InProgress"

    def stalled() -> dict | None:
        cr = get_performer(custom, namespace, "greedy")
        return cr if condition(cr, "Stalled").get("status") == "True" else None

    cr = wait_for(stalled, timeout=60, what="Stalled=True after the pod stayed Unschedulable")
    assert condition(cr, "Stalled")["reason"] == "Unschedulable"
    assert compute(kstatus, cr)[0] == "Failed"
