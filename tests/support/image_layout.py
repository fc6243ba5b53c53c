"""What the repository's Dockerfiles say, read without a Docker engine: their instructions per
stage, the build context after .dockerignore, a directory staged exactly as their COPY instructions
lay out an image directory, the final stage's environment with image paths mapped to local ones,
and the operator image's entry point run as a process from such a layout."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import collection
from tests.support.operator import OperatorProcess
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.process import LoggedProcess

OPERATOR_DOCKERFILE = REPO / "Dockerfile"
EXECUTOR_DOCKERFILE = REPO / "executor" / "Dockerfile"
CONTEXT = REPO  # every image is built from the repository root
OPERATOR_CONTENT = "/opt/ansible"
COLLECTION_SOURCE = "/src/collection"  # where the build stage copies the collection's files
# PATH of the base images (Docker's default); ENV PATH=...:$PATH extends it.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TINI = "/usr/bin/tini"
_SKIPPED_DIRS = {"node_modules", "__pycache__", "build", "dist"}


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the instruction, continuation lines joined
    line: int
    flags: dict[str, str] = field(default_factory=dict)  # --from=..., --chown=... (COPY/ADD)

    def exec_form(self) -> list[str] | None:
        """ENTRYPOINT/CMD/RUN arguments in JSON (exec) form, or None for shell form."""
        text = self.args.strip()
        if text.startswith("["):
            return json.loads(text)
        return None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def instructions(self, keyword: str) -> list[Instruction]:
        return [i for s in self.stages for i in s.instructions if i.keyword == keyword]

    def stage_names(self) -> set[str]:
        return {s.name for s in self.stages if s.name}

    def command(self) -> list[str]:
        """The final stage's ENTRYPOINT followed by its CMD (both in exec form)."""
        entrypoint, cmd = self.final.last("ENTRYPOINT"), self.final.last("CMD")
        words: list[str] = []
        for instruction in (entrypoint, cmd):
            if instruction is not None:
                form = instruction.exec_form()
                if form is None:
                    raise ValueError(
                        f"{self.path}:{instruction.line}: {instruction.keyword} is not exec form"
                    )
                words += form
        return words

    def program(self) -> list[str]:
        """command() without an init in front (`tini --`)."""
        words = self.command()
        if words and posixpath.basename(words[0]) == "tini":
            words = words[words.index("--") + 1 :] if "--" in words else words[1:]
        return words


def find_dockerfiles(root: Path = REPO) -> list[Path]:
    """Every Dockerfile in the repository (Dockerfile, Dockerfile.*, *.Dockerfile), outside hidden
    directories and build outputs."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        for name in files:
            if name.endswith(".dockerignore"):
                continue
            if name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
                found.append(Path(directory) / name)
    return sorted(found)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with their continuation lines joined (comment lines inside them dropped)."""
    lines, current, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((start, current + stripped))
        current = ""
    if current:
        lines.append((start, current))
    return lines


def parse(path: Path) -> Dockerfile:
    stages: list[Stage] = []
    for number, text in _logical_lines(path.read_text()):
        keyword, _, args = text.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), number)
        if instruction.keyword in ("COPY", "ADD"):
            words = instruction.args.split()
            while words and words[0].startswith("--"):
                name, _, value = words.pop(0)[2:].partition("=")
                instruction.flags[name] = value
            instruction.args = " ".join(words)
        if instruction.keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        if not stages:
            continue  # ARG or parser directives before the first FROM
        stages[-1].instructions.append(instruction)
    if not stages:
        raise ValueError(f"{path}: no FROM instruction")
    return Dockerfile(path, stages)


# --- the build context -------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go filepath.Match syntax plus `**` (any number of directories), as .dockerignore uses."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            out, i = out + pattern[i : end + 1], end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


class DockerIgnore:
    """The context's .dockerignore: a path is excluded by the last rule that matches it or one of
    its parent directories (`!` rules include again), as BuildKit's walk of the context does."""

    def __init__(self, context: Path = CONTEXT) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        file = context / ".dockerignore"
        for line in file.read_text().splitlines() if file.exists() else []:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
            self.rules.append((_pattern_regex(pattern), include))

    def excluded(self, relative: str) -> bool:
        parts = Path(relative).as_posix().split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for regex, include in self.rules:
            if any(regex.fullmatch(c) for c in candidates):
                excluded = not include
        return excluded


