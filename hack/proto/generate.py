"""Generates the Python gRPC stubs of proto/ into executor/hourglass_executor/api/.

protoc (bundled with grpcio-tools, pinned exactly in executor/pyproject.toml so the output is
byte-reproducible) writes `*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py` under
`eigenlayer/hourglass/...`. Those files import each other absolutely (`from eigenlayer.hourglass...`);
this script rewrites such imports, and the module names the generated code registers, to
`hourglass_executor.api.eigenlayer.hourglass...` so that the package ships no top-level
`eigenlayer` module. Every directory gets an `__init__.py`.

    python hack/proto/generate.py            # rewrite executor/hourglass_executor/api/
    python hack/proto/generate.py --check    # exit 1 when the committed files are stale
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `hack` importable
    sys.path.insert(0, str(ROOT))

from hack.lib import generated  # noqa: E402

PROTO_DIR = ROOT / "proto"
API_DIR = ROOT / "executor" / "hourglass_executor" / "api"
EXECUTOR_PYPROJECT = ROOT / "executor" / "pyproject.toml"
API_PACKAGE = "hourglass_executor.api"
GENERATED_TOP = "eigenlayer"

API_INIT = '"""Generated protobuf and gRPC stubs of proto/ (hack/proto/generate.py). Do not edit."""\n'

# `from eigenlayer.hourglass... import x` / `import eigenlayer.hourglass...` at the start of a line,
# and the module name passed to protobuf's builder (it becomes the classes' __module__).
_IMPORT = re.compile(rf"^(\s*)(from|import) {GENERATED_TOP}\.", re.MULTILINE)
_BUILDER_MODULE = re.compile(rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')({GENERATED_TOP}\.)")


class GenerationError(Exception):
    """protoc failed or the installed grpcio-tools is not the pinned one."""


def pinned_grpcio_tools() -> str:
    """The exact grpcio-tools version executor/pyproject.toml pins in its dev extras."""
    project = tomllib.loads(EXECUTOR_PYPROJECT.read_text())["project"]
    for requirement in project["optional-dependencies"]["dev"]:
        match = re.fullmatch(r"grpcio-tools==([\w.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(1)
    raise GenerationError(f"{EXECUTOR_PYPROJECT}: no exact grpcio-tools pin (grpcio-tools==X) in dev extras")


def check_tool_version() -> None:
    pinned = pinned_grpcio_tools()
    try:
        installed = importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        raise GenerationError(
            f"grpcio-tools is not installed; install grpcio-tools=={pinned} "
            "(pip install -e './executor[dev]')"
        ) from None
    if installed != pinned:
        raise GenerationError(
            f"grpcio-tools {installed} is installed but executor/pyproject.toml pins {pinned}: "
            "the generated files would differ"
        )


def rewrite(text: str) -> str:
    text = _IMPORT.sub(rf"\1\2 {API_PACKAGE}.{GENERATED_TOP}.", text)
    return _BUILDER_MODULE.sub(rf"\1{API_PACKAGE}.\2", text)


def generate() -> dict[str, bytes]:
    """What the api/ directory must contain: relative path -> content."""
    check_tool_version()
    protos = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))
    if not protos:
        raise GenerationError(f"no .proto files under {PROTO_DIR}")
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--pyi_out={tmp}",
            *protos,
        ]
        result = subprocess.run(command, cwd=PROTO_DIR, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise GenerationError(f"protoc failed ({result.returncode}):\n{result.stderr.strip()}")
        out = Path(tmp)
        files = {
            path.relative_to(out).as_posix(): rewrite(path.read_text()).encode()
            for path in sorted(out.rglob("*"))
            if path.is_file()
        }
    files["__init__.py"] = API_INIT.encode()
    for name in list(files):
        parent = Path(name).parent
        while parent != Path("."):
            files.setdefault((parent / "__init__.py").as_posix(), b"")
            parent = parent.parent
    return dict(sorted(files.items()))


def on_disk(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def write(directory: Path, files: dict[str, bytes]) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        argv,
        description=__doc__.splitlines()[0],
        default_out=API_DIR,
        generate=generate,
        errors=(GenerationError,),
        on_disk=on_disk,
        write=write,
        command="python hack/proto/generate.py",
    )


if __name__ == "__main__":
    sys.exit(main())
