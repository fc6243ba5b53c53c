"""Tools the tests need that the hack/*/build.sh scripts build from the Go module proxy (helm,
ansible-operator): a prebuilt binary from an environment variable, else the script's cached or
fresh build. A test that needs a tool this machine cannot build is skipped with the reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BUILD_TIMEOUT = 1800  # a cold build (empty module and build caches) on 2 cores; see the scripts

# Exit codes of the build scripts (hack/lib/gomodule-build.sh) that mean "cannot be built here".
NO_GO_TOOLCHAIN, NOT_ON_PROXY = 3, 4


def go_tool(name: str, build_script: Path, prebuilt_variable: str) -> Path:
    prebuilt = os.environ.get(prebuilt_variable)
    if prebuilt:
        return Path(prebuilt)
    result = subprocess.run(
        ["bash", str(build_script)], capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if result.returncode == NO_GO_TOOLCHAIN:
        pytest.skip(f"{name} cannot be built without a Go toolchain: {result.stderr.strip()}")
    if result.returncode == NOT_ON_PROXY:
        pytest.skip(f"{name} cannot be built: the Go module proxy does not serve it: {result.stderr.strip()}")
    assert result.returncode == 0, f"{build_script} failed ({result.returncode}):\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])