def context_files(source: str, context: Path = CONTEXT, ignore: DockerIgnore | None = None) -> list[str]:
    """Files (relative to the context) that a COPY source sends, after .dockerignore."""
    ignore = ignore or DockerIgnore(context)
    source = posixpath.normpath(source).lstrip("/")
    matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
    files = []
    for match in matches:
        if match.is_dir():
            candidates = sorted(p for p in match.rglob("*") if p.is_file())
        elif match.is_file():
            candidates = [match]
        else:
            candidates = []
        files += [rel for p in candidates if not ignore.excluded(rel := p.relative_to(context).as_posix())]
    return files


@dataclass
class Copy:
    instruction: Instruction
    sources: list[str]
    destination: str  # absolute path in the image


def context_copies(dockerfile: Dockerfile) -> list[Copy]:
    """COPY/ADD instructions that take files from the build context (not --from another stage),
    with their destinations made absolute against the stage's WORKDIR."""
    copies = []
    for stage in dockerfile.stages:
        workdir = "/"
        for instruction in stage.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = posixpath.join(workdir, instruction.args.strip())
            if instruction.keyword not in ("COPY", "ADD") or "from" in instruction.flags:
                continue
            words = instruction.exec_form() or instruction.args.split()
            destination = words[-1]
            absolute = posixpath.normpath(posixpath.join(workdir, destination))
            if destination.endswith(("/", "/.")) or destination == ".":
                absolute = absolute.rstrip("/") + "/"
            copies.append(Copy(instruction, words[:-1], absolute))
    return copies


def stage_image_dir(
    dockerfile: Dockerfile, image_dir: str, target: Path, context: Path = CONTEXT
) -> list[str]:
    """Copies into `target` what the Dockerfile's COPY instructions put under `image_dir` (Docker's
    rules: a directory source copies its contents; a file goes to `dest/` + its name when dest ends
    with / or several sources are given). Returns the staged files, relative to `target`."""
    ignore = DockerIgnore(context)
    staged = []
    image_dir = image_dir.rstrip("/")
    for copy in context_copies(dockerfile):
        dest = copy.destination
        if not (dest.rstrip("/") == image_dir or dest.startswith(image_dir + "/")):
            continue
        into_dir = dest.endswith("/") or len(copy.sources) > 1
        dest_rel = posixpath.relpath(dest.rstrip("/") or "/", image_dir)
        for source in copy.sources:
            source_path = context / posixpath.normpath(source).lstrip("/")
            for rel in context_files(source, context, ignore):
                if source_path.is_dir():
                    inner = posixpath.relpath(rel, source_path.relative_to(context).as_posix())
                    out = posixpath.join(dest_rel, inner)
                elif into_dir:
                    out = posixpath.join(dest_rel, posixpath.basename(rel))
                else:
                    out = dest_rel
                out = posixpath.normpath(out)
                (target / out).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(context / rel, target / out)
                staged.append(out)
    return sorted(staged)


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `directory` with (size, mtime in ns)."""
    entries = {}
    for path in directory.rglob("*"):
        info = path.stat()
        name = path.relative_to(directory).as_posix() + ("/" if path.is_dir() else "")
        entries[name] = (info.st_size, info.st_mtime_ns)
    return entries


# --- the final stage's environment, mapped to this machine ----------------------------------------


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def image_env(dockerfile: Dockerfile) -> dict[str, str]:
    """The final stage's ENV (as the image sets it, image paths), on top of the base image's PATH."""
    env = {"PATH": BASE_PATH}
    for instruction in dockerfile.final.instructions:
        if instruction.keyword != "ENV":
            continue
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:  # legacy `ENV KEY value`
            env[words[0]] = _expand(" ".join(words[1:]), env)
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = _expand(value, env)
    return env


def map_paths(env: dict[str, str], mapping: dict[str, str]) -> dict[str, str]:
    """`env` with every absolute image path rewritten by the longest matching prefix of `mapping`
    (`:`-separated lists too). An absolute path no prefix covers is an error: the test would
    otherwise read or write the machine's own /opt or /usr."""
    prefixes = sorted(mapping, key=len, reverse=True)

    def one(path: str, key: str) -> str:
        if not path.startswith("/"):
            return path
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return mapping[prefix] + path[len(prefix.rstrip("/")) :]
        raise ValueError(f"ENV {key}: no local directory stands for the image path {path}")

    return {
        key: ":".join(one(p, key) for p in value.split(":")) if key == "PATH" else one(value, key)
        for key, value in env.items()
    }


