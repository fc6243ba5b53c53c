"""The Helm chart charts/hourglass-operator, rendered by a real `helm` (built from its Go module by
hack/helm/build.sh; skipped when it cannot be built here): it renders the SPEC's names, labels and
restricted pod security for the defaults and for variations of the values, rejects bad values with
an error naming the field, keeps the CRD in crds/ (not templates/), and renders the same objects as
the kustomize manifests of config/default. `make lint` runs `helm lint --strict` on it and checks
that its crds/ copy is the CRD of crds/ (hack/crd/generate.py --check).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

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
# Labels only Helm sets or that name the tool, left out when comparing the chart with config/ (whose
# instance and version are the chart's for the release name hourglass-operator).
TOOL_LABELS = {"app.kubernetes.io/managed-by", "helm.sh/chart"}
OPERATOR_RULES = (
    {("hourglass.eigenlayer.io", "performers", verb, None) for verb in ("get", "list", "watch", "patch")}
    | {
        ("hourglass.eigenlayer.io", "performers/status", "patch", None),
        ("hourglass.eigenlayer.io", "performers/finalizers", "update", None),
        *[("", "events", verb, None) for verb in ("create", "patch")],
        *[("", "resourcequotas", verb, None) for verb in ("list", "watch")],
        ("", "services", "update", None),
    }
    | {
        ("", kind, verb, None)
        for kind in ("pods", "services")
        for verb in ("get", "list", "watch", "create", "patch", "delete")
    }
)
NODE_RULES = {("", "nodes", "get", None)}  # cluster-scoped: the node of a pod stuck terminating
# Environment variables of the Deployment that set an operator flag (hourglass_operator/cli.py).
FLAG_OF_ENV = {
    "WATCH_NAMESPACE": "namespaces",
    "MAX_CONCURRENT_RECONCILES": "max_concurrent_reconciles",
    "MAX_BATCH_SIZE": "max_batch_size",
    "BATCH_WINDOW": "batch_window",
    "ROLLOUT_MAX_UNAVAILABLE": "rollout_max_unavailable",
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
        ("ClusterRole", "hourglass-operator-nodes"),
        ("ClusterRoleBinding", "hourglass-operator-nodes"),
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
    assert rule_set(by_kind_name(objects)[("ClusterRole", "hourglass-operator-nodes")]["rules"]) == NODE_RULES
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
        "MAX_CONCURRENT_RECONCILES": "1",
        "MAX_BATCH_SIZE": "250",
        "BATCH_WINDOW": "0.25",
        "ROLLOUT_MAX_UNAVAILABLE": "25%",
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
    assert rule_set(kinds[("ClusterRole", "hourglass-operator-nodes")]["rules"]) == NODE_RULES
    assert kinds[("ClusterRoleBinding", "hourglass-operator-nodes")]["subjects"] == [
        {"kind": "ServiceAccount", "name": "hourglass-operator", "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("watch", [[], ["avs-a"]])
def test_without_read_nodes_the_operator_gets_no_cluster_scoped_rule(helm: Helm, watch: list[str]) -> None:
    objects = helm.objects({"watchNamespaces": watch, "rbac": {"readNodes": False}})
    granted = set().union(*(rule_set(o["rules"]) for o in objects if o["kind"] in ("ClusterRole", "Role")
                            and o["metadata"]["name"].startswith("hourglass-operator")))  # fmt: skip
    assert not NODE_RULES & granted
    assert ("ClusterRole", "hourglass-operator-nodes") not in by_kind_name(objects)


def test_an_image_digest_pins_the_image(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    objects = helm.objects({"image": {"repository": "registry.example/op", "tag": "9.9.9", "digest": digest}})
    assert container(objects)["image"] == f"registry.example/op@{digest}"
    objects = helm.objects({"image": {"tag": "1.2.3", "pullPolicy": "Always"}})
    assert container(objects)["image"] == "ghcr.io/hourglass-operator/operator:1.2.3"
    assert container(objects)["imagePullPolicy"] == "Always"


MONITORING_APIS = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule")


def test_the_service_monitor_scrapes_the_metrics_service(helm: Helm) -> None:
    objects = helm.objects(
        {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}, api_versions=MONITORING_APIS
    )
    monitor, service = the(objects, "ServiceMonitor"), the(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert not [o for o in helm.objects() if o["kind"] == "ServiceMonitor"]
    failed = helm.template(
        {"serviceMonitor": {"enabled": True}, "metrics": {"service": {"enabled": False}}},
        api_versions=MONITORING_APIS,
        check=False,
    )
    assert failed.returncode != 0 and "metrics.service.enabled" in failed.stderr


def test_monitoring_objects_are_rendered_only_where_their_crds_are_served(helm: Helm) -> None:
    """A ServiceMonitor or PrometheusRule on a cluster without the Prometheus Operator's CRDs would
    fail the whole install: without them the chart leaves them out."""
    enabled = {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}
    kinds = {o["kind"] for o in helm.objects(enabled)}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    rule = the(helm.objects(enabled, api_versions=MONITORING_APIS), "PrometheusRule")
    assert [g["name"] for g in rule["spec"]["groups"]] == ["hourglass-operator"]


def test_the_grafana_dashboard_config_map(helm: Helm) -> None:
    assert not [o for o in helm.objects() if o["kind"] == "ConfigMap"]
    config_map = the(helm.objects({"grafanaDashboard": {"enabled": True}}), "ConfigMap")
    assert config_map["metadata"]["name"] == "hourglass-operator-dashboard"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["hourglass.json"])["uid"] == "hourglass"


def test_pod_disruption_budget(helm: Helm) -> None:
    assert not [o for o in helm.objects() if o["kind"] == "PodDisruptionBudget"]
    budget = the(helm.objects({"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")
    selector = the(helm.objects(), "Deployment")["spec"]["selector"]["matchLabels"]
    assert budget["spec"] == {"selector": {"matchLabels": selector}, "maxUnavailable": 1}
    budget = the(
        helm.objects({"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}}), "PodDisruptionBudget"
    )
    assert budget["spec"]["minAvailable"] == "50%" and "maxUnavailable" not in budget["spec"]


def test_extra_args_security_context_and_topology_spread_reach_the_pod(helm: Helm) -> None:
    spread = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
    }
    objects = helm.objects(
        {
            "extraArgs": ["--log-level", "debug"],
            "podSecurityContext": {"runAsNonRoot": True, "fsGroup": 2000},
            "securityContext": {"runAsUser": 4242},
            "topologySpreadConstraints": [spread],
        }
    )
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    assert container(objects)["args"] == ["--log-level", "debug"]
    # Helm merges a map value into the default map: the restricted defaults stay.
    assert pod["securityContext"]["fsGroup"] == 2000
    assert container(objects)["securityContext"]["runAsUser"] == 4242
    selector = the(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert pod["topologySpreadConstraints"] == [{**spread, "labelSelector": {"matchLabels": selector}}]
    assert "args" not in container(helm.objects())
    assert "topologySpreadConstraints" not in the(helm.objects(), "Deployment")["spec"]["template"]["spec"]


def rendered_notes(helm: Helm, tmp_path: Path, *api_versions: str) -> str:
    """NOTES.txt as `helm install` prints it (which `helm template` does not render): a copy of the
    chart renders it with `tpl` into a ConfigMap."""
    chart = tmp_path / "chart"
    shutil.copytree(helm.chart, chart)
    (chart / "files" / "notes.txt").write_text((chart / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ tpl (.Files.Get "files/notes.txt") . | quote }}}\n'
    )
    copy = Helm(helm.binary, helm.home, chart=chart)
    rendered = copy.objects(api_versions=api_versions)
    return next(o for o in rendered if o["metadata"]["name"] == "notes")["data"]["notes"]


def test_notes_claim_a_crd_install_only_when_the_crd_is_served(helm: Helm, tmp_path: Path) -> None:
    served = rendered_notes(helm, tmp_path / "served", "hourglass.eigenlayer.io/v1alpha1/Performer")
    assert "The Performer CRD is installed" in served and "NOT installed" not in served
    missing = rendered_notes(helm, tmp_path / "missing")
    assert "The Performer CRD is NOT installed" in missing and "kubectl apply --server-side" in missing
    assert "serviceMonitor.enabled is true but the cluster does not serve" not in missing


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
        ({"rolloutMaxUnavailable": 0}, "/rolloutMaxUnavailable"),
        ({"rolloutMaxUnavailable": "half"}, "/rolloutMaxUnavailable"),
        ({"rolloutMaxUnavailable": "0%"}, "/rolloutMaxUnavailable"),
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


# --- values that look like YAML booleans or numbers ------------------------------------------------

# Fields the API server decodes as strings only; unquoted, YAML reads `true`, `yes`, `123` or `null`
# as a bool, a number or nothing, and the object is refused (or its namespace lost).
STRING_FIELDS = {"name", "namespace", "priorityClassName", "serviceAccountName", "serviceName", "value"}
STRING_MAPS = {"labels", "matchLabels", "selector", "annotations"}


def non_strings(node: object, path: str = "", key: str = "", parent: str = "") -> Iterator[str]:
    """Where `node` holds a non-string in a field of STRING_FIELDS or in a map of STRING_MAPS."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from non_strings(v, f"{path}.{k}", k, key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from non_strings(v, f"{path}[{i}]", key, parent)
    elif (key in STRING_FIELDS or parent in STRING_MAPS) and not isinstance(node, str):
        yield f"{path}: {node!r}"


