"""`testenv.sh up` reuses a running local control plane only when it was started from this
checkout's configuration: one started from another (an older checkout's, where kwok played every
node) is started again, so the tests get the cluster they expect."""

from __future__ import annotations

import os

import pytest

from tests.support.private_cluster import PrivateControlPlane

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("HOURGLASS_TEST_KUBECONFIG")),
    reason="starts control planes of its own: needs the local control plane, not an existing cluster",
)


def test_up_reuses_a_cluster_of_the_same_configuration_and_starts_one_of_another_again():
    plane = PrivateControlPlane("hourglass-config")
    try:
        apiserver = plane.pid("kube-apiserver")
        again = plane.testenv("up", timeout=120)
        assert again.returncode == 0, again.stderr
        assert "is already running" in again.stderr
        assert plane.pid("kube-apiserver") == apiserver

        started_from = plane.dir / "testenv-config.yaml"
        current = started_from.read_text()
        started_from.write_text(current.replace("manage-all-nodes", "an-older-setting"))
        changed = plane.testenv("up", timeout=300)
        assert changed.returncode == 0, changed.stderr
        assert "runs another configuration than this checkout's: starting it again" in changed.stderr
        assert plane.pid("kube-apiserver") != apiserver
        assert started_from.read_text() == current
        plane.wait_ready()
    finally:
        plane.down()