# --- the operator image staged on this machine -------------------------------------------------------


def collection_dir(fqcn: str) -> Path | None:
    """Where this Python (the test venv, through the `ansible` bundle) has the collection."""
    namespace, name = fqcn.split(".")
    for entry in sys.path:
        candidate = Path(entry) / "ansible_collections" / namespace / name
        if (candidate / "MANIFEST.json").exists():
            return candidate
    return None


def collection_version(fqcn: str) -> str | None:
    found = collection_dir(fqcn)
    return json.loads((found / "MANIFEST.json").read_text())["collection_info"]["version"] if found else None


def required_collections() -> dict[str, str]:
    """requirements.yml: collection name -> version."""
    import yaml

    data = yaml.safe_load((REPO / "requirements.yml").read_text())
    return {c["name"]: str(c.get("version", "")) for c in data.get("collections") or []}


@dataclass
class StagedOperatorImage:
    dockerfile: Dockerfile
    rootfs: Path
    content: Path  # the image's /opt/ansible
    tmp: Path  # the image's /tmp (an emptyDir in the Deployment)
    files: list[str]  # staged under `content`
    env: dict[str, str]


def stage_operator_image(rootfs: Path) -> StagedOperatorImage:
    """The operator image's files and environment under `rootfs`: /opt/ansible as its COPY
    instructions fill it, an empty /tmp, and at the image's ANSIBLE_COLLECTIONS_PATH the collections
    of requirements.yml (linked from the test venv's `ansible` bundle) and hourglass.operator, built
    and installed with ansible-galaxy from the files the build stage copies to /src/collection. The
    venv the image builds (/opt/venv) is the test venv. The image's venv holds no collections, so the
    environment also switches off Ansible's scan of sys.path, where the test venv's bundle (and the
    checkout's link) would offer them all."""
    dockerfile = parse(OPERATOR_DOCKERFILE)
    content = rootfs / OPERATOR_CONTENT.lstrip("/")
    files = stage_image_dir(dockerfile, OPERATOR_CONTENT, content)
    tmp = rootfs / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = image_env(dockerfile)
    collections = rootfs / env["ANSIBLE_COLLECTIONS_PATH"].lstrip("/")
    source = rootfs / COLLECTION_SOURCE.lstrip("/")
    stage_image_dir(dockerfile, COLLECTION_SOURCE, source)
    collection.install(collection.build(rootfs / "src" / "dist", source), collections)
    for fqcn in required_collections():
        source = collection_dir(fqcn)
        if source is None:
            raise FileNotFoundError(f"the test venv lacks the collection {fqcn} of requirements.yml")
        link = collections / "ansible_collections" / Path(*fqcn.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source, target_is_directory=True)
    mapping = {path: path for path in BASE_PATH.split(":")}
    mapping |= {"/opt/venv": sys.prefix, "/": str(rootfs)}
    env = map_paths(env, mapping) | {"ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}
    return StagedOperatorImage(dockerfile, rootfs, content, tmp, files, env)


def program_path(program: str, env: dict[str, str]) -> str:
    """The image's program as the mapped PATH finds it."""
    found = shutil.which(program, path=env["PATH"])
    if found is None:
        raise FileNotFoundError(f"{program} is not on the image's PATH ({env['PATH']})")
    return found


# --- the operator image's entry point as a process -------------------------------------------------


class ImageOperatorProcess(OperatorProcess):
    """The operator started as the image starts it: the Dockerfile's program (without tini) found on
    the image's PATH, configured only through environment variables, in `cwd`. Ports bind to
    loopback. Reuses OperatorProcess's probes and metrics helpers."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.health_port, self.metrics_port = free_port(), free_port()
        env = {
            **env,
            "HEALTH_PROBE_BIND_ADDRESS": f"127.0.0.1:{self.health_port}",
            "METRICS_BIND_ADDRESS": f"127.0.0.1:{self.metrics_port}",
        }
        LoggedProcess.__init__(self, command, log_path, cwd=cwd, env=env)
