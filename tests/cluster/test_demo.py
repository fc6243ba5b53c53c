"""`make demo`'s script works against a cluster: it installs the CRD, starts the operator, creates
every sample Performer, waits until they are Ready and lists them with `kubectl get performers -A`
(here against the test cluster, in a test namespace, stopping the demo's operator afterwards)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from tests.support.paths import REPO, SAMPLES
from tests.support.performers import GROUP, PLURAL, VERSION
from tests.support.waiting import wait_for


def test_demo_makes_the_sample_performers_ready_and_lists_them(cluster, custom, namespace):
    env = {
        **os.environ,
        "HOURGLASS_KUBECONFIG": str(cluster.kubeconfig),
        "HOURGLASS_DEMO_NAMESPACE": namespace,
        "PATH": f"{Path(cluster.kubectl_bin).parent}{os.pathsep}{os.environ['PATH']}",
    }
    demo = str(REPO / "hack" / "demo.sh")
    try:
        result = subprocess.run([demo], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        listing = result.stdout.split("==> kubectl get performers -A", 1)[1]
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
    finally:
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        wait_for(
            lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
            timeout=60,
            what="the demo's Performers to be deleted by the demo's operator",
        )
        subprocess.run([demo, "stop"], env=env, check=True, timeout=60)
