"""The release version is stated once (VERSION) and every place that spells it out agrees:
hack/release/version.py's places (pyprojects, galaxy.yml, every chart, the images' OCI labels, the
default image references) and the packages' `__version__`, read from their installed metadata."""

from __future__ import annotations

import shutil
from pathlib import Path

import hourglass_executor
import pytest

import hourglass_operator
from hack.release import version as release

pytestmark = pytest.mark.unit


def test_every_place_states_the_version_of_VERSION():
    assert release.disagreements(release.read_version()) == []


def test_the_packages_report_the_version_of_VERSION():
    assert hourglass_operator.__version__ == release.read_version()
    assert hourglass_executor.__version__ == release.read_version()


def test_every_chart_is_covered():
    charts = {p.path for p in release.places() if p.path.startswith("charts/")}
    assert charts == {
        path.relative_to(release.REPO).as_posix() for path in release.REPO.glob("charts/*/Chart.yaml")
    }
    assert "charts/hourglass-operator/Chart.yaml" in charts


@pytest.fixture
def copy_of_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files the version is written into, copied, and the script pointed at the copy."""
    for path in {p.path for p in release.places()} | {"VERSION"}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(release.REPO / path, tmp_path / path)
    monkeypatch.setattr(release, "REPO", tmp_path)
    monkeypatch.setattr(release, "VERSION_FILE", tmp_path / "VERSION")
    return tmp_path


def test_set_writes_the_version_everywhere(copy_of_repo: Path):
    assert release.main(["--set", "1.2.3-rc.1"]) == 0
    assert release.read_version() == "1.2.3-rc.1"
    assert release.disagreements("1.2.3-rc.1") == []
    assert 'LABEL org.opencontainers.image.version="1.2.3-rc.1"' in (copy_of_repo / "Dockerfile").read_text()
    assert "newTag: 1.2.3-rc.1" in (copy_of_repo / "config/default/kustomization.yaml").read_text()


def test_check_names_a_place_that_disagrees(copy_of_repo: Path, capsys: pytest.CaptureFixture[str]):
    galaxy = copy_of_repo / "galaxy.yml"
    galaxy.write_text(galaxy.read_text().replace(f"version: {release.read_version()}", "version: 9.9.9"))
    assert release.main(["--check"]) == 1
    assert f"galaxy.yml: the Ansible collection's version is 9.9.9, VERSION is {release.read_version()}" in (
        capsys.readouterr().err
    )


def test_a_version_that_is_not_semver_is_refused(copy_of_repo: Path, capsys: pytest.CaptureFixture[str]):
    assert release.main(["--set", "v1.2"]) == 2
    assert "'v1.2' is not a semantic version" in capsys.readouterr().err
    (copy_of_repo / "VERSION").write_text("1.2\n")
    assert release.main(["--check"]) == 1
    assert "VERSION: '1.2' is not a semantic version" in capsys.readouterr().err