def assert_strings(objects: list[dict]) -> None:
    found = [f"{o['kind']}{where}" for o in objects for where in non_strings(o)]
    assert not found, found


@pytest.mark.parametrize("priority_class", ["true", "123", "null"])
def test_values_that_look_like_booleans_or_numbers_render_as_strings(helm: Helm, priority_class: str) -> None:
    values = {
        "priorityClassName": priority_class,
        "fullnameOverride": "123",
        "serviceAccount": {"name": "yes"},
        "watchNamespaces": ["456", "off"],
        "podDisruptionBudget": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
    }
    objects = helm.objects(values, release="789", namespace="true")
    assert_strings(objects)
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    assert (pod["priorityClassName"], pod["serviceAccountName"]) == (priority_class, "yes")
    assert {o["metadata"].get("namespace") for o in objects} == {None, "true", "456", "off"}
    assert_strings(helm.objects({"priorityClassName": priority_class}, release="789", namespace="on"))


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
    rendered = the(
        helm.objects({"serviceMonitor": {"enabled": True}}, api_versions=MONITORING_APIS), "ServiceMonitor"
    )
    assert rendered["metadata"]["name"] == expected["metadata"]["name"]
    assert rendered["spec"]["endpoints"] == expected["spec"]["endpoints"]
    assert (
        expected["spec"]["selector"]["matchLabels"].items()
        <= rendered["spec"]["selector"]["matchLabels"].items()
    )


