"""The playbooks and roles of the collection, run by Ansible itself without a cluster: relative
render-to paths land in the directory ansible-playbook was started from (never in the collection),
stored volume sizes compare by value, and bad input (operator_role_vars, a Performer of
deploy-performer.yml) stops the run before anything is written, naming the variable or field."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.filter.hourglass_checks import (
    performer_errors,
    performer_normalized,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_schema import SCHEMA

from tests.cluster.test_performer_crd import (
    ACCEPTED_QUANTITIES,
    AFFINITY_AT_ITS_BOUNDS,
    CORE_V1_RESOURCES,
    CORE_V1_SCHEDULING,
    FULL_SPEC,
    INVALID,
)
from tests.support.cluster import kubectl
from tests.support.executor_deploy import executor_vars, new_key, rendered_objects
from tests.support.paths import REPO, SAMPLES
from tests.support.performers import performer as crd_performer
from tests.support.performers import upstream_executor_performer, with_changes
from tests.support.playbooks import ANSIBLE_PLAYBOOK

AVS = "0x" + "1" * 40


def run(
    cwd: Path, playbook: str | Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook started in `cwd`, as from a shell there, `extra_env` added to its environment."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PWD": str(cwd),
        **(extra_env or {}),
    }
    command = [ANSIBLE_PLAYBOOK, str(playbook), *args, "-e", f"ansible_python_interpreter={sys.executable}"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def performer(name: str = "echo", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1",
        "kind": "Performer",
        "metadata": {"name": name},
        "spec": {"avsAddress": AVS, "image": "ghcr.io/example/echo:v1", **spec},
    }


@pytest.fixture
def in_collection():
    """The files a relative render-to would have left in the collection's playbooks/ directory,
    removed after the test whatever it found."""
    before = set((REPO / "playbooks").iterdir())
    yield
    for path in set((REPO / "playbooks").iterdir()) - before:
        path.unlink()


def test_relative_render_to_paths_resolve_against_the_start_directory(tmp_path, in_collection):
    work = tmp_path / "work"
    work.mkdir()
    # deploy-performer.yml: performer_file and performer_render_to, both relative.
    (work / "performers.yaml").write_text(yaml.safe_dump(performer()))
    result = run(
        work,
        REPO / "playbooks" / "deploy-performer.yml",
        "-e",
        "performer_file=performers.yaml",
        "-e",
        "performer_render_to=performers-rendered.yaml",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [o["kind"] for o in rendered_objects(work / "performers-rendered.yaml")] == [
        "Pod",
        "Service",
    ]
    # deploy-executor.yml: its render holds the keys.
    key = new_key()
    (work / "vars.json").write_text(json.dumps(executor_vars("avs-one")))
    (work / "keys.json").touch(mode=0o600)
    (work / "keys.json").write_text(json.dumps({"executor_operator_private_key": key}))
    result = run(
        work,
        REPO / "playbooks" / "deploy-executor.yml",
        "-e",
        "@vars.json",
        "-e",
        "@keys.json",
        "-e",
        "executor_render_to=executor-rendered.yaml",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Secret" in [o["kind"] for o in rendered_objects(work / "executor-rendered.yaml")]
    assert (work / "executor-rendered.yaml").stat().st_mode & 0o777 == 0o600
    # install-operator.yml
    result = run(
        work,
        REPO / "playbooks" / "install-operator.yml",
        "-e",
        "operator_render_to=operator.yaml",
        "-e",
        f"operator_kustomize_binary={kubectl()}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deployment" in [o["kind"] for o in rendered_objects(work / "operator.yaml")]
    assert (
        sorted(p.name for p in (REPO / "playbooks").iterdir() if not p.name.endswith((".yml", ".md"))) == []
    )


def test_rendered_files_never_become_collection_content():
    """A second line of defence: what a render-to would leave in the checkout is neither packaged by
    `ansible-galaxy collection build` nor offered to git."""
    ignored = yaml.safe_load((REPO / "galaxy.yml").read_text())["build_ignore"]
    for path in (
        "playbooks/executor.yaml",
        "playbooks/rendered.yaml",
        "operator.yaml",
        "executor.yaml",
        "rendered.yaml",
    ):
        assert any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
        check = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, check=False)
        assert check.returncode == 0, f"{path} is not git-ignored"
    # The collection content stays in.
    for path in ("playbooks/deploy-executor.yml", "watches.yaml", "config/default/kustomization.yaml"):
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path


STORAGE_TASK = "Check that the storage matches the existing StatefulSet"


def storage_check(tmp_path: Path, wanted: str, stored: str) -> subprocess.CompletedProcess[str]:
    """The executor role's storage check of apply.yml, against a StatefulSet whose claim template
    requests `stored` (as the API server returns it)."""
    [task] = [
        t
        for t in yaml.safe_load((REPO / "roles/executor/tasks/apply.yml").read_text())
        if t.get("name") == STORAGE_TASK
    ]
    existing = {
        "spec": {"volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": stored}}}}]}
    }
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [task],
        "vars": {
            "executor_namespace": "avs",
            "executor_name": "hourglass-executor",
            "executor_storage": "sqlite",
            "executor_storage_size": wanted,
            "executor_storage_class_name": "",
            "_executor_existing": {"resources": [existing]},
        },
    }
    (tmp_path / "check.yml").write_text(yaml.safe_dump([play]))
    return run(tmp_path, tmp_path / "check.yml")


@pytest.mark.parametrize(
    ("wanted", "stored"), [("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("1000M", "1G"), ("1Gi", "1Gi")]
)
def test_storage_sizes_compare_by_value_with_the_stored_statefulset(tmp_path, wanted, stored):
    result = storage_check(tmp_path, wanted, stored)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_different_storage_size_is_still_refused(tmp_path):
    result = storage_check(tmp_path, "2Gi", "1Gi")
    assert result.returncode != 0
    assert "differ from the" in result.stdout + result.stderr


ROLE_VARS = {
    "unknown": ({"performer_bogus": 1}, "unknown variable(s) performer_bogus"),
    "reserved": ({"performer_state": "absent"}, "operator_role_vars.performer_state: set by the operator"),
    "type": ({"performer_lost_pod_after_seconds": "soon"}, "performer_lost_pod_after_seconds"),
}


@pytest.mark.parametrize("case", ROLE_VARS, ids=list(ROLE_VARS))
def test_operator_role_vars_are_checked_before_anything_is_rendered(case, tmp_path):
    role_vars, said = ROLE_VARS[case]
    out = tmp_path / "operator.yaml"
    result = run(
        tmp_path,
        REPO / "playbooks" / "install-operator.yml",
        "-e",
        f"operator_render_to={out}",
        "-e",
        json.dumps({"operator_role_vars": role_vars}),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "operator_role_vars" in output and said in output, output
    assert "Check operator_role_vars" in output  # the role's check, not a later failure
    assert not out.exists()


def test_valid_operator_role_vars_reach_the_operator(tmp_path):
    out = tmp_path / "operator.yaml"
    result = run(
        tmp_path,
        REPO / "playbooks" / "install-operator.yml",
        "-e",
        f"operator_render_to={out}",
        "-e",
        f"operator_kustomize_binary={kubectl()}",
        "-e",
        json.dumps({"operator_role_vars": {"performer_lost_pod_after_seconds": "45"}}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [deployment] = [o for o in rendered_objects(out) if o["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert json.loads(env["ROLE_VARS"]) == {"performer_lost_pod_after_seconds": "45"}


BAD_PERFORMERS = {
    "env-not-string": (
        {"config": {"environment": {"DEBUG": True, "OK": "1"}}},
        "echo",
        ["spec.config.environment.DEBUG must be a string"],
    ),
    "name": ({}, "Hello_AVS.v1", ["metadata.name 'Hello_AVS.v1' must be"]),
    "port": ({"config": {"grpcPort": 70000}}, "echo", ["spec.config.grpcPort 70000 must be a port number"]),
    "pull-policy": (
        {"imagePullPolicy": "Sometimes"},
        "echo",
        ["spec.imagePullPolicy 'Sometimes' must be one of"],
    ),
    "image": ({"image": "ghcr.io/example/p v1"}, "echo", ["spec.image 'ghcr.io/example/p v1' must be"]),
    "address": (
        {"avsAddress": "0xABCDEF"},
        "echo",
        ["spec.avsAddress '0xABCDEF' must be an Ethereum address"],
    ),
    "missing": (
        {"avsAddress": None, "image": None},
        "echo",
        ["spec.avsAddress is required", "spec.image is required"],
    ),
    # CEL rules of the CRD that only the API server checked before, refusing the Performer it never
    # saw here: the pod got through (or was refused naming the pod's field).
    "toleration": (
        {"scheduling": {"tolerations": [{"key": "dedicated", "operator": "Exists", "value": "avs"}]}},
        "echo",
        ["spec.scheduling.tolerations[0].value must be empty when operator is Exists"],
    ),
    "overcommitted-gpu": (
        {"resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "2", "cpu": "1"}}},
        "echo",
        [
            "spec.resources.requests: extended resources (such as nvidia.com/gpu) and huge pages cannot be"
            " overcommitted: a request needs a limit of the same amount"
        ],
    ),
}


def play(
    tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """deploy-performer.yml on tmp_path/performers.yaml (performer_file, relative), with `args`."""
    playbook = REPO / "playbooks" / "deploy-performer.yml"
    return run(tmp_path, playbook, "-e", "performer_file=performers.yaml", *args, extra_env=extra_env)


def deploy(
    tmp_path: Path, documents: list[dict[str, Any]], *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """deploy-performer.yml on a file of `documents`, with `args`."""
    (tmp_path / "performers.yaml").write_text(yaml.safe_dump_all(documents))
    return play(tmp_path, *args, extra_env=extra_env)


@pytest.mark.parametrize("case", BAD_PERFORMERS, ids=list(BAD_PERFORMERS))
def test_a_performer_its_crd_would_refuse_is_refused_before_anything_is_written(case, tmp_path):
    spec, name, said = BAD_PERFORMERS[case]
    document = performer(name, **spec)
    document["spec"] = {k: v for k, v in document["spec"].items() if v is not None}
    (tmp_path / "performers.yaml").write_text(yaml.safe_dump_all([performer("fine"), document]))
    out = tmp_path / "rendered.yaml"
    result = play(tmp_path, "-e", f"performer_render_to={out}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"Performer 2 ({name})" in output, output
    for message in said:
        assert message in output, output
    assert not out.exists()


# Environment values of a Performer are secrets (API tokens, PINs): no task of deploy-performer.yml
# (nor the performer role it includes) prints one, whether a check fails or the run succeeds at -v.
API_TOKEN = "sk_live_TOPSECRET_1234"
SIGNER_PIN = 918273645546372819  # unquoted in YAML: an integer, which the check refuses


def secret_performer(name: str, **spec: Any) -> dict[str, Any]:
    return performer(name, config={"environment": {"API_TOKEN": API_TOKEN, "LOG_LEVEL": "debug"}}, **spec)


@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default", "-v"])
def test_a_refused_performer_is_named_without_printing_its_environment(tmp_path, verbosity):
    out = tmp_path / "rendered.yaml"
    bad = secret_performer("echo", imagePullPolicy="Sometimes")
    result = deploy(tmp_path, [secret_performer("fine"), bad], *verbosity, "-e", f"performer_render_to={out}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Performer 2 (echo): spec.imagePullPolicy 'Sometimes' must be one of" in output, output
    assert API_TOKEN not in output, output
    assert not out.exists()


def test_an_unquoted_numeric_environment_value_is_refused_by_its_type_not_its_value(tmp_path):
    out = tmp_path / "rendered.yaml"
    (tmp_path / "performers.yaml").write_text(
        yaml.safe_dump(performer("signer"))
        + f"  config:\n    environment:\n      SIGNER_PIN: {SIGNER_PIN}\n      MODE: fast\n"
    )
    assert yaml.safe_load((tmp_path / "performers.yaml").read_text())["spec"]["config"]["environment"] == {
        "SIGNER_PIN": SIGNER_PIN,
        "MODE": "fast",
    }
    result = play(tmp_path, "-e", f"performer_render_to={out}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    said = (
        "Performer 1 (signer): spec.config.environment.SIGNER_PIN must be a string (quote it in YAML),"
        " got an integer"
    )
    assert said in output, output
    assert str(SIGNER_PIN) not in output, output
    assert not out.exists()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (SIGNER_PIN, "an integer"),
        (12.5, "a number"),
        (True, "a boolean"),
        (None, "null (an empty value)"),
        ({"nested": API_TOKEN}, "a mapping"),
        ([API_TOKEN], "a list"),
    ],
)
def test_the_environment_check_names_the_type_never_the_value(value, kind):
    document = performer(config={"environment": {"SECRET": value, "OK": "1"}})
    [error] = performer_errors(document)
    assert error == f"spec.config.environment.SECRET must be a string (quote it in YAML), got {kind}"
    assert API_TOKEN not in error and str(SIGNER_PIN) not in error


def test_a_valid_performer_renders_at_minus_v_without_printing_its_environment(tmp_path):
    out = tmp_path / "rendered.yaml"
    result = deploy(tmp_path, [secret_performer("echo")], "-v", "-e", f"performer_render_to={out}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert API_TOKEN not in output, output
    # The rendered pod does hold it: the file is its owner's only.
    [pod] = [o for o in rendered_objects(out) if o["kind"] == "Pod"]
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["API_TOKEN"] == API_TOKEN
    assert out.stat().st_mode & 0o777 == 0o600


def test_the_rendered_file_is_its_owners_only_even_when_it_existed(tmp_path):
    out = tmp_path / "rendered.yaml"
    out.write_text("old\n")
    out.chmod(0o644)
    result = deploy(tmp_path, [secret_performer("echo")], "-e", f"performer_render_to={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert API_TOKEN in out.read_text()


@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default", "-v"])
def test_a_pod_that_cannot_be_read_is_named_without_printing_the_environment(tmp_path, verbosity):
    """Applying (no render-to) against an API server that does not answer: the read of the existing
    Pods and Services fails, naming the object, and prints no Performer's environment."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "gone", "user": {"token": "unused"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}],
                "current-context": "gone",
            }
        )
    )
    result = deploy(
        tmp_path,
        [secret_performer("echo")],
        *verbosity,
        "-e",
        "performer_namespace=avs",
        extra_env={"K8S_AUTH_KUBECONFIG": str(kubeconfig)},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "could not read Pod avs/performer-echo (" in output, output
    assert API_TOKEN not in output, output


# Beyond the fields checked by hand, the CRD's structural schema (module_utils/performer_schema.py,
# generated from the CRD): what YAML makes of these (a string count, a quoted boolean, `yes`, `0x10`,
# `~`, `on`, a string or a list for a mapping) once passed and changed the pod silently, or failed in
# the templates naming no field; and the CRD's CEL rules on the hardware fields. (id, the spec's extra
# fields as YAML, the messages)
SCHEMA_CASES = {
    "gpu-type-without-count": (
        "hardwareRequirements: {gpuType: nvidia-h100}",
        ["spec.hardwareRequirements.gpuCount must be at least 1 when gpuType is set"],
    ),
    "tee-required-without-type": (
        "hardwareRequirements: {teeRequired: true}",
        [
            "spec.hardwareRequirements.teeType is required when teeRequired is true"
            " (one of: sgx, sev, sev-snp, tdx)"
        ],
    ),
    "tee-type-without-required": (
        "hardwareRequirements: {teeType: sev}",
        ["spec.hardwareRequirements.teeRequired must be true when teeType is set"],
    ),
    "gpu-count-string": (
        'hardwareRequirements: {gpuType: nvidia-h100, gpuCount: "two"}',
        ["spec.hardwareRequirements.gpuCount must be an integer, got a string"],
    ),
    "tee-required-string": (
        'hardwareRequirements: {teeRequired: "false", teeType: sgx}',
        ["spec.hardwareRequirements.teeRequired must be a boolean (true or false), got a string"],
    ),
    "yaml-scalars": (
        "scheduling:\n  nodeSelector: {dedicated: yes, rack: 0x10}\n"
        "  tolerations: [{key: dedicated, operator: Equal, value: on, effect: NoSchedule}]\n"
        "hardwareRequirements: {customLabels: {example.com/zone: ~}}",
        [
            "spec.scheduling.nodeSelector.dedicated must be a string (quote it in YAML), got a boolean",
            "spec.scheduling.nodeSelector.rack must be a string (quote it in YAML), got an integer",
            "spec.scheduling.tolerations[0].value must be a string (quote it in YAML), got a boolean",
            "spec.hardwareRequirements.customLabels.example.com/zone must be a string (quote it in YAML),"
            " got null (an empty value)",
        ],
    ),
    "not-mappings": (
        "scheduling: gpu-pool\nhardwareRequirements: [gpu]",
        [
            "spec.scheduling must be a mapping, got a string",
            "spec.hardwareRequirements must be a mapping, got a list",
        ],
    ),
    "environment-from-string": (
        "config: {environmentFrom: TOKEN}",
        ["spec.config.environmentFrom must be a list, got a string"],
    ),
    "resources-string-runtime-class-number": (
        'resources: "2 cpus"\nscheduling: {runtimeClass: 1}',
        [
            "spec.resources must be a mapping, got a string",
            "spec.scheduling.runtimeClass must be a string (quote it in YAML), got an integer",
        ],
    ),
    "quantity": (
        "resources: {limits: {cpu: 2 cpus, memory: 0.5}}",
        [
            "spec.resources.limits.cpu '2 cpus' must be a resource quantity such as 500m, 2, 1.5 or 4Gi",
            "spec.resources.limits.memory must be an integer or a string (quote it in YAML), got a number",
        ],
    ),
    "unknown-fields": (
        "hardwareRequirement: {gpuCount: 1}\nscheduling: {nodeSelektor: {a: b}}",
        [
            "spec.hardwareRequirement: unknown field (the known fields here: avsAddress, config,"
            " hardwareRequirements, image, imagePullPolicy, imagePullSecrets, resources, scheduling,"
            " version)",
            "spec.scheduling.nodeSelektor: unknown field (the known fields here: affinity, nodeSelector,"
            " priorityClassName, runtimeClass, tolerations)",
        ],
    ),
    "enum-bounds-required": (
        "hardwareRequirements: {gpuType: nvidia-b200, gpuCount: 17}\nimagePullSecrets: [{}]",
        [
            "spec.hardwareRequirements.gpuType 'nvidia-b200' must be one of: nvidia-a100, nvidia-a10g,"
            " nvidia-h100, nvidia-h200, nvidia-l4, nvidia-l40s, nvidia-t4",
            "spec.hardwareRequirements.gpuCount 17 must be at most 16",
            "spec.imagePullSecrets[0].name is required",
        ],
    ),
    "duplicate-environment-from": (
        "config:\n  environmentFrom:\n"
        "    - {name: TOKEN, valueFrom: {secretKeyRef: {name: a, key: t}}}\n"
        "    - {name: TOKEN, valueFrom: {configMapKeyRef: {name: b, key: t}}}",
        ["spec.config.environmentFrom[1] repeats spec.config.environmentFrom[0] (name 'TOKEN')"],
    ),
}


def performer_yaml(name: str, spec: str) -> str:
    """A Performer as YAML text (as a person writes it), with `spec`'s lines added to its spec."""
    head = yaml.safe_dump(performer(name), sort_keys=False)
    return head + "".join(f"  {line}\n" for line in spec.splitlines())


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=list(SCHEMA_CASES))
def test_the_crds_schema_refuses_every_other_field_naming_it(case):
    spec, said = SCHEMA_CASES[case]
    assert performer_errors(yaml.safe_load(performer_yaml("echo", spec))) == said


