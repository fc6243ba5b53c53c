"""`make demo`'s script works against a cluster: it installs the CRD, starts the operator, creates
every sample Performer, waits until they are Ready and lists them with `kubectl get performers -A`;
then it runs the task flow on the local chain and prints each step — the devnet, the tasks created on
chain, the executor, its Performer and pod, each result and the TaskVerified transaction — and the
tasks are verified on chain. Its closing hint repeats the variables it ran with. `hack/demo.sh stop`
stops everything it started, the devnet included, and deletes the demo's Performers while the
operator still runs (here against the test cluster, in a test namespace)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from hack.devnet.devnet import Devnet
from tests.support.paths import REPO, SAMPLES
from tests.support.performers import GROUP, PLURAL, VERSION, delete_performers

TASK_ID = re.compile(r"^task (0x[0-9a-f]{64})$", re.MULTILINE)


def section(output: str, title: str) -> str:
    """The text of the demo step whose title starts with `title` (up to the next step)."""
    start = output.index(f"==> {title}")
    end = output.find("\n==> ", start + 1)
    return output[start : end if end != -1 else len(output)]


def test_demo_makes_the_sample_performers_ready_and_runs_tasks_from_the_chain_to_task_verified(
    cluster, custom, namespace
):
    env = {
        **os.environ,
        "HOURGLASS_KUBECONFIG": str(cluster.kubeconfig),
        "HOURGLASS_DEMO_NAMESPACE": namespace,
        "PATH": f"{Path(cluster.kubectl_bin).parent}{os.pathsep}{os.environ['PATH']}",
    }
    executor_namespace = f"{namespace}-avs"
    demo = str(REPO / "hack" / "demo.sh")
    devnet = None
    try:
        result = subprocess.run([demo], env=env, capture_output=True, text=True, timeout=420)
        output = result.stdout
        assert result.returncode == 0, output + result.stderr
        listing = section(output, "kubectl get performers -A")
        samples = [
            doc["metadata"]["name"]
            for path in SAMPLES.glob("*.yaml")
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc["kind"] == "Performer"
        ]
        rows = {tuple(line.split()[:2]) for line in listing.splitlines() if line.strip()}
        for name in samples:
            assert (namespace, name) in rows, listing
        stored = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        assert sorted(p["metadata"]["name"] for p in stored) == sorted(samples)
        assert all(p["status"]["ready"] for p in stored)

        # The chain: the devnet's manifest, then two tasks created on the TaskMailbox.
        chain = section(output, "starting the local chain")
        manifest = Path(re.search(r"manifest:\s+(\S+)", chain).group(1))
        devnet = Devnet.attach(manifest.parent)
        assert devnet.running() and devnet.rpc_url in chain
        created = section(output, "creating tasks on the TaskMailbox")
        task_ids = TASK_ID.findall(created)
        assert len(task_ids) == 2 and created.count("created: tx 0x") == 2, created

        # The executor (SERVING once its performer is ready), its Performer and that Performer's pod.
        assert "executor SERVING" in section(output, "starting an echo performer and the executor")
        [performer] = custom.list_namespaced_custom_object(GROUP, VERSION, executor_namespace, PLURAL)[
            "items"
        ]
        name = performer["metadata"]["name"]
        assert performer["status"]["ready"] is True
        shown = section(output, "the executor's performer")
        assert re.search(rf"^{name}\s.*\sRunning\s+true\s", shown, re.MULTILINE), shown
        assert re.search(rf"^{performer['status']['podName']}\s+1/1\s+Running", shown, re.MULTILINE), shown

        # The aggregator: each task's result from the executor, then its TaskVerified transaction.
        aggregated = section(output, "the aggregator")
        assert TASK_ID.findall(aggregated) == task_ids
        assert aggregated.count(": OK\n") == 2 and aggregated.count("verified: both signatures") == 2
        assert "'hello from the ECDSA operator set'" in aggregated
        assert "'hello from the BN254 operator set'" in aggregated
        assert aggregated.count("→ TaskVerified") == 2, aggregated
        for task_id in task_ids:
            assert devnet.task_status(bytes.fromhex(task_id[2:])) == "VERIFIED"
        # The closing hint repeats the variables the demo ran with, so its stop acts on this demo.
        hint = output[output.rindex("stop:") :].splitlines()[0]
        assert f"HOURGLASS_DEMO_NAMESPACE={namespace}" in hint and "HOURGLASS_KUBECONFIG=" in hint, hint
        assert hint.endswith("hack/demo.sh stop"), hint  # not the local control plane: no cluster-down
    finally:
        stopped = subprocess.run([demo, "stop"], env=env, capture_output=True, text=True, timeout=300)
        if stopped.returncode != 0:  # the Performers must not outlive the operator with its finalizer
            delete_performers(custom, namespace, timeout=60, what="the demo's Performers")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert devnet is not None and not devnet.running()  # the demo's stop took the devnet down too
    # The stop deleted every Performer while the operator still ran: none is left with a finalizer.
    for ns in (namespace, executor_namespace):
        assert not custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"], ns
