"""Installs the local chain's tools from the npm registry into the cache directory and finds them.

Anvil (`@foundry-rs/anvil-linux-amd64` ships the binary), solc-js (the wasm Solidity compiler for
`contracts/`) and `@openzeppelin/contracts` (ProxyAdmin / TransparentUpgradeableProxy artifacts) at the
versions of `versions.env`, with `npm install --prefix` into `<cache>/npm-<key>/`; one install per set of
versions, guarded by a lock so concurrent callers wait for the first. The cache directory is
`$HOURGLASS_CHAIN_CACHE`, else `$XDG_CACHE_HOME/hourglass-chain` (`~/.cache/hourglass-chain`).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hack.devnet.errors import DevnetError

HERE = Path(__file__).parent
VERSIONS_FILE = HERE / "versions.env"
NPM_TIMEOUT = 600


def cache_root() -> Path:
    explicit = os.environ.get("HOURGLASS_CHAIN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hourglass-chain"


@functools.cache
def versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in VERSIONS_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """An exclusive lock on `<cache>/<name>.lock` (one builder at a time; others wait, then reuse)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Toolchain:
    anvil: Path
    solc_module: Path  # the solc npm package directory (node requires it)
    openzeppelin: Path  # @openzeppelin/contracts, with build/contracts/*.json
    versions: dict[str, str]

    def openzeppelin_artifact(self, name: str) -> tuple[list[dict], str]:
        """(ABI, creation bytecode) of an OpenZeppelin contract."""
        path = self.openzeppelin / "build" / "contracts" / f"{name}.json"
        artifact = json.loads(path.read_text())
        return artifact["abi"], artifact["bytecode"]


def _packages() -> list[str]:
    v = versions()
    return [
        f"{v['ANVIL_PACKAGE']}@{v['ANVIL_VERSION']}",
        f"solc@{v['SOLC_VERSION']}",
        f"@openzeppelin/contracts@{v['OPENZEPPELIN_CONTRACTS_VERSION']}",
    ]


def _toolchain_at(prefix: Path) -> Toolchain:
    modules = prefix / "node_modules"
    return Toolchain(
        anvil=modules / versions()["ANVIL_PACKAGE"] / "bin" / "anvil",
        solc_module=modules / "solc",
        openzeppelin=modules / "@openzeppelin" / "contracts",
        versions=versions(),
    )


def install() -> Toolchain:
    """The installed toolchain, installing it first when this set of versions is not in the cache."""
    packages = _packages()
    key = hashlib.sha256("\n".join(packages).encode()).hexdigest()[:16]
    prefix = cache_root() / f"npm-{key}"
    stamp = prefix / ".installed"
    if not stamp.exists():
        with cache_lock("npm"):
            if not stamp.exists():
                _npm_install(prefix, packages)
                stamp.write_text("\n".join(packages) + "\n")
    toolchain = _toolchain_at(prefix)
    if not os.access(toolchain.anvil, os.X_OK):
        raise DevnetError(f"{toolchain.anvil}: the anvil package has no executable binary there")
    return toolchain


def _npm_install(prefix: Path, packages: list[str]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DevnetError("npm is not installed; the local chain's tools come from the npm registry")
    if shutil.which("node") is None:
        raise DevnetError("node is not installed; solc-js (the Solidity compiler) runs on it")
    shutil.rmtree(prefix, ignore_errors=True)
    prefix.mkdir(parents=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save", *packages]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise DevnetError(f"npm install {' '.join(packages)} took more than {NPM_TIMEOUT} s") from None
    if result.returncode != 0:
        raise DevnetError(f"npm install {' '.join(packages)} failed:\n{result.stderr.strip()[-2000:]}")
