"""The performer role's templates, rendered by Ansible itself (the one-off playbook in render-only
mode, no cluster): every spec field and every scheduling/hardware combination lands in the Pod
and Service as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

# The spec hash of each case's pod as recorded (HOURGLASS_UPDATE_GOLDEN=1 writes it again).
SPEC_HASHES = Path(__file__).parent / "golden" / "performer-spec-hashes.json"
SPEC_HASH = "hourglass.eigenlayer.io/spec-hash"

AVS = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
A100 = ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-80GB-PCIe", "NVIDIA-A100-PCIE-40GB"]

CASES = {
    "minimal": {},
    "full-config": {
        "imagePullPolicy": "Always",
        "config": {
            "grpcPort": 7070,
            "environment": {"B": "2", "A": "1"},
            "environmentFrom": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "args": ["--serve"],
            "command": ["/bin/performer"],
            "serviceAccountName": "performer-sa",
        },
        "imagePullSecrets": [{"name": "registry"}],
        "scheduling": {"priorityClassName": "avs-high"},
    },
    "config-without-port": {"config": {}},
    "gpu-count": {"hardwareRequirements": {"gpuCount": 2}},
    "gpu-type-and-user-affinity": {
        "hardwareRequirements": {"gpuType": "nvidia-a100", "gpuCount": 1},
        "scheduling": {
            "tolerations": [GPU_TOLERATION, {"key": "dedicated", "operator": "Exists"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
                        ]
                    },
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 10,
                            "preference": {"matchExpressions": [{"key": "x", "operator": "Exists"}]},
                        }
                    ],
                }
            },
        },
    },
    "gpu-with-resources": {
        "hardwareRequirements": {"gpuCount": 1},
        "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2", "memory": "1Gi"}},
    },
    "tee-sgx": {"hardwareRequirements": {"teeRequired": True, "teeType": "sgx"}},
    "tee-tdx-own-runtime": {
        "hardwareRequirements": {"teeRequired": True, "teeType": "tdx"},
        "scheduling": {"runtimeClass": "kata-qemu-tdx-custom"},
    },
    "labels-and-selector": {
        "scheduling": {"nodeSelector": {"pool": "avs"}},
        "hardwareRequirements": {"customLabels": {"example.com/rack": "r1"}},
    },
}


def performer_docs(cases: dict[str, dict]) -> str:
    docs = [
        {"apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer", "metadata": {"name": name},
         "spec": {"avsAddress": AVS, "image": f"ghcr.io/example/{name}:v1", **spec}}
        for name, spec in cases.items()
    ]  # fmt: skip
    return yaml.safe_dump_all(docs)


def render(tmp_path: Path, cases: dict[str, dict]) -> subprocess.CompletedProcess[str]:
    source, out = tmp_path / "performers.yaml", tmp_path / "rendered.yaml"
    source.write_text(performer_docs(cases))
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/deploy-performer.yml",
        "-e", f"performer_file={source}", "-e", f"performer_render_to={out}", "-e", "performer_namespace=avs",
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    tmp_path = tmp_path_factory.mktemp("render")
    result = render(tmp_path, CASES)
    assert result.returncode == 0, result.stdout + result.stderr
    objects = [d for d in yaml.safe_load_all((tmp_path / "rendered.yaml").read_text()) if d]
    return {(o["kind"], o["metadata"]["name"].removeprefix("performer-")): o for o in objects}


def pod(rendered: dict, name: str) -> dict:
    return rendered[("Pod", name)]


def container(rendered: dict, name: str) -> dict:
    [c] = pod(rendered, name)["spec"]["containers"]
    return c


def test_every_case_renders_a_pod_and_a_service(rendered):
    assert {name for _, name in rendered} == set(CASES)
    assert len(rendered) == 2 * len(CASES)


def test_every_case_keeps_the_spec_hash_recorded_so_an_upgrade_restarts_no_performer(rendered):
    """A pod whose spec hash changes is replaced. A release whose templates render a Performer's pod
    spec differently (a new field, another order, another default) restarts every such performer at
    once when the operator is upgraded. When that is meant, record the new hashes
    (`HOURGLASS_UPDATE_GOLDEN=1 make test-unit`) and say under **Changed** in CHANGELOG.md which
    performers an upgrade restarts."""
    hashes = {name: pod(rendered, name)["metadata"]["annotations"][SPEC_HASH] for name in sorted(CASES)}
    if os.environ.get("HOURGLASS_UPDATE_GOLDEN"):
        SPEC_HASHES.write_text(json.dumps(hashes, indent=2) + "\n", encoding="utf-8")
    recorded = json.loads(SPEC_HASHES.read_text(encoding="utf-8"))
    changed = [name for name in hashes if recorded.get(name) != hashes[name]]
    assert not changed, (
        f"the pod spec of {', '.join(changed)} renders differently from the one recorded in "
        f"{SPEC_HASHES.relative_to(REPO)}: upgrading the operator would restart these performers"
    )


def test_minimal_performer_gets_upstream_names_labels_port_and_probes(rendered):
    p = pod(rendered, "minimal")
    assert p["metadata"]["name"] == "performer-minimal"
    assert p["metadata"]["namespace"] == "avs"
    assert p["metadata"]["labels"] == {
        "app": "hourglass-performer",
        "app.kubernetes.io/managed-by": "hourglass-operator",
        "hourglass.eigenlayer.io/avs": AVS.lower(),
        "hourglass.eigenlayer.io/performer": "minimal",
    }
    assert "ownerReferences" not in p["metadata"]  # one-off deploys have no owner
    assert len(p["metadata"]["annotations"]["hourglass.eigenlayer.io/spec-hash"]) == 64
    c = container(rendered, "minimal")
    assert c["name"] == "performer"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["ports"] == [{"name": "grpc", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "grpc": {"port": 8080},
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"] == {
        "grpc": {"port": 8080},
        "initialDelaySeconds": 5,
        "periodSeconds": 15,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    spec = p["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["automountServiceAccountToken"] is False
    for absent in ("nodeSelector", "affinity", "tolerations", "runtimeClassName", "priorityClassName"):
        assert absent not in spec
    service = rendered[("Service", "minimal")]
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": {"hourglass.eigenlayer.io/performer": "minimal"},
        "ports": [{"name": "grpc", "port": 8080, "targetPort": "grpc", "protocol": "TCP"}],
    }


def test_restricted_pod_security_profile(rendered):
    for name in CASES:
        spec = pod(rendered, name)["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        security = container(rendered, name)["securityContext"]
        assert security == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_config_fields_reach_the_container(rendered):
    c = container(rendered, "full-config")
    assert c["ports"][0]["containerPort"] == 7070
    assert c["readinessProbe"]["grpc"]["port"] == 7070
    assert c["imagePullPolicy"] == "Always"
    assert c["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"key": "k", "name": "s"}}},
    ]
    assert c["args"] == ["--serve"]
    assert c["command"] == ["/bin/performer"]
    spec = pod(rendered, "full-config")["spec"]
    assert spec["serviceAccountName"] == "performer-sa"
    assert "automountServiceAccountToken" not in spec
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["priorityClassName"] == "avs-high"
    assert rendered[("Service", "full-config")]["spec"]["ports"][0]["port"] == 7070


def test_config_without_port_gets_the_crd_default(rendered):
    assert container(rendered, "config-without-port")["ports"][0]["containerPort"] == 9090


def test_gpu_count_becomes_the_standard_resource_and_toleration(rendered):
    c = container(rendered, "gpu-count")
    assert c["resources"] == {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}
    spec = pod(rendered, "gpu-count")["spec"]
    assert spec["tolerations"] == [GPU_TOLERATION]
    assert "affinity" not in spec


def test_gpu_type_joins_every_required_term_and_keeps_the_rest(rendered):
    spec = pod(rendered, "gpu-type-and-user-affinity")["spec"]
    node_affinity = spec["affinity"]["nodeAffinity"]
    product = {"key": "nvidia.com/gpu.product", "operator": "In", "values": A100}
    assert node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, product]},
        {
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}],
            "matchExpressions": [product],
        },
    ]
    assert node_affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 10
    # The user's own GPU toleration is not duplicated.
    assert spec["tolerations"] == [GPU_TOLERATION, {"key": "dedicated", "operator": "Exists"}]


def test_gpu_merges_with_the_users_resources(rendered):
    assert container(rendered, "gpu-with-resources")["resources"] == {
        "requests": {"cpu": "1", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"},
    }


def test_tee_profile_selects_nodes_tolerates_taint_and_sets_runtime_and_resources(rendered):
    spec = pod(rendered, "tee-sgx")["spec"]
    assert spec["nodeSelector"] == {"feature.node.kubernetes.io/cpu-security.sgx.enabled": "true"}
    assert spec["tolerations"] == [
        {"key": "hourglass.eigenlayer.io/tee", "operator": "Equal", "value": "sgx", "effect": "NoSchedule"}
    ]
    assert spec["runtimeClassName"] == "enclave-cc"
    assert container(rendered, "tee-sgx")["resources"] == {
        "requests": {"sgx.intel.com/epc": "512Mi"},
        "limits": {"sgx.intel.com/epc": "512Mi"},
    }


def test_the_performers_runtime_class_wins_over_the_tee_profile(rendered):
    spec = pod(rendered, "tee-tdx-own-runtime")["spec"]
    assert spec["runtimeClassName"] == "kata-qemu-tdx-custom"
    assert spec["nodeSelector"] == {"feature.node.kubernetes.io/cpu-security.tdx.enabled": "true"}


def test_custom_labels_join_the_node_selector(rendered):
    assert pod(rendered, "labels-and-selector")["spec"]["nodeSelector"] == {
        "pool": "avs",
        "example.com/rack": "r1",
    }


def test_spec_hash_changes_only_with_the_pod_spec(tmp_path: Path):
    cases = {"a": {"config": {"environment": {"X": "1"}}}, "b": {"config": {"environment": {"X": "2"}}}}
    assert render(tmp_path, cases).returncode == 0
    first = [
        d for d in yaml.safe_load_all((tmp_path / "rendered.yaml").read_text()) if d and d["kind"] == "Pod"
    ]
    assert render(tmp_path, cases).returncode == 0
    second = [
        d for d in yaml.safe_load_all((tmp_path / "rendered.yaml").read_text()) if d and d["kind"] == "Pod"
    ]
    hashes = [p["metadata"]["annotations"]["hourglass.eigenlayer.io/spec-hash"] for p in first]
    assert hashes == [p["metadata"]["annotations"]["hourglass.eigenlayer.io/spec-hash"] for p in second]
    assert hashes[0] != hashes[1]


def test_unknown_gpu_type_fails_with_the_known_types(tmp_path: Path):
    """Refused by the one-off deploy's check of the CRD's schema (whose enum is the role's products)."""
    result = render(tmp_path, {"mystery": {"hardwareRequirements": {"gpuType": "acme-x1", "gpuCount": 1}}})
    assert result.returncode != 0
    assert "spec.hardwareRequirements.gpuType 'acme-x1' must be one of: " in result.stdout, result.stdout
    assert "nvidia-h100" in result.stdout


def test_a_name_too_long_for_the_pod_and_service_fails_naming_the_rule(tmp_path: Path):
    name = "n" * 54  # performer-<name> is 64 characters: not a DNS-1035 label
    result = render(tmp_path, {name: {}})
    assert result.returncode != 0
    assert "metadata.name: the Pod and Service name" in result.stdout
    assert "it must be at most 63" in result.stdout


def test_the_batch_the_runner_loop_passes_in_a_file_renders_the_same_and_is_never_templated(tmp_path: Path):
    """Render-only, given `performers_file` as the runner loop passes it: the role reads the batch
    from the file (the reconcile module reads it itself) and a CR string that looks like Jinja stays
    a string."""
    spec = {"avsAddress": AVS, "image": "ghcr.io/example/p:v1",
            "config": {"environment": {"INJECT": "{{ lookup('pipe', 'id') }}"}}}  # fmt: skip
    metadata = {"name": "p", "namespace": "avs", "uid": "u"}
    item = {
        "ansible_operator_meta": {"name": "p", "namespace": "avs"},
        "_hourglass_eigenlayer_io_performer": {"apiVersion": "hourglass.eigenlayer.io/v1alpha1",
                                               "kind": "Performer", "metadata": metadata, "spec": spec},
        "_hourglass_observed": {"pod": None, "service": None},
    }  # fmt: skip
    batch, out, playbook = tmp_path / "batch.json", tmp_path / "rendered.yaml", tmp_path / "role.yml"
    batch.write_text(json.dumps([item]))
    playbook.write_text(
        "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  roles:\n    - role: hourglass.operator.performer\n"
    )
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"), str(playbook),
        "-e", f"performers_file={batch}", "-e", f"performer_render_to={out}",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    [pod] = [d for d in yaml.safe_load_all(out.read_text()) if d and d["kind"] == "Pod"]
    [container] = pod["spec"]["containers"]
    assert {"name": "INJECT", "value": "{{ lookup('pipe', 'id') }}"} in container["env"]
