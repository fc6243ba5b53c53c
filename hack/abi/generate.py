"""Generates the ABI files the executor's JSON-RPC chain reader needs, into
executor/hourglass_executor/chain/abi/ (shipped as package data).

Each file is the minimal ABI of one contract: the functions the reader calls (upstream contract §5)
plus the contract's custom errors, so that a revert can be named. They come from the Go bindings
(`pkg/bindings/<Interface>`) of the eigenlayer-contracts module at the version the Go executor pins
(hack/eigenlayer/version.env; read through hack/eigenlayer/bindings.py from the Go module cache).

The AVS registrar (eigenlayer-middleware's `TaskAVSRegistrarBase`) is not in that module, and the
Go module proxy serves neither eigenlayer-middleware nor the hourglass ponos module (whose
middleware-bindings carry it), so its two view functions are written out below from the interface
in the upstream contract §5: `getAvsConfig() returns ((uint32 aggregatorOperatorSetId,
uint32[] executorOperatorSetIds))` and `getOperatorSocket(address operator) returns (string)`.

    python hack/abi/generate.py            # rewrite the ABI files
    python hack/abi/generate.py --check    # exit 1 when the committed files are stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `hack` importable
    sys.path.insert(0, str(ROOT))

from hack.eigenlayer.bindings import BindingError, binding  # noqa: E402
from hack.lib import generated  # noqa: E402

ABI_DIR = ROOT / "executor" / "hourglass_executor" / "chain" / "abi"

# output file stem -> (binding in pkg/bindings, functions the reader calls)
FROM_BINDINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "AllocationManager": ("IAllocationManager", ("getAVSRegistrar",)),
    "KeyRegistrar": ("IKeyRegistrar", ("getOperatorSetCurveType", "getBN254Key", "getECDSAAddress")),
    "TaskMailbox": ("ITaskMailbox", ("getMessageHash",)),
    "BN254CertificateVerifier": ("IBN254CertificateVerifier", ("calculateCertificateDigest",)),
    "ECDSACertificateVerifier": (
        "IECDSACertificateVerifier",
        ("calculateCertificateDigestBytes", "domainSeparator"),
    ),
}


def _param(name: str, kind: str, internal: str | None = None, components: list | None = None) -> dict:
    entry: dict = {"name": name, "type": kind, "internalType": internal or kind}
    if components is not None:
        entry["components"] = components
    return entry


# TaskAVSRegistrarBase (upstream contract §5), the two view functions the reader calls.
TASK_AVS_REGISTRAR = [
    {
        "type": "function",
        "name": "getAvsConfig",
        "inputs": [],
        "outputs": [
            _param(
                "",
                "tuple",
                "struct ITaskAVSRegistrarBaseTypes.AvsConfig",
                [
                    _param("aggregatorOperatorSetId", "uint32"),
                    _param("executorOperatorSetIds", "uint32[]"),
                ],
            )
        ],
        "stateMutability": "view",
    },
    {
        "type": "function",
        "name": "getOperatorSocket",
        "inputs": [_param("operator", "address")],
        "outputs": [_param("", "string")],
        "stateMutability": "view",
    },
]


class GenerationError(Exception):
    """A binding is missing, or lacks a function the reader needs."""


def minimal_abi(binding_name: str, functions: tuple[str, ...]) -> list[dict]:
    abi = binding(binding_name).abi
    selected = []
    for name in functions:
        matches = [entry for entry in abi if entry.get("type") == "function" and entry.get("name") == name]
        if len(matches) != 1:
            raise GenerationError(f"{binding_name}: expected one function {name}, found {len(matches)}")
        selected.append(matches[0])
    errors = sorted((entry for entry in abi if entry.get("type") == "error"), key=lambda e: e["name"])
    return selected + errors


def generate() -> dict[str, bytes]:
    """What the abi/ directory must contain: file name -> content."""
    abis = {stem: minimal_abi(name, functions) for stem, (name, functions) in FROM_BINDINGS.items()}
    abis["TaskAVSRegistrar"] = TASK_AVS_REGISTRAR
    return {
        f"{stem}.json": (json.dumps(abi, indent=1, sort_keys=True) + "\n").encode()
        for stem, abi in sorted(abis.items())
    }


def on_disk(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.json"))}


def write(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.json"):
        if path.name not in files:
            path.unlink()
    for name, content in files.items():
        (directory / name).write_bytes(content)


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        argv,
        description=__doc__.splitlines()[0],
        default_out=ABI_DIR,
        generate=generate,
        errors=(BindingError, GenerationError),
        on_disk=on_disk,
        write=write,
        command="python hack/abi/generate.py",
    )


if __name__ == "__main__":
    sys.exit(main())
