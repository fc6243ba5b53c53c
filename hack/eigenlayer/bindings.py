"""Reads the EigenLayer contracts' Go bindings (ABI and deploy bytecode) from the Go module cache.

The module and version are those of `version.env` (the ones the Go executor pins). `go mod download`
fetches the module through the Go module proxy into the module cache; nothing is copied into the
repository. Each `pkg/bindings/<Contract>/binding.go` holds a `bind.MetaData` literal with the ABI as
an escaped JSON string and, for deployable contracts, the creation bytecode.

    from hack.eigenlayer.bindings import binding
    abi, bytecode = binding("TaskMailbox")
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

VERSION_FILE = Path(__file__).with_name("version.env")
_FIELD = re.compile(r'^\s*(ABI|Bin): "((?:[^"\\]|\\.)*)",\s*$', re.MULTILINE)


class BindingError(Exception):
    """The module cannot be downloaded, or a binding is missing or malformed."""


@dataclass(frozen=True)
class Binding:
    name: str
    abi: list[dict]
    bytecode: str | None  # "0x…" creation code, None for interfaces and abstract contracts


def pinned_module() -> tuple[str, str]:
    """(module path, version) from version.env."""
    values = dict(
        line.split("=", 1)
        for line in VERSION_FILE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return values["EIGENLAYER_CONTRACTS_MODULE"], values["EIGENLAYER_CONTRACTS_VERSION"]


@functools.cache
def module_dir() -> Path:
    """The pinned module's directory in the Go module cache (downloaded through the proxy if needed)."""
    module, version = pinned_module()
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    try:
        result = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            cwd=Path(__file__).parent,
        )
    except FileNotFoundError:
        raise BindingError(f"go is not installed; it downloads {module}@{version}") from None
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        raise BindingError(
            f"go mod download {module}@{version} failed: {info.get('Error') or result.stderr.strip()}"
        )
    return Path(info["Dir"])


def _go_string(literal: str) -> str:
    # abigen writes plain double-quoted Go strings whose only escapes are JSON-compatible.
    return json.loads(f'"{literal}"')


@functools.cache
def binding(name: str) -> Binding:
    """The ABI and creation bytecode of `pkg/bindings/<name>`."""
    path = module_dir() / "pkg" / "bindings" / name / "binding.go"
    try:
        source = path.read_text()
    except FileNotFoundError:
        raise BindingError(f"{path}: no such binding") from None
    fields = {key: _go_string(value) for key, value in _FIELD.findall(source)}
    if "ABI" not in fields:
        raise BindingError(f"{path}: no ABI field in the MetaData literal")
    bytecode = fields.get("Bin") or None
    return Binding(name, json.loads(fields["ABI"]), bytecode if bytecode not in ("0x",) else None)
