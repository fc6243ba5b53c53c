"""Compiles the devnet's own contracts (`contracts/*.sol`) with solc-js, cached by source hash.

The compiler is the wasm solc of the npm registry (see toolchain.py), run through node with the
standard-JSON interface. The output (ABI and creation bytecode of every contract) is kept in
`<cache>/solc/<key>.json`, keyed by the sources, the compiler version and the settings below, so a
second run reads it instead of compiling (about 5 s on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hack.devnet.errors import DevnetError
from hack.devnet.toolchain import Toolchain, cache_lock, cache_root

CONTRACTS_DIR = Path(__file__).parent / "contracts"
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}
COMPILE_TIMEOUT = 300
# node loads solc-js and compiles the standard-JSON input read from stdin.
_NODE_COMPILE = (
    "const solc = require(process.argv[1]); let input = '';"
    "process.stdin.on('data', d => input += d).on('end', () => process.stdout.write(solc.compile(input)));"
)


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict]
    bytecode: str  # "0x…" creation code


def sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(CONTRACTS_DIR.glob("*.sol"))}


def source_key(solc_version: str) -> str:
    digest = hashlib.sha256(json.dumps([solc_version, SETTINGS, sources()], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def compile_contracts(toolchain: Toolchain) -> dict[str, Artifact]:
    """Every deployable contract of `contracts/` by name (cached compile)."""
    out_file = cache_root() / "solc" / f"{source_key(toolchain.versions['SOLC_VERSION'])}.json"
    if not out_file.exists():
        with cache_lock("solc"):
            if not out_file.exists():
                out_file.parent.mkdir(parents=True, exist_ok=True)
                output = _compile(toolchain)
                tmp = out_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(output))
                tmp.replace(out_file)
    output = json.loads(out_file.read_text())
    artifacts = {}
    for contracts in output["contracts"].values():
        for name, compiled in contracts.items():
            bytecode = compiled["evm"]["bytecode"]["object"]
            if bytecode:
                artifacts[name] = Artifact(name, compiled["abi"], "0x" + bytecode)
    return artifacts


def _compile(toolchain: Toolchain) -> dict:
    node = shutil.which("node")
    if node is None:
        raise DevnetError("node is not installed; solc-js (the Solidity compiler) runs on it")
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources().items()},
        "settings": SETTINGS,
    }
    try:
        result = subprocess.run(
            [node, "-e", _NODE_COMPILE, str(toolchain.solc_module)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise DevnetError(f"solc-js took more than {COMPILE_TIMEOUT} s to compile {CONTRACTS_DIR}") from None
    if result.returncode != 0:
        raise DevnetError(f"solc-js failed: {result.stderr.strip()[-2000:]}")
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise DevnetError("the devnet contracts do not compile:\n" + "\n".join(errors))
    return output
