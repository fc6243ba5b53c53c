"""The repository's Dockerfiles without a Docker engine (`make lint` runs hadolint on every one of
them): their base images are pinned, they run as a numeric non-root user, what they COPY is in the
build context, their entry points exist and parse their arguments, and the operator image's layout,
environment and collections are the ones the runner loop and the roles need."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from hourglass_operator.watches import load_watches
from tests.support import image_layout
from tests.support.image_layout import (
    CONTEXT,
    EXECUTOR_DOCKERFILE,
    OPERATOR_DOCKERFILE,
    TINI,
    context_copies,
    context_files,
    parse,
)
from tests.support.paths import REPO

DOCKERFILES = image_layout.find_dockerfiles()
IDS = [p.relative_to(REPO).as_posix() for p in DOCKERFILES]
FULL_VERSION = re.compile(r"\d+\.\d+\.\d+")
FQCN = re.compile(r"^([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+$")
# Collections named in strings: lookups/queries, filters and tests, Python imports.
COLLECTION_REFERENCES = [
    re.compile(r"\b(?:lookup|query|q)\(\s*['\"]([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+['\"]"),
    re.compile(r"\|\s*([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+\b"),
    re.compile(r"\bis\s+(?:not\s+)?([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+\b"),
    re.compile(r"\bansible_collections\.([a-z0-9_]+\.[a-z0-9_]+)\b"),
]
CORE_COLLECTIONS = {"ansible.builtin", "ansible.legacy"}
OWN_COLLECTION = "hourglass.operator"  # this repository (galaxy.yml): installed by the image itself
OPERATOR_CONTENT_DIRS = ("roles", "playbooks", "plugins")  # the collection's content


def test_the_repository_has_the_three_images():
    assert {OPERATOR_DOCKERFILE, EXECUTOR_DOCKERFILE} <= set(DOCKERFILES)
    assert REPO / "executor" / "examples" / "echo_performer" / "Dockerfile" in DOCKERFILES


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_base_images_are_pinned_to_a_full_version_or_digest(path: Path):
    dockerfile = parse(path)
    earlier: set[str] = set()
    for stage in dockerfile.stages:
        base = stage.base
        if base in earlier:
            continue  # FROM an earlier stage
        assert "$" not in base, f"{rel(path)}: FROM {base}: a base image from an ARG cannot be checked"
        if "@sha256:" not in base:
            tag = base.rpartition(":")[2] if ":" in base.split("/")[-1] else ""
            assert tag, f"{rel(path)}: FROM {base} has no tag (means latest)"
            assert tag != "latest" and FULL_VERSION.search(tag), (
                f"{rel(path)}: FROM {base}: the tag needs a full version such as 3.11.14, or use a digest"
            )
        if stage.name:
            earlier.add(stage.name)


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_image_runs_as_a_numeric_non_root_user(path: Path):
    user = parse(path).final.last("USER")
    assert user is not None, f"{rel(path)}: the final stage sets no USER (the image would run as root)"
    uid, _, gid = user.args.strip().partition(":")
    # Numeric, so that the kubelet can enforce runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit() and (not gid or gid.isdigit()), f"{rel(path)}: USER {user.args} is not numeric"
    assert int(uid) != 0, f"{rel(path)}: USER {user.args} is root"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_every_copy_source_is_in_the_build_context(path: Path):
    dockerfile = parse(path)
    ignore = image_layout.DockerIgnore(CONTEXT)
    problems = []
    for copy in context_copies(dockerfile):
        for source in copy.sources:
            where = f"{rel(path)}:{copy.instruction.line} {copy.instruction.keyword} {source}"
            if not (CONTEXT / source).exists() and not any(c in source for c in "*?["):
                problems.append(f"{where}: not in the repository")
            elif not context_files(source, CONTEXT, ignore):
                problems.append(f"{where}: excluded by .dockerignore (or an empty directory)")
    assert not problems, "\n".join(problems)


def copied_files(path: Path) -> list[str]:
    """Every context file the Dockerfile copies into any stage."""
    ignore = image_layout.DockerIgnore(CONTEXT)
    return [
        f
        for copy in context_copies(parse(path))
        for s in copy.sources
        for f in context_files(s, ignore=ignore)
    ]


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_entry_point_is_a_program_the_image_installs(path: Path):
    program = parse(path).program()
    assert program, f"{rel(path)}: no ENTRYPOINT/CMD"
    files = copied_files(path)
    if Path(program[0]).name.startswith("python") and program[1:2] == ["-m"]:
        module = program[2].replace(".", "/")
        assert any(f.endswith((f"{module}.py", f"{module}/__main__.py")) for f in files), (
            f"{rel(path)}: `python -m {program[2]}`: the image copies no such module"
        )
        return
    scripts = {}
    for pyproject in (f for f in files if f.endswith("pyproject.toml")):
        scripts |= tomllib.loads((CONTEXT / pyproject).read_text())["project"].get("scripts", {})
    assert program[0] in scripts, (
        f"{rel(path)}: {program[0]} is no console script of the packages it installs ({sorted(scripts)})"
    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_entry_point_parses_its_arguments(path: Path):
    """The program with the image's arguments plus --help, from the test venv (which has every
    package an image installs): a wrong subcommand or flag in ENTRYPOINT/CMD fails here."""
    program = parse(path).program()
    executable = (
        sys.executable
        if program[0].startswith("python")
        else image_layout.program_path(program[0], {"PATH": str(Path(sys.executable).parent)})
    )
    result = subprocess.run(
        [executable, *program[1:], "--help"], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, f"{' '.join(program)} --help:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_an_init_in_front_of_the_program_is_installed_in_the_final_stage(path: Path):
    dockerfile = parse(path)
    command = dockerfile.command()
    if Path(command[0]).name != "tini":
        pytest.skip(f"{rel(path)} runs without an init")
    assert command[0] == TINI and command[1] == "--", f"{rel(path)}: {command}"
    installs = [i.args for i in dockerfile.final.instructions if i.keyword == "RUN"]
    assert any(re.search(r"apt-get install[^&;]*\btini=", run) for run in installs), (
        f"{rel(path)}: the final stage does not install tini (pinned) for {TINI}"
    )


def test_the_operator_and_executor_run_behind_tini():
    assert parse(OPERATOR_DOCKERFILE).command()[:2] == [TINI, "--"]
    assert parse(EXECUTOR_DOCKERFILE).command()[:2] == [TINI, "--"]


# --- the operator image ------------------------------------------------------------------------


def test_the_operator_image_has_the_agreed_entry_point_user_and_environment():
    dockerfile = parse(OPERATOR_DOCKERFILE)
    assert dockerfile.command() == [TINI, "--", "hourglass-operator", "run"]
    assert dockerfile.final.last("USER").args == "1001:0"
    env = image_layout.image_env(dockerfile)
    expected = {
        "HOME": "/opt/ansible",
        "WATCHES_FILE": "/opt/ansible/watches.yaml",
        "ANSIBLE_CONTENT_ROOT": "/opt/ansible",
        "ANSIBLE_CONFIG": "/opt/ansible/ansible.cfg",
        "RUNNER_DIR": "/tmp/hourglass-operator",
        "ANSIBLE_HOME": "/tmp/.ansible",  # else every ansible command creates ~/.ansible
        "ANSIBLE_LOCAL_TEMP": "/tmp/.ansible/tmp",
        "ANSIBLE_REMOTE_TEMP": "/tmp/.ansible/tmp",
        "ANSIBLE_GATHERING": "explicit",
    }
    assert {k: env.get(k) for k in expected} == expected
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    ports = " ".join(i.args for i in dockerfile.final.instructions if i.keyword == "EXPOSE").split()
    assert {"8080", "8081"} <= set(ports)  # metrics, health probes


def installed_collection(staged: image_layout.StagedOperatorImage) -> Path:
    return Path(staged.env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "hourglass" / "operator"


def test_the_operator_image_content_is_the_operator_sdk_layout_with_the_collection(tmp_path, monkeypatch):
    staged = image_layout.stage_operator_image(tmp_path / "rootfs")
    assert set(staged.files) == {"watches.yaml", "ansible.cfg"}
    collection = installed_collection(staged)
    installed = {p.relative_to(collection).as_posix() for p in collection.rglob("*") if p.is_file()}
    for directory in OPERATOR_CONTENT_DIRS:
        in_repo = context_files(f"{directory}/")
        assert in_repo and set(in_repo) <= installed, f"{directory}/ is not in the collection whole"
    assert not [f for f in installed if "__pycache__" in f or f.endswith(".pyc")]
    assert not [
        f for f in installed if f.split("/")[0] in ("tests", "hourglass_operator", "executor", "hack")
    ]
    # What the runner loop imports from the collection (the image's PYTHONPATH).
    assert staged.env["PYTHONPATH"] == staged.env["ANSIBLE_COLLECTIONS_PATH"]
    assert (collection / "plugins" / "module_utils" / "performer_contract.py").is_file()
    # The roles of watches.yaml are found where the image's Ansible looks (fails when one is missing).
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", staged.env["ANSIBLE_COLLECTIONS_PATH"])
    monkeypatch.setattr(sys, "path", [])
    for watch in load_watches(staged.content / "watches.yaml"):
        assert watch.role == watch.finalizer.role == "hourglass.operator.performer"


def test_ansible_finds_the_collections_modules_where_the_image_installs_them(tmp_path):
    """With the image's environment (and a working directory elsewhere) Ansible reads the image's
    ansible.cfg and finds the collections at ANSIBLE_COLLECTIONS_PATH only, and ansible-doc finds
    every module of hourglass.operator there."""
    staged = image_layout.stage_operator_image(tmp_path / "rootfs")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    before = image_layout.snapshot(staged.content)
    dump = subprocess.run(
        [image_layout.program_path("ansible-config", staged.env), "dump", "--only-changed", "--format=json"],
        capture_output=True, text=True, env=staged.env, cwd=elsewhere, timeout=60, check=True,
    )  # fmt: skip
    settings = {s["name"]: s["value"] for s in json.loads(dump.stdout) if "name" in s}
    collection = installed_collection(staged)
    assert settings["COLLECTIONS_PATHS"] == [staged.env["ANSIBLE_COLLECTIONS_PATH"]]
    assert settings["COLLECTIONS_SCAN_SYS_PATH"] is False
    assert settings["DEFAULT_GATHERING"] == "explicit"
    modules = sorted(f"hourglass.operator.{p.stem}" for p in (REPO / "plugins" / "modules").glob("*.py"))
    doc = subprocess.run(
        [image_layout.program_path("ansible-doc", staged.env), "-t", "module", "-j", *modules],
        capture_output=True, text=True, env=staged.env, cwd=elsewhere, timeout=60, check=True,
    )  # fmt: skip
    found = {name: entry["doc"]["filename"] for name, entry in json.loads(doc.stdout).items()}
    assert found == {m: f"{collection}/plugins/modules/{m.split('.')[-1]}.py" for m in modules}, doc.stderr
    assert image_layout.snapshot(staged.content) == before


def build_stage_filter() -> str:
    """The Python one-liner the operator's build stage runs to list the venv's requirements."""
    runs = [i.args for i in parse(OPERATOR_DOCKERFILE).stages[0].instructions if i.keyword == "RUN"]
    snippets = [m.group(1) for run in runs if (m := re.search(r"python -c '([^']+)'", run))]
    assert len(snippets) == 1, f"expected one `python -c '...'` in the build stage, found {snippets}"
    return snippets[0]


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement)[0].lower().replace("_", "-")


def test_the_operator_image_installs_pyproject_dependencies_without_the_ansible_bundle(tmp_path):
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    result = subprocess.run(
        [sys.executable, "-c", build_stage_filter()], capture_output=True, text=True, cwd=tmp_path, timeout=30
    )
    assert result.returncode == 0, result.stderr
    installed = [line for line in result.stdout.splitlines() if line]
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert installed == [d for d in declared if requirement_name(d) != "ansible"]
    assert "ansible-core" in {requirement_name(r) for r in installed}


def collections_used() -> dict[str, set[str]]:
    """Collection -> files of the operator content (roles/, playbooks/, plugins/) that use it."""
    used: dict[str, set[str]] = {}

    def add(collection: str, path: Path) -> None:
        if collection not in CORE_COLLECTIONS and collection != OWN_COLLECTION:
            used.setdefault(collection, set()).add(path.relative_to(REPO).as_posix())

    def tasks(node: object, path: Path) -> None:
        if isinstance(node, list):
            for item in node:
                if isinstance(item, dict) and "name" in item:
                    for key in item:
                        if m := FQCN.match(str(key)):
                            add(m.group(1), path)
                tasks(item, path)
        elif isinstance(node, dict):
            for value in node.values():
                tasks(value, path)

    for directory in OPERATOR_CONTENT_DIRS:
        for path in sorted((REPO / directory).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            text = path.read_text(errors="replace")
            if path.suffix in (".yml", ".yaml"):
                for document in yaml.safe_load_all(text):
                    tasks(document, path)
            for pattern in COLLECTION_REFERENCES:
                for collection in pattern.findall(text):
                    add(collection, path)
    return used


def test_requirements_yml_pins_every_collection_the_content_uses_to_the_version_the_tests_run():
    required = image_layout.required_collections()
    used = collections_used()
    assert "kubernetes.core" in used  # the scan sees the roles' k8s_info
    missing = {c: sorted(files) for c, files in used.items() if c not in required}
    assert not missing, f"collections used but not in requirements.yml: {missing}"
    for name, version in required.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (
            f"requirements.yml: {name} version {version!r} is not an exact version"
        )
        tested = image_layout.collection_version(name)
        assert tested == version, (
            f"requirements.yml pins {name} {version} for the image, but the tests run {tested} "
            "(the `ansible` package of the venv bundles it): align the pin"
        )


# --- the executor image ------------------------------------------------------------------------


def test_the_executor_image_runs_the_executor_with_its_mounted_configuration():
    dockerfile = parse(EXECUTOR_DOCKERFILE)
    assert dockerfile.command() == [
        TINI, "--", "hourglass-executor", "run", "--config", "/etc/hourglass-executor/config.yaml",
    ]  # fmt: skip
    copied = copied_files(EXECUTOR_DOCKERFILE)
    assert "executor/pyproject.toml" in copied
    # besides executor/, only the cached-build helper that executor/native/bn254/build.sh calls
    outside = [f for f in copied if not f.startswith("executor/")]
    assert outside == ["hack/lib/go-cached-build.sh"], "the executor image copies only executor/"
