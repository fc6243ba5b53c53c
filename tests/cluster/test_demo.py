"""`make demo`'s script works against a cluster: it installs the CRD, creates every sample Performer
and lists them with `kubectl get performers -A` (here against the test cluster, in a test namespace)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from tests.support.paths import REPO, SAMPLES


def test_demo_creates_and_lists_the_sample_performers(cluster, custom, namespace):
    env = {
        **os.environ,
        "HOURGLASS_KUBECONFIG": str(cluster.kubeconfig),
        "HOURGLASS_DEMO_NAMESPACE": namespace,
        "PATH": f"{Path(cluster.kubectl_bin).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [str(REPO / "hack" / "demo.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("==> kubectl get performers -A", 1)[1]
    samples = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in SAMPLES.glob("performer-*.yaml")]
    rows = {tuple(line.split()[:2]) for line in listing.splitlines() if line.strip()}
    for name in samples:
        assert (namespace, name) in rows, listing
    stored = custom.list_namespaced_custom_object(
        "hourglass.eigenlayer.io", "v1alpha1", namespace, "performers"
    )
    assert sorted(p["metadata"]["name"] for p in stored["items"]) == sorted(samples)