def test_the_playbook_refuses_every_schema_case_before_anything_is_written(tmp_path):
    out = tmp_path / "rendered.yaml"
    documents = [yaml.safe_dump(performer("fine"))] + [
        performer_yaml(case, spec) for case, (spec, _) in SCHEMA_CASES.items()
    ]
    (tmp_path / "performers.yaml").write_text("---\n".join(documents))
    result = play(tmp_path, "-e", f"performer_render_to={out}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for position, (case, (_, said)) in enumerate(SCHEMA_CASES.items(), start=2):
        assert f"Performer {position} ({case}): {'; '.join(said)}" in output, output
    assert "Performer 1 (fine)" not in output, output
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"imagePullPolicy": "Sometimes"}, "spec.imagePullPolicy 'Sometimes' must be one of"),
        ({"config": {"grpcPort": "80"}}, "spec.config.grpcPort '80' must be a port number"),
        ({"config": {"environment": ["A=1"]}}, "spec.config.environment must be a mapping"),
        ({"config": {"args": "--verbose"}}, "spec.config.args must be a list of strings"),
        ({"config": "none"}, "spec.config must be a mapping"),
        # The CRD's rule on environment variable names says the same without naming the variable.
        ({"config": {"environment": {"A=B": "1"}}}, "spec.config.environment: 'A=B' must be non-empty"),
        ({"version": "v" * 129}, "spec.version must be a string of at most 128 characters"),
    ],
)
def test_a_field_checked_by_hand_gets_one_message(spec, said):
    """The schema's (and its rules') message about a field the hand-written checks refused is left
    out."""
    [error] = performer_errors(performer(**spec))
    assert error.startswith(said)


