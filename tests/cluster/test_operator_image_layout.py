"""The operator as its image runs it, without a Docker engine: /opt/ansible staged from the
Dockerfile's COPY instructions (so the test breaks when the Dockerfile and the layout drift), the
final stage's environment with its paths mapped into a scratch root filesystem, the entry point
(`hourglass-operator run`, found on the image's PATH) started from an unrelated directory, and
only the Deployment's settings added (kubeconfig instead of in-cluster, the watched namespace, the
probe and metrics ports). A Performer becomes Ready, and nothing is written into the content
directory, which the Deployment mounts read-only: the writes land under the image's /tmp."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import image_layout
from tests.support.image_layout import ImageOperatorProcess, StagedOperatorImage
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    delete_performers,
    list_performers,
    performer,
)
from tests.support.waiting import wait_for


def start_image_operator(
    staged: StagedOperatorImage, kubeconfig: str, namespace: str, tmp_path: Path
) -> ImageOperatorProcess:
    """The image's program (without tini), found on the image's PATH, in a directory unrelated to
    the content, with the image's environment plus what the Deployment sets."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = staged.env | {"KUBECONFIG": kubeconfig, "WATCH_NAMESPACE": namespace, "LOG_FORMAT": "json"}
    program = staged.dockerfile.program()
    command = [image_layout.program_path(program[0], env), *program[1:]]
    return ImageOperatorProcess(command, env, elsewhere, tmp_path / "operator.log")


def test_the_image_layout_reconciles_a_performer_and_writes_only_under_tmp(
    request: pytest.FixtureRequest, cluster, core, custom, namespace: str, performer_crd: dict, tmp_path
):
    staged = image_layout.stage_operator_image(tmp_path / "rootfs")
    content_before = image_layout.snapshot(staged.content)
    process = start_image_operator(staged, str(cluster.kubeconfig), namespace, tmp_path)
    request.node.hourglass_operators = [process]  # its log joins a failure report
    try:
        process.wait_ready(timeout=60)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer("from-image"))

        def ready() -> dict | None:
            cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "from-image")
            return cr if (cr.get("status") or {}).get("ready") else None

        cr = wait_for(ready, timeout=90, what=f"Performer {namespace}/from-image to be ready")
        assert condition(cr, "Ready").get("status") == "True", cr["status"]
        assert core.list_namespaced_pod(namespace, label_selector="app=hourglass-performer").items

        # The finalizer's run (performer_state absent) too.
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "from-image")
        wait_for(
            lambda: not list_performers(custom, namespace), timeout=90, what="the Performer to be deleted"
        )
        assert process.process.poll() is None, "the operator exited"
    finally:
        try:
            if list_performers(custom, namespace) and process.process.poll() is None:
                delete_performers(custom, namespace, timeout=90)
        finally:  # an operator that could not release them must not outlive the test either
            process.stop()

    after = image_layout.snapshot(staged.content)
    changed = sorted(n for n in after.keys() | content_before.keys() if after.get(n) != content_before.get(n))
    assert not changed, (
        f"the operator wrote into the (read-only in the Deployment) content directory: {changed}"
    )
    # Where the writes went instead: ansible-runner's artifacts and Ansible's home under the image's /tmp.
    artifacts = staged.tmp / "hourglass-operator" / "performer" / "artifacts"
    assert artifacts.is_dir() and any(artifacts.iterdir()), f"no ansible-runner artifacts under {artifacts}"
    assert (staged.tmp / ".ansible").is_dir()
