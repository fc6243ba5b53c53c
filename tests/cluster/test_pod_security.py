"""Restricted Pod Security, enforced by the API server's admission: in a namespace labelled
`pod-security.kubernetes.io/enforce=restricted` a Performer's pod is admitted and becomes Ready
with the operator running; the pod of every sample and of every GPU/TEE variant the role renders
is admitted (server-side dry run, so no scheduling is involved); and so is the operator's own
Deployment from config/default. A privileged pod is refused there, so the label is really enforced."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import kubernetes
import pytest
import yaml

from tests.support.helm import kustomize
from tests.support.paths import REPO, SAMPLES
from tests.support.performers import AVS, GROUP, PLURAL, VERSION, performer
from tests.support.playbooks import run_playbook
from tests.support.waiting import wait_for

RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
# Every hardware and scheduling shape the role renders differently (see roles/performer).
VARIANTS = {
    "gpu-count": {"hardwareRequirements": {"gpuCount": 2}},
    "gpu-a100": {"hardwareRequirements": {"gpuType": "nvidia-a100", "gpuCount": 1}},
    "gpu-h100": {"hardwareRequirements": {"gpuType": "nvidia-h100", "gpuCount": 8}},
    "gpu-l4": {"hardwareRequirements": {"gpuType": "nvidia-l4", "gpuCount": 1}},
    **{
        f"tee-{tee}": {"hardwareRequirements": {"teeRequired": True, "teeType": tee}}
        for tee in ("sgx", "sev", "sev-snp", "tdx")
    },
    "tee-with-gpu": {"hardwareRequirements": {"teeRequired": True, "teeType": "tdx", "gpuCount": 1}},
    "own-service-account": {"config": {"serviceAccountName": "avs-performer", "grpcPort": 7000}},
}


def restrict(core, namespace: str) -> None:
    core.patch_namespace(namespace, {"metadata": {"labels": RESTRICTED}})


def dry_run_create(core, namespace: str, pod: dict) -> None:
    """Creates `pod` with dryRun=All: admission (Pod Security included) runs, nothing is stored."""
    body = copy.deepcopy(pod)
    body["metadata"]["namespace"] = namespace
    core.create_namespaced_pod(namespace, body, dry_run="All")


def ensure_service_accounts(core, namespace: str, pods: list[dict]) -> None:
    """The ServiceAccounts the pods name (admission refuses a pod whose ServiceAccount is missing)."""
    for name in {p["spec"].get("serviceAccountName") for p in pods} - {None, "default"}:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})


def test_the_restricted_label_is_enforced(core, namespace):
    restrict(core, namespace)
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(kubernetes.client.ApiException) as refused:
        dry_run_create(core, namespace, privileged)
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted' in json.loads(refused.value.body)["message"]


def test_a_performer_is_admitted_and_becomes_ready_under_restricted(core, custom, namespace, operators):
    restrict(core, namespace)
    operators().wait_ready()
    [sample] = [d for d in yaml.safe_load_all((SAMPLES / "performer-basic.yaml").read_text()) if d]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, sample)
    name = sample["metadata"]["name"]

    def ready() -> bool:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get("status")
        return bool((status or {}).get("ready"))

    wait_for(ready, timeout=90, what=f"Performer {name} to be ready")
    pod = core.read_namespaced_pod(f"performer-{name}", namespace)
    assert pod.status.phase == "Running"
    assert pod.spec.security_context.run_as_non_root is True


@pytest.fixture(scope="module")
def rendered_pods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The pods the performer role renders (one-off playbook, render only) for every sample
    Performer of config/samples and every variant above, by Performer name."""
    work = tmp_path_factory.mktemp("pod-security")
    samples = [
        d for f in sorted(SAMPLES.glob("performer-*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]
    variants = [
        {**performer(name), "spec": {"avsAddress": AVS, "image": "ghcr.io/example/p:v1", **spec}}
        for name, spec in VARIANTS.items()
    ]
    source, out = work / "performers.yaml", work / "rendered.yaml"
    source.write_text(yaml.safe_dump_all(samples + variants))
    result = run_playbook(
        "playbooks/deploy-performer.yml", "-e", f"performer_file={source}", "-e", f"performer_render_to={out}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pods = [d for d in yaml.safe_load_all(out.read_text()) if d and d["kind"] == "Pod"]
    by_name = {p["metadata"]["labels"]["hourglass.eigenlayer.io/performer"]: p for p in pods}
    assert set(by_name) == {d["metadata"]["name"] for d in samples} | set(VARIANTS)
    return by_name


def test_every_sample_and_hardware_variant_is_admitted_under_restricted(
    core, namespace, rendered_pods, node_catalog
):
    """node_catalog: the TEE variants name the catalog's RuntimeClasses, which admission looks up."""
    restrict(core, namespace)
    ensure_service_accounts(core, namespace, list(rendered_pods.values()))
    refused = {}
    for name, pod in rendered_pods.items():
        try:
            dry_run_create(core, namespace, pod)
        except kubernetes.client.ApiException as error:
            refused[name] = error.body
    assert not refused


def operator_deployment() -> dict:
    return next(o for o in kustomize(REPO / "config" / "default") if o["kind"] == "Deployment")


def test_the_operator_deployment_is_admitted_under_restricted(cluster, core, namespace, tmp_path: Path):
    restrict(core, namespace)
    deployment = operator_deployment()
    template = deployment["spec"]["template"]
    core.create_namespaced_service_account(
        namespace, {"metadata": {"name": template["spec"]["serviceAccountName"]}}
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "operator", **template["metadata"]},
           "spec": template["spec"]}  # fmt: skip
    dry_run_create(core, namespace, pod)  # enforce: raises when refused

    # Pod Security only warns about workload objects; the warning would name the violations.
    deployment["metadata"]["namespace"] = namespace
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(yaml.safe_dump(deployment))
    result = subprocess.run(
        [cluster.kubectl_bin, "--kubeconfig", str(cluster.kubeconfig), "create", "--dry-run=server",
         "-f", str(manifest), "-o", "name"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "PodSecurity" not in result.stderr