def test_a_wrong_environment_value_is_never_shown_among_the_schemas_errors():
    environment = {
        "SIGNER_PIN": SIGNER_PIN,
        "TOKENS": [API_TOKEN],
        **{f"V{i}": API_TOKEN for i in range(256)},
    }
    document = performer(config={"environment": environment}, scheduling="gpu-pool")
    errors = performer_errors(document)
    assert "spec.scheduling must be a mapping, got a string" in errors
    assert "spec.config.environment.SIGNER_PIN must be a string (quote it in YAML), got an integer" in errors
    assert "spec.config.environment.TOKENS must be a string (quote it in YAML), got a list" in errors
    assert API_TOKEN not in str(errors) and str(SIGNER_PIN) not in str(errors)


def complete_performers() -> list[dict[str, Any]]:
    """The samples of config/samples, the complete Performer the cluster tests create (every spec
    field) and the one an upstream executor creates."""
    samples = [d for f in sorted(SAMPLES.glob("performer-*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    full = {**performer("full"), "spec": FULL_SPEC}
    upstream = upstream_executor_performer("0x" + "2" * 40, "registry.example.com/avs/performer", "v1")
    return [*samples, full, upstream]


def test_complete_performers_pass_and_render(tmp_path):
    documents = complete_performers()
    assert len(documents) >= 6
    assert {d["metadata"]["name"]: performer_errors(d) for d in documents} == {
        d["metadata"]["name"]: [] for d in documents
    }
    out = tmp_path / "rendered.yaml"
    # A Performer read back from the API server carries a status: the API server drops it on create,
    # the check leaves it alone.
    documents[-1] = {**documents[-1], "status": {"phase": "Running", "ready": True}}
    assert performer_errors(documents[-1]) == []
    result = deploy(tmp_path, documents, "-e", f"performer_render_to={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len([o for o in rendered_objects(out) if o["kind"] == "Pod"]) == len(documents)


# The parity oracle: the real API server's verdicts on Performers (tests/cluster/test_performer_crd.py,
# which the cluster suite checks against it), and the one-off deploy's check, which never sends a
# Performer there, must come to the same. Each refusal names the field the API server names.


def names(message: str, field: str) -> bool:
    return message == field or message.startswith((field + " ", field + ":"))


def rule_messages(node: dict, path: str = "") -> dict[str, set[str]]:
    """The messages of the schema module's CEL rules by the field each names (a list's item or a map's
    entry is `[]`)."""
    found: dict[str, set[str]] = {}
    for entry in node.get("x-kubernetes-validations", []):
        found.setdefault((path + entry.get("fieldPath", "")).lstrip("."), set()).add(entry["message"])
    children = [(f"{path}.{name}", child) for name, child in node.get("properties", {}).items()]
    children += [
        (f"{path}[]", node[key])
        for key in ("items", "additionalProperties")
        if isinstance(node.get(key), dict)
    ]
    for child_path, child in children:
        for field, messages in rule_messages(child, child_path).items():
            found.setdefault(field, set()).update(messages)
    return found


RULE_MESSAGES = rule_messages(SCHEMA)
# Refused naming the field in a hand-written check's words, which the CRD's rule would not improve
# on (the name's check words every character a name may not have, dots among them).
HAND_WORDED = {"name-with-dots"}


@pytest.mark.parametrize(("changes", "field", "said"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_a_performer_the_api_server_refuses_is_refused_naming_the_same_field(changes, field, said, request):
    errors = performer_errors(with_changes(crd_performer("invalid", config={}), changes))
    named = [error for error in errors if names(error, field)]
    assert named, f"no error names {field}: {errors}"
    # Where the API server says a CEL rule's message, the check says it too.
    rules_there = RULE_MESSAGES.get(re.sub(r"\[[^]]*\]", "[]", field), set())
    if any(said in message for message in rules_there) and request.node.callspec.id not in HAND_WORDED:
        assert any(said in error for error in named), named


def test_every_cel_rule_has_a_performer_the_api_server_refused_for_it():
    """The oracle covers the whole CRD: each rule's message is one the cluster suite saw the API
    server refuse a Performer with (a new rule needs its INVALID case there)."""
    verified = [case[3] for case in INVALID]
    messages = set().union(*RULE_MESSAGES.values())
    assert {m for m in messages if not any(said in m for said in verified)} == set()


def accepted_performers() -> dict[str, dict[str, Any]]:
    """The specs the cluster suite has the API server accept, and complete Performers."""
    return {
        "quantities": crd_performer("quantities", resources=ACCEPTED_QUANTITIES),
        "core-v1": crd_performer("core-v1", scheduling=CORE_V1_SCHEDULING, resources=CORE_V1_RESOURCES),
        "bounds": with_changes(crd_performer("bounds"), AFFINITY_AT_ITS_BOUNDS),
        **{d["metadata"]["name"]: d for d in complete_performers()},
    }


def test_every_performer_the_api_server_accepts_is_accepted():
    performers = accepted_performers()
    assert len(performers) >= 9
    errors = {name: performer_errors(body) for name, body in performers.items()}
    assert errors == {name: [] for name in performers}


# Whole numbers written as floats: the API server takes them where the CRD has integers and stores
# integers; the rendered pod has them as integers (a pod's int32 and int64 fields refuse 300.0).
WHOLE_FLOATS = """\
  config: {grpcPort: 8080.0}
  hardwareRequirements: {gpuType: nvidia-a100, gpuCount: 1.0}
  resources: {limits: {cpu: 2.0, nvidia.com/gpu: 1.0}, requests: {nvidia.com/gpu: 1.0}}
  scheduling:
    tolerations: [{key: dedicated, operator: Exists, effect: NoExecute, tolerationSeconds: 300.0}]
    affinity:
      nodeAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
          - {weight: 50.0, preference: {matchExpressions: [{key: zone, operator: Exists}]}}
"""


def whole_floats_performer() -> str:
    return yaml.safe_dump(performer("floats"), sort_keys=False) + WHOLE_FLOATS


def test_whole_floats_are_integers_and_fractions_are_refused():
    document = yaml.safe_load(whole_floats_performer())
    assert (
        document["spec"]["config"]["grpcPort"] == 8080.0
        and type(document["spec"]["config"]["grpcPort"]) is float
    )
    assert performer_errors(document) == []
    normalized = performer_normalized(document)
    assert normalized == document
    spec = normalized["spec"]
    numbers = [
        spec["config"]["grpcPort"],
        spec["hardwareRequirements"]["gpuCount"],
        spec["resources"]["limits"]["cpu"],
        spec["scheduling"]["tolerations"][0]["tolerationSeconds"],
        spec["scheduling"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0][
            "weight"
        ],
    ]
    assert [type(n) for n in numbers] == [int] * 5
    fractions = performer(config={"grpcPort": 8080.5}, hardwareRequirements={"gpuCount": 1.5})
    assert performer_errors(fractions) == [
        "spec.config.grpcPort 8080.5 must be a port number (an integer 1-65535)",
        "spec.hardwareRequirements.gpuCount must be an integer, got a number",
    ]


def test_the_playbook_renders_whole_floats_as_integers(tmp_path):
    (tmp_path / "performers.yaml").write_text(whole_floats_performer())
    out = tmp_path / "rendered.yaml"
    result = play(tmp_path, "-e", f"performer_render_to={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    [pod] = [o for o in rendered_objects(out) if o["kind"] == "Pod"]
    [container] = pod["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    toleration = next(t for t in pod["spec"]["tolerations"] if t["key"] == "dedicated")
    [preferred] = pod["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert (port, type(port)) == (8080, int)
    assert (toleration["tolerationSeconds"], type(toleration["tolerationSeconds"])) == (300, int)
    assert (preferred["weight"], type(preferred["weight"])) == (50, int)
    assert (
        container["resources"]["limits"]["cpu"] == 2 and type(container["resources"]["limits"]["cpu"]) is int
    )
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "8080.0" not in out.read_text() and "300.0" not in out.read_text()
