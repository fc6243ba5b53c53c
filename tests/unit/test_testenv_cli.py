"""hack/testenv/testenv.sh answers an unknown command with its usage and exit code 2, and reports
paths under the version-keyed cache without starting anything."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.paths import TESTENV

pytestmark = pytest.mark.smoke  # checks the test environment, not the product


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TESTENV), *args], capture_output=True, text=True, timeout=30, env=env)


def test_unknown_command_prints_usage():
    result = run("frobnicate")
    assert result.returncode == 2
    for command in ("up", "down", "status", "kubeconfig", "bin", "logs", "hold", "release"):
        assert f"testenv.sh {command}" in result.stderr


def test_paths_are_keyed_by_component_versions(tmp_path):
    env = {"HOURGLASS_TESTENV_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    versions = dict(
        line.split("=", 1)
        for line in (TESTENV.parent / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    bin_dir = run("bin", env=env).stdout.strip()
    expected = (
        f"k8s-{versions['KUBE_VERSION']}_etcd-{versions['ETCD_VERSION']}_kwok-{versions['KWOK_VERSION']}"
    )
    assert bin_dir == f"{tmp_path}/{expected}/bin"
    assert run("kubeconfig", env=env).stdout.strip().startswith(f"{tmp_path}/kwok/clusters/")
    status = run("status", env=env)
    assert status.returncode == 1
    assert "not running" in status.stderr
