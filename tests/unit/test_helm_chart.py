"""The Helm chart charts/hourglass-operator, rendered by a real `helm` (built from its Go module by
hack/helm/build.sh; skipped when it cannot be built here): it renders the SPEC's names, labels and
restricted pod security for the defaults and for variations of the values, rejects bad values with
an error naming the field, keeps the CRD in crds/ (not templates/), and renders the same objects as
the kustomize manifests of config/default. `make lint` runs `helm lint --strict` on it and checks
that its crds/ copy is the CRD of crds/ (hack/crd/generate.py --check).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from hourglass_operator import cli
from tests.support.helm import CHART, NAMESPACE, RELEASE, Helm, helm_binary, kustomize
from tests.support.paths import REPO

SPEC_LABELS = {
    "app.kubernetes.io/name": "hourglass-operator",
    "app.kubernetes.io/component": "operator",
    "app.kubernetes.io/part-of": "hourglass",
    "app.kubernetes.io/managed-by": "Helm",
}
# Labels only Helm or only kustomize sets, left out when comparing the two.
TOOL_LABELS = {
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "helm.sh/chart",
}
OPERATOR_RULES = (
    {("hourglass.eigenlayer.io", "performers", verb, None) for verb in ("get", "list", "watch", "patch")}
    | {
        ("hourglass.eigenlayer.io", "performers/status", "patch", None),
        ("hourglass.eigenlayer.io", "performers/finalizers", "update", None),
        ("", "events", "create", None),
        ("", "services", "update", None),
    }
    | {
        ("", kind, verb, None)
        for kind in ("pods", "services")
        for verb in ("get", "list", "watch", "create", "patch", "delete")
    }
)
# Environment variables of the Deployment that set an operator flag (hourglass_operator/cli.py).
FLAG_OF_ENV = {
    "WATCH_NAMESPACE": "namespaces",
    "MAX_CONCURRENT_RECONCILES": "max_concurrent_reconciles",
    "MAX_BATCH_SIZE": "max_batch_size",
    "BATCH_WINDOW": "batch_window",
    "STATUS_FAST_PATH": "status_fast_path",
    "LEADER_ELECT": "leader_elect",
    "LEADER_ELECTION_ID": "leader_election_id",
    "METRICS_BIND_ADDRESS": "metrics_bind_address",
    "HEALTH_PROBE_BIND_ADDRESS": "health_probe_bind_address",
    "LOG_LEVEL": "log_level",
    "LOG_FORMAT": "log_format",
    "RUNNER_DIR": "runner_dir",
}


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_binary(), tmp_path_factory.mktemp("helm"))


def by_kind_name(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def the(objects: list[dict], kind: str) -> dict:
    matching = [o for o in objects if o["kind"] == kind]
    assert len(matching) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in matching]}"
    return matching[0]


def container(objects: list[dict]) -> dict:
    containers = the(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]


def env_of(objects: list[dict]) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}


def rule_set(rules: list[dict]) -> set[tuple[str, str, str, str | None]]:
    """RBAC rules as (group, resource, verb, resourceName) tuples, independent of how they are grouped."""
    return {
        (group, resource, verb, name)
        for r in rules
        for group in r.get("apiGroups", [])
        for resource in r.get("resources", [])
        for verb in r["verbs"]
        for name in r.get("resourceNames") or [None]
    }


def spec_labels(obj: dict) -> dict[str, str]:
    labels = obj["metadata"].get("labels") or {}
    return {k: v for k, v in labels.items() if k not in TOOL_LABELS}


# --- defaults ------------------------------------------------------------------------------------


def test_the_defaults_render_the_spec_objects(helm: Helm) -> None:
    objects = helm.objects()
    assert set(by_kind_name(objects)) == {
        ("ServiceAccount", "hourglass-operator"),
        ("ClusterRole", "hourglass-operator"),
        ("ClusterRoleBinding", "hourglass-operator"),
        ("Role", "hourglass-operator-leader-election"),
        ("RoleBinding", "hourglass-operator-leader-election"),
        ("Deployment", "hourglass-operator"),
        ("Service", "hourglass-operator-metrics"),
        ("ClusterRole", "hourglass-operator-performer-editor"),
        ("ClusterRole", "hourglass-operator-performer-viewer"),
    }
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert SPEC_LABELS.items() <= labels.items(), obj["metadata"]
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]

    operator_role = by_kind_name(objects)[("ClusterRole", "hourglass-operator")]
    assert rule_set(operator_role["rules"]) == OPERATOR_RULES
    binding = by_kind_name(objects)[("ClusterRoleBinding", "hourglass-operator")]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hourglass-operator",
    }  # fmt: skip
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hourglass-operator", "namespace": NAMESPACE}
    ]
    lease_role = by_kind_name(objects)[("Role", "hourglass-operator-leader-election")]
    assert rule_set(lease_role["rules"]) == {
        ("coordination.k8s.io", "leases", "create", None),
        ("coordination.k8s.io", "leases", "get", "hourglass-operator"),
        ("coordination.k8s.io", "leases", "update", "hourglass-operator"),
    }
    assert the(objects, "ServiceAccount")["automountServiceAccountToken"] is False

    deployment = the(objects, "Deployment")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["serviceAccountName"] == "hourglass-operator"
    assert pod["spec"]["automountServiceAccountToken"] is True
    c = container(objects)
    assert c["image"] == "ghcr.io/hourglass-operator/operator:0.1.0"
    assert env_of(objects) | {"LEADER_ELECTION_NAMESPACE": None} == {
        "LEADER_ELECT": "true",
        "LEADER_ELECTION_NAMESPACE": None,
        "LEADER_ELECTION_ID": "hourglass-operator",
        "WATCH_NAMESPACE": "",
        "METRICS_BIND_ADDRESS": ":8080",
        "HEALTH_PROBE_BIND_ADDRESS": ":8081",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "MAX_CONCURRENT_RECONCILES": "2",
        "MAX_BATCH_SIZE": "100",
        "BATCH_WINDOW": "0.25",
        "STATUS_FAST_PATH": "true",
        "RUNNER_DIR": "/tmp/hourglass-operator",
        "ANSIBLE_LOCAL_TEMP": "/tmp/.ansible/tmp",
        "ANSIBLE_REMOTE_TEMP": "/tmp/.ansible/tmp",
    }
    assert env_of(objects)["LEADER_ELECTION_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["resources"]["requests"] and c["resources"]["limits"]

    service = the(objects, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def assert_restricted(deployment: dict) -> None:
    """The Pod Security Standard `restricted` profile's requirements, plus a read-only root
    filesystem whose only writable place is the emptyDir at /tmp."""
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    assert all("emptyDir" in v for v in pod["volumes"]), pod["volumes"]
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc.get("runAsUser", 1001) != 0
        assert not sc.get("privileged")
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts == {"/tmp": "tmp"}
        assert not any("hostPort" in p for p in c["ports"])


def test_the_operator_pod_meets_the_restricted_pod_security_standard(helm: Helm) -> None:
    assert_restricted(the(helm.objects(), "Deployment"))


# --- variations of the values ----------------------------------------------------------------------


def test_watch_namespaces_grant_roles_in_those_namespaces_instead_of_a_cluster_role(helm: Helm) -> None:
    objects = helm.objects({"watchNamespaces": ["avs-a", "avs-b"]})
    kinds = by_kind_name(objects)
    assert ("ClusterRole", "hourglass-operator") not in kinds
    assert ("ClusterRoleBinding", "hourglass-operator") not in kinds
    roles = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "hourglass-operator"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["avs-a", "avs-b"]
    assert all(rule_set(r["rules"]) == OPERATOR_RULES for r in roles)
    bindings = [
        o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "hourglass-operator"
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["avs-a", "avs-b"]
    for b in bindings:
        assert b["roleRef"]["kind"] == "Role"
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": "hourglass-operator", "namespace": NAMESPACE}
        ]
    assert env_of(objects)["WATCH_NAMESPACE"] == "avs-a,avs-b"
    assert ("Role", "hourglass-operator-leader-election") in kinds


def test_an_image_digest_pins_the_image(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    objects = helm.objects({"image": {"repository": "registry.example/op", "tag": "9.9.9", "digest": digest}})
    assert container(objects)["image"] == f"registry.example/op@{digest}"
    objects = helm.objects({"image": {"tag": "1.2.3", "pullPolicy": "Always"}})
    assert container(objects)["image"] == "ghcr.io/hourglass-operator/operator:1.2.3"
    assert container(objects)["imagePullPolicy"] == "Always"


def test_the_service_monitor_scrapes_the_metrics_service(helm: Helm) -> None:
    objects = helm.objects({"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}})
    monitor, service = the(objects, "ServiceMonitor"), the(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert not [o for o in helm.objects() if o["kind"] == "ServiceMonitor"]
    failed = helm.template(
        {"serviceMonitor": {"enabled": True}, "metrics": {"service": {"enabled": False}}}, check=False
    )
    assert failed.returncode != 0 and "metrics.service.enabled" in failed.stderr


def test_rbac_create_false_leaves_out_every_role_and_binding(helm: Helm) -> None:
    objects = helm.objects({"rbac": {"create": False, "aggregateToDefaultRoles": False}})
    assert {o["kind"] for o in objects} == {"ServiceAccount", "Deployment", "Service"}


def test_an_existing_service_account_is_used_and_bound(helm: Helm) -> None:
    objects = helm.objects({"serviceAccount": {"create": False, "name": "ops-sa"}})
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]
    assert the(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"
    for binding in (o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        assert binding["subjects"][0]["name"] == "ops-sa"


def test_another_release_name_prefixes_every_name(helm: Helm) -> None:
    objects = helm.objects(release="blue", namespace="ops")
    names = {o["metadata"]["name"] for o in objects}
    assert names == {
        "blue-hourglass-operator",
        "blue-hourglass-operator-leader-election",
        "blue-hourglass-operator-metrics",
        "blue-hourglass-operator-performer-editor",
        "blue-hourglass-operator-performer-viewer",
    }
    assert env_of(objects)["LEADER_ELECTION_ID"] == "blue-hourglass-operator"
    lease_role = next(o for o in objects if o["kind"] == "Role")
    assert ("coordination.k8s.io", "leases", "update", "blue-hourglass-operator") in rule_set(
        lease_role["rules"]
    )
    assert (
        the(objects, "Deployment")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "blue"
    )


def test_operator_settings_and_pod_placement_reach_the_deployment(helm: Helm) -> None:
    values = {
        "replicaCount": 3,
        "maxConcurrentReconciles": 4,
        "maxBatchSize": 20,
        "batchWindow": 1.5,
        "statusFastPath": False,
        "logLevel": "debug",
        "logFormat": "text",
        "extraEnv": [{"name": "ANSIBLE_VERBOSITY", "value": "2"}],
        "nodeSelector": {"pool": "ops"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/a": "b"},
        "podLabels": {"team": "avs"},
        "imagePullSecrets": [{"name": "regcred"}],
        "resources": {"requests": {"cpu": "50m"}},
    }
    objects = helm.objects(values)
    deployment = the(objects, "Deployment")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] == 3
    env = env_of(objects)
    assert env["LEADER_ELECT"] == "true"
    assert (env["MAX_CONCURRENT_RECONCILES"], env["MAX_BATCH_SIZE"], env["BATCH_WINDOW"]) == (
        "4",
        "20",
        "1.5",
    )
    assert (env["STATUS_FAST_PATH"], env["LOG_LEVEL"], env["LOG_FORMAT"]) == ("false", "debug", "text")
    assert env["ANSIBLE_VERBOSITY"] == "2"
    # Helm merges maps with the defaults (a key set to null removes a default one).
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "ops"}
    assert pod["spec"]["tolerations"] == values["tolerations"]
    assert pod["spec"]["affinity"] == values["affinity"]
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["annotations"]["example.com/a"] == "b"
    assert pod["metadata"]["labels"]["team"] == "avs"
    assert container(objects)["resources"] == {
        "requests": {"cpu": "50m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert_restricted(deployment)


def test_without_the_metrics_service_or_aggregated_roles(helm: Helm) -> None:
    objects = helm.objects(
        {"metrics": {"service": {"enabled": False}}, "rbac": {"aggregateToDefaultRoles": False}}
    )
    assert not [o for o in objects if o["kind"] == "Service"]
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"} == {"hourglass-operator"}


# --- bad values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"replicaCount": "x"}, "/replicaCount"),
        ({"logFormat": "xml"}, "/logFormat"),
        ({"logLevel": "verbose"}, "/logLevel"),
        ({"replicas": 2}, "replicas"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "/watchNamespaces/0"),
        ({"watchNamespaces": "avs-a"}, "/watchNamespaces"),
        ({"maxBatchSize": 0}, "/maxBatchSize"),
        ({"batchWindow": "soon"}, "/batchWindow"),
        ({"statusFastPath": "yes"}, "/statusFastPath"),
        ({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval"),
        ({"metrics": {"service": {"port": 70000}}}, "/metrics/service/port"),
        ({"extraEnv": [{"value": "no name"}]}, "/extraEnv/0"),
        ({"rbac": {"create": "yes"}}, "/rbac/create"),
    ],
)
def test_a_bad_value_fails_with_an_error_naming_it(helm: Helm, values: dict, field: str) -> None:
    result = helm.template(values, check=False)
    assert result.returncode != 0, f"{values} rendered:\n{result.stdout[:500]}"
    assert "schema" in result.stderr and field in result.stderr, result.stderr


# --- the CRD -----------------------------------------------------------------------------------------


def sources(rendered: str) -> Iterator[tuple[str, str]]:
    """(source file, document) pairs of `helm template` output."""
    for doc in rendered.split("\n---\n"):
        for line in doc.splitlines():
            if line.startswith("# Source: "):
                yield line.removeprefix("# Source: "), doc
                break


def test_the_crd_is_in_crds_not_in_templates(helm: Helm) -> None:
    """Helm installs crds/ before the release but never upgrades or deletes it (so `helm uninstall`
    keeps every Performer); anything in templates/ would be deleted with the release."""
    with_crds = dict(sources(helm.template(include_crds=True).stdout))
    crd_sources = [s for s, doc in with_crds.items() if "kind: CustomResourceDefinition" in doc]
    assert crd_sources == ["hourglass-operator/crds/hourglass.eigenlayer.io_performers.yaml"]
    assert not any(s.startswith("hourglass-operator/templates/") for s in crd_sources)
    assert not list((CHART / "templates").rglob("*performers*"))
    assert "CustomResourceDefinition" not in helm.template().stdout


# --- parity with config/default ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def kustomized() -> list[dict]:
    return kustomize(REPO / "config" / "default")


def flag_defaults(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The operator's own default for each environment variable of FLAG_OF_ENV, as the string an
    environment variable would hold."""
    for name in FLAG_OF_ENV:
        monkeypatch.delenv(name, raising=False)
    args = vars(cli.parser().parse_args(["run"]))
    return {
        env: str(args[flag]).lower() if isinstance(args[flag], bool) else str(args[flag])
        for env, flag in FLAG_OF_ENV.items()
    }


