"""The `helm` binary (built from its Go module by hack/helm/build.sh) run against the charts in
charts/ (hourglass-operator unless told otherwise), and `kubectl kustomize` of config/ to compare
the chart with.

    HOURGLASS_TEST_HELM   a prebuilt helm binary to use instead of building one
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.cluster import kubectl
from tests.support.go_tools import go_tool
from tests.support.paths import REPO

CHART = REPO / "charts" / "hourglass-operator"
EXECUTOR_CHART = REPO / "charts" / "hourglass-executor"
CHART_CRD = CHART / "crds" / "hourglass.eigenlayer.io_performers.yaml"
BUILD_SCRIPT = REPO / "hack" / "helm" / "build.sh"
RELEASE = "hourglass-operator"
NAMESPACE = "hourglass-system"


def helm_binary() -> Path:
    """HOURGLASS_TEST_HELM, else the helm hack/helm/build.sh builds (skips the test when it cannot)."""
    return go_tool("helm", BUILD_SCRIPT, "HOURGLASS_TEST_HELM")


@dataclass
class Helm:
    """helm with its own config/cache/data directories (none of the user's repositories or
    plugins), talking to `kubeconfig` when one is given."""

    binary: Path
    home: Path
    kubeconfig: Path | None = None
    chart: Path = CHART

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.update(
            HELM_CACHE_HOME=str(self.home / "cache"),
            HELM_CONFIG_HOME=str(self.home / "config"),
            HELM_DATA_HOME=str(self.home / "data"),
        )
        env.pop("KUBECONFIG", None)
        if self.kubeconfig:
            args = (*args, "--kubeconfig", str(self.kubeconfig))
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=timeout, env=env
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def template(
        self,
        values: dict | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        include_crds: bool = False,
        api_versions: tuple[str, ...] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`helm template` of the chart with `values` (written to a values file, so types survive),
        as for a cluster that also serves `api_versions` (e.g. "monitoring.coreos.com/v1/ServiceMonitor")."""
        args = ["template", release, str(self.chart), "--namespace", namespace]
        if include_crds:
            args.append("--include-crds")
        for api_version in api_versions:
            args += ["--api-versions", api_version]
        if values is not None:
            with tempfile.NamedTemporaryFile("w", dir=self.home, suffix=".yaml", delete=False) as f:
                yaml.safe_dump(values, f)
            args += ["--values", f.name]
        return self.run(*args, check=check)

    def objects(self, values: dict | None = None, **kwargs: object) -> list[dict]:
        """The objects `helm template` renders."""
        return parse_objects(self.template(values, **kwargs).stdout)  # type: ignore[arg-type]


def parse_objects(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(directory: Path) -> list[dict]:
    """The objects `kubectl kustomize directory` builds (kubectl from the local control plane's
    binaries, else HOURGLASS_TEST_KUBECTL or the one on PATH)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return parse_objects(result.stdout)