# Values whose default is a mapping that counts as one value.
MAP_DEFAULTS = (
    "resources.",
    "nodeSelector.",
    "podSecurityContext.",
    "securityContext.",
    "grafanaDashboard.labels.",
    "config.",
    "chain.",
)


def values_leaves(chart: Path = CHART) -> dict[str, int]:
    """Dotted path of each value in values.yaml -> its line number. A mapping that is itself a
    default (resources, nodeSelector) counts as one value."""
    import yaml

    def walk(node: object, prefix: str) -> Iterator[str]:
        if isinstance(node, dict) and node and prefix not in MAP_DEFAULTS:
            for k, v in node.items():
                yield from walk(v, f"{prefix}{k}.")
        else:
            yield prefix.rstrip(".")

    leaves = set(walk(yaml.safe_load((chart / "values.yaml").read_text()), ""))
    found, stack = {}, []  # stack of (indent, key)
    for number, line in enumerate((chart / "values.yaml").read_text().splitlines()):
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


def test_role_vars_reach_the_operator_as_json_and_none_set_none(helm: Helm) -> None:
    assert "ROLE_VARS" not in env_of(helm.objects())
    role_vars = {
        "performer_cluster_domain": "corp.example",
        "performer_gpu_products": {"nvidia-l4": ["NVIDIA-L4"]},
    }
    assert json.loads(env_of(helm.objects({"roleVars": role_vars}))["ROLE_VARS"]) == role_vars


def test_without_read_nodes_the_lost_pod_recovery_is_off_unless_role_vars_set_it(helm: Helm) -> None:
    """It reads the pod's node first: without the permission every reconcile of a pod on a dead node
    failed with 403."""
    no_nodes = {"rbac": {"readNodes": False}}
    assert json.loads(env_of(helm.objects(no_nodes))["ROLE_VARS"]) == {"performer_lost_pod_after_seconds": 0}
    mine = {"performer_lost_pod_after_seconds": 60, "performer_cluster_domain": "corp.example"}
    assert json.loads(env_of(helm.objects({**no_nodes, "roleVars": mine}))["ROLE_VARS"]) == mine


def test_without_the_charts_rbac_the_lost_pod_recovery_is_off_unless_role_vars_set_it(helm: Helm) -> None:
    """The operator checks `get nodes` at start while the recovery is on; with its own RBAC the
    chart cannot know it is granted."""
    env = env_of(helm.objects({"rbac": {"create": False}}))
    assert json.loads(env["ROLE_VARS"]) == {"performer_lost_pod_after_seconds": 0}


def test_numbers_of_a_million_or_more_reach_the_operator_as_integers(helm: Helm) -> None:
    """Helm printed 1000000 as "1e+06", which the operator's integer flags refuse."""
    env = env_of(
        helm.objects(
            {"maxBatchSize": 1000000, "maxConcurrentReconciles": 2000000, "rolloutMaxUnavailable": 3000000}
        )
    )
    assert (env["MAX_BATCH_SIZE"], env["MAX_CONCURRENT_RECONCILES"], env["ROLLOUT_MAX_UNAVAILABLE"]) == (
        "1000000",
        "2000000",
        "3000000",
    )
    assert env_of(helm.objects({"batchWindow": 0.25}))["BATCH_WINDOW"] == "0.25"