def test_the_chart_renders_the_objects_of_config_default(
    helm: Helm, kustomized: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = by_kind_name(helm.objects(release=RELEASE, namespace=NAMESPACE, include_crds=True))
    manifests = by_kind_name(kustomized)
    # The chart leaves the namespace to `helm install --create-namespace`.
    assert set(chart) == set(manifests) - {("Namespace", NAMESPACE)}
    for key, manifest in manifests.items():
        if key not in chart:
            continue
        rendered = chart[key]
        assert rendered["metadata"].get("namespace") == manifest["metadata"].get("namespace"), key
        if key[0] != "CustomResourceDefinition":
            assert spec_labels(rendered) == spec_labels(manifest), key
        if key[0] in ("ClusterRole", "Role"):
            assert rule_set(rendered["rules"]) == rule_set(manifest["rules"]), key
        if key[0] in ("ClusterRoleBinding", "RoleBinding"):
            assert (rendered["roleRef"], rendered["subjects"]) == (
                manifest["roleRef"],
                manifest["subjects"],
            ), key
        if key[0] == "ServiceAccount":
            assert rendered.get("automountServiceAccountToken") == manifest.get(
                "automountServiceAccountToken"
            )
        if key[0] == "Service":
            assert rendered["spec"]["ports"] == manifest["spec"]["ports"]
            assert manifest["spec"]["selector"].items() <= rendered["spec"]["selector"].items()
        if key[0] == "CustomResourceDefinition":
            assert rendered["spec"] == manifest["spec"]

    deployment, expected = (
        chart[("Deployment", "hourglass-operator")],
        manifests[("Deployment", "hourglass-operator")],
    )
    assert deployment["spec"]["replicas"] == expected["spec"]["replicas"]
    assert (
        expected["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["selector"]["matchLabels"].items()
    )
    pod, expected_pod = deployment["spec"]["template"]["spec"], expected["spec"]["template"]["spec"]
    assert {k: v for k, v in pod.items() if k != "containers"} == {
        k: v for k, v in expected_pod.items() if k != "containers"
    }
    assert spec_labels(deployment["spec"]["template"]) == spec_labels(expected["spec"]["template"])
    c, expected_c = pod["containers"][0], expected_pod["containers"][0]
    for field in ("name", "image", "imagePullPolicy", "ports", "livenessProbe", "readinessProbe",
                  "resources", "securityContext", "volumeMounts"):  # fmt: skip
        assert c.get(field) == expected_c.get(field), field
    env = {e["name"]: e for e in c["env"]}
    expected_env = {e["name"]: e for e in expected_c["env"]}
    assert {k: env.get(k) for k in expected_env} == expected_env
    # What the chart sets on top of config/ only spells out the operator's own defaults.
    defaults = flag_defaults(monkeypatch)
    extra = {k: e["value"] for k, e in env.items() if k not in expected_env}
    assert extra == {k: defaults[k] for k in extra}, (
        "the chart's extra env differs from the operator's defaults"
    )


def test_the_service_monitor_matches_config_prometheus(helm: Helm) -> None:
    expected = the(kustomize(REPO / "config" / "prometheus"), "ServiceMonitor")
    rendered = the(helm.objects({"serviceMonitor": {"enabled": True}}), "ServiceMonitor")
    assert rendered["metadata"]["name"] == expected["metadata"]["name"]
    assert rendered["spec"]["endpoints"] == expected["spec"]["endpoints"]
    assert (
        expected["spec"]["selector"]["matchLabels"].items()
        <= rendered["spec"]["selector"]["matchLabels"].items()
    )


def values_leaves() -> dict[str, int]:
    """Dotted path of each value in values.yaml -> its line number. A mapping that is itself a
    default (resources, nodeSelector) counts as one value."""
    import yaml

    def walk(node: object, prefix: str) -> Iterator[str]:
        if isinstance(node, dict) and node and prefix not in ("resources.", "nodeSelector."):
            for k, v in node.items():
                yield from walk(v, f"{prefix}{k}.")
        else:
            yield prefix.rstrip(".")

    leaves = set(walk(yaml.safe_load((CHART / "values.yaml").read_text()), ""))
    found, stack = {}, []  # stack of (indent, key)
    for number, line in enumerate((CHART / "values.yaml").read_text().splitlines()):
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent = len(match[1])
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, match[2])]
        path = ".".join(k for _, k in stack)
        if path in leaves:
            found[path] = number
    assert set(found) == leaves
    return found


def test_every_value_is_documented_in_values_yaml_and_the_readme() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    readme = (CHART / "README.md").read_text()
    for path, number in values_leaves().items():
        assert lines[number - 1].lstrip().startswith("#"), f"values.yaml: {path} has no comment above it"
        assert f"| `{path}`" in readme, f"README.md's values table lacks {path}"
