"""The Ansible collection hourglass.operator as users get it: built from the repository with this
venv's `ansible-galaxy collection build` and installed from the tarball with `ansible-galaxy
collection install` into a directory of the test's choosing (no Galaxy server: its dependency,
kubernetes.core, comes from the venv's `ansible` bundle)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO

FQCN = "hourglass.operator"
BIN = Path(sys.executable).parent


def checkout_collections_path() -> Path:
    """The Python path entry where this checkout is the collection (`make venv` links it into the
    venv's site-packages): an ANSIBLE_COLLECTIONS_PATH entry for tools that do not scan sys.path
    (the operator-sdk ansible-operator)."""
    for entry in sys.path:
        candidate = Path(entry) / "ansible_collections" / "hourglass" / "operator"
        if candidate.is_dir() and candidate.resolve() == REPO:
            return Path(entry)
    raise FileNotFoundError(f"{REPO} is not linked as the collection {FQCN} on sys.path: run `make venv`")


def galaxy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ansible-galaxy collection {' '.join(args)}:\n{result.stdout}{result.stderr}")
    return result


def build(out_dir: Path, source: Path = REPO) -> Path:
    """The collection's tarball, built from `source` (the repository, or a copy laid out as an image
    build stage copies it) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    galaxy("build", str(source), "--output-path", str(out_dir), cwd=out_dir)
    [tarball] = out_dir.glob("hourglass-operator-*.tar.gz")
    return tarball


def install(tarball: Path, collections_dir: Path) -> Path:
    """Installs `tarball` under `collections_dir` (an ANSIBLE_COLLECTIONS_PATH entry) without
    resolving dependencies; returns the installed collection's directory. --force: the checkout's
    link in the venv (`make venv`) would otherwise count as installed already."""
    galaxy("install", str(tarball), "--no-deps", "--force", "-p", str(collections_dir), cwd=tarball.parent)
    return collections_dir / "ansible_collections" / "hourglass" / "operator"


@dataclass
class InstalledCollection:
    collections_dir: Path  # the ANSIBLE_COLLECTIONS_PATH entry
    path: Path  # <collections_dir>/ansible_collections/hourglass/operator

    def env(self, **extra: str) -> dict[str, str]:
        """An environment in which Ansible finds the installed collection and kubernetes.core (its
        dependency, linked from the venv's `ansible` bundle) and nothing on the Python path (so not
        the checkout's link), with the venv's tools first on PATH."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"},
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections_dir),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_NOCOLOR": "1",
            **extra,
        }


def build_and_install(work_dir: Path) -> InstalledCollection:
    """The collection built from the checkout and installed under `work_dir`/collections, with
    kubernetes.core beside it, as a user installs it (ansible-galaxy collection install <tarball>)."""
    from tests.support.image_layout import collection_dir

    collections_dir = work_dir / "collections"
    path = install(build(work_dir / "dist"), collections_dir)
    dependency = collection_dir("kubernetes.core")
    if dependency is None:
        raise FileNotFoundError("the test venv lacks kubernetes.core (the `ansible` package bundles it)")
    link = collections_dir / "ansible_collections" / "kubernetes" / "core"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(dependency, target_is_directory=True)
    return InstalledCollection(collections_dir, path)
