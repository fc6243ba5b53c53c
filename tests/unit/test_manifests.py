"""The manifests of config/ as `kubectl kustomize` builds them (kubectl of the local control plane,
HOURGLASS_TEST_KUBECTL or the one on PATH; skipped without one): the objects and names every
install path agrees on, the labels, a restricted and read-only operator Deployment with leader
election and probes on the health port, a least-privilege ClusterRole; the install role's filter
and render-only run producing exactly those objects; and the install playbooks refusing bad input
with a message naming the variable."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.support.cluster import kubectl
from tests.support.helm import kustomize
from tests.support.paths import CRD_FILE, REPO, SAMPLES
from tests.support.playbooks import run_playbook
from tests.support.rbac import operator_manifests

CONFIG = REPO / "config"
NAMESPACE = "hourglass-system"
LABELS = {
    "app.kubernetes.io/name": "hourglass-operator",
    "app.kubernetes.io/component": "operator",
    "app.kubernetes.io/instance": "hourglass-operator",
    "app.kubernetes.io/part-of": "hourglass",
    "app.kubernetes.io/version": "0.1.0",
    "app.kubernetes.io/managed-by": "kustomize",
}
# What the operator does (see the comment in config/rbac/role.yaml), and nothing else.
OPERATOR_RULES = [
    {"apiGroups": ["hourglass.eigenlayer.io"], "resources": ["performers"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["hourglass.eigenlayer.io"], "resources": ["performers/status"], "verbs": ["patch"]},
    {"apiGroups": ["hourglass.eigenlayer.io"], "resources": ["performers/finalizers"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["pods", "services"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["list", "watch"]},
]  # fmt: skip


def build(directory: Path) -> list[dict]:
    try:
        return kustomize(directory)
    except RuntimeError as error:  # no kubectl anywhere
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return build(CONFIG / "default")


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def one(objects: list[dict], kind: str, name: str) -> dict:
    return by_kind(objects, kind)[name]


def deployment(objects: list[dict]) -> dict:
    return one(objects, "Deployment", "hourglass-operator")


def container(objects: list[dict]) -> dict:
    [c] = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return c


def test_default_renders_the_objects_every_install_path_names(objects):
    identities = [(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects]
    assert sorted(identities) == sorted([
        ("Namespace", NAMESPACE, None),
        ("CustomResourceDefinition", "performers.hourglass.eigenlayer.io", None),
        ("ServiceAccount", "hourglass-operator", NAMESPACE),
        ("ClusterRole", "hourglass-operator", None),
        ("ClusterRoleBinding", "hourglass-operator", None),
        ("ClusterRole", "hourglass-operator-nodes", None),
        ("ClusterRoleBinding", "hourglass-operator-nodes", None),
        ("ClusterRole", "hourglass-operator-performer-editor", None),
        ("ClusterRole", "hourglass-operator-performer-viewer", None),
        ("Role", "hourglass-operator-leader-election", NAMESPACE),
        ("RoleBinding", "hourglass-operator-leader-election", NAMESPACE),
        ("Deployment", "hourglass-operator", NAMESPACE),
        ("Service", "hourglass-operator-metrics", NAMESPACE),
    ])  # fmt: skip


def test_every_object_carries_the_labels(objects):
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        assert LABELS.items() <= labels.items(), f"{obj['kind']}/{obj['metadata']['name']}: {labels}"
    template = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert LABELS.items() <= template.items()


def test_the_crd_kustomization_builds_the_crd():
    # Its copy in config/crd/bases is checked against the generator by `make lint`.
    [crd] = build(CONFIG / "crd")
    assert crd == yaml.safe_load(CRD_FILE.read_text())


def test_the_namespace_enforces_restricted_pod_security(objects):
    labels = one(objects, "Namespace", NAMESPACE)["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_the_deployment_is_restricted_and_read_only(objects):
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container(objects)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    # Everything the operator writes goes to the emptyDir at /tmp.
    [volume] = pod["volumes"]
    assert "emptyDir" in volume
    assert container(objects)["volumeMounts"] == [{"name": volume["name"], "mountPath": "/tmp"}]
    env = {e["name"]: e.get("value") for e in container(objects)["env"]}
    for variable in ("RUNNER_DIR", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_REMOTE_TEMP"):
        assert env[variable].startswith("/tmp/")
    # Only this pod gets the ServiceAccount's token.
    assert pod["serviceAccountName"] == "hourglass-operator"
    assert pod["automountServiceAccountToken"] is True
    assert one(objects, "ServiceAccount", "hourglass-operator")["automountServiceAccountToken"] is False


def test_the_deployment_runs_the_image_with_leader_election_and_the_spec_env(objects):
    c = container(objects)
    assert c["name"] == "operator"
    assert c["image"] == "ghcr.io/hourglass-operator/operator:0.1.0"
    env = {e["name"]: e for e in c["env"]}
    assert env["LEADER_ELECT"]["value"] == "true"
    assert env["LEADER_ELECTION_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["WATCH_NAMESPACE"]["value"] == ""
    assert env["METRICS_BIND_ADDRESS"]["value"] == ":8080"
    assert env["HEALTH_PROBE_BIND_ADDRESS"]["value"] == ":8081"
    assert env["LOG_FORMAT"]["value"] == "json"
    # The leader-election Role grants get/update on this Lease only.
    role = one(objects, "Role", "hourglass-operator-leader-election")
    assert [r.get("resourceNames") for r in role["rules"]] == [None, [env["LEADER_ELECTION_ID"]["value"]]]
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_probes_point_at_the_health_port_and_metrics_at_the_metrics_service(objects):
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    service = one(objects, "Service", "hourglass-operator-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    template_labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()
    assert deployment(objects)["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_the_cluster_role_is_least_privilege(objects):
    rules = one(objects, "ClusterRole", "hourglass-operator")["rules"]
    assert rules == OPERATOR_RULES
    for rule in rules:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]
        assert not {"secrets", "configmaps", "nodes", "namespaces"} & set(rule["resources"])
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
    # Its one cluster-scoped rule, a ClusterRole of its own (kept cluster-wide when namespaces are
    # watched): read one node, never list, watch or change them.
    assert one(objects, "ClusterRole", "hourglass-operator-nodes")["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}
    ]
    binding = one(objects, "ClusterRoleBinding", "hourglass-operator-nodes")
    assert binding["roleRef"]["name"] == "hourglass-operator-nodes"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hourglass-operator", "namespace": "hourglass-system"}
    ]
    leader = one(objects, "Role", "hourglass-operator-leader-election")["rules"]
    assert {(g, r) for rule in leader for g in rule["apiGroups"] for r in rule["resources"]} == {
        ("coordination.k8s.io", "leases")
    }


def test_bindings_grant_the_roles_to_the_operator_service_account(objects):
    subject = [{"kind": "ServiceAccount", "name": "hourglass-operator", "namespace": NAMESPACE}]
    binding = one(objects, "ClusterRoleBinding", "hourglass-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hourglass-operator"
    }  # fmt: skip
    assert binding["subjects"] == subject
    leader = one(objects, "RoleBinding", "hourglass-operator-leader-election")
    assert leader["roleRef"]["name"] == "hourglass-operator-leader-election"
    assert leader["subjects"] == subject


def test_performer_editor_and_viewer_roles_aggregate_to_the_built_in_roles(objects):
    editor = one(objects, "ClusterRole", "hourglass-operator-performer-editor")
    viewer = one(objects, "ClusterRole", "hourglass-operator-performer-viewer")
    assert editor["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert editor["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert set(viewer["rules"][0]["verbs"]) == {"get", "list", "watch"}


def test_samples_and_prometheus_kustomizations_render():
    samples = build(CONFIG / "samples")
    expected = {d["metadata"]["name"] for f in SAMPLES.glob("*.yaml") if f.name != "kustomization.yaml"
                for d in yaml.safe_load_all(f.read_text()) if d}  # fmt: skip
    assert {o["metadata"]["name"] for o in samples} == expected
    monitoring = {o["kind"]: o for o in build(CONFIG / "prometheus")}
    assert sorted(monitoring) == ["ConfigMap", "PrometheusRule", "ServiceMonitor"]
    assert monitoring["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "metrics"
    dashboard = monitoring["ConfigMap"]
    assert dashboard["metadata"]["name"] == "hourglass-dashboard"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["hourglass.json"]) == json.loads(
        (CONFIG / "prometheus" / "dashboard.json").read_text()
    )


# --- the install role ------------------------------------------------------------------------


INSTANCE = "app.kubernetes.io/instance"


def selecting_the_instance(objects: list[dict], name: str = "hourglass-operator") -> list[dict]:
    """`objects` with the operator's pods selected by their instance too, as the filter selects them."""
    objects = copy.deepcopy(objects)
    for obj in objects:
        if obj["kind"] == "Deployment":
            obj["spec"]["selector"]["matchLabels"][INSTANCE] = name
        elif obj["kind"] == "Service":
            obj["spec"]["selector"][INSTANCE] = name
    return objects


def test_the_filter_with_the_defaults_changes_only_the_pod_selectors(objects):
    # config/ selects the pods by name and component; an installation by its instance too.
    assert operator_manifests(copy.deepcopy(objects), NAMESPACE) == selecting_the_instance(objects)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def deployment_named(objects: list[dict], name: str) -> dict:
    return one(objects, "Deployment", name)


def test_two_installations_in_one_namespace_select_only_their_own_pods(objects):
    """Each Deployment, metrics Service and uninstall (which waits for the pods of the Deployment's
    selector, roles/operator/tasks/render.yml) selects its own installation's pods only."""
    installations = {
        name: operator_manifests(objects, NAMESPACE, name, "", "", "hourglass-install")
        for name in ("hourglass-operator", "second")
    }
    pods = {name: deployment_named(adapted, name)["spec"]["template"]["metadata"]["labels"]
            for name, adapted in installations.items()}  # fmt: skip
    for name, adapted in installations.items():
        selector = deployment_named(adapted, name)["spec"]["selector"]["matchLabels"]
        service = one(adapted, "Service", f"{name}-metrics")["spec"]["selector"]
        for other, labels in pods.items():
            assert matches(selector, labels) == (other == name), (name, other, selector)
            assert matches(service, labels) == (other == name), (name, other, service)


def test_the_filter_moves_and_renames_one_installation(objects):
    adapted = operator_manifests(objects, "ops", "hg", "registry.example.com/op:1", "a, b")
    names = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in adapted}
    assert ("Namespace", "ops", None) in names
    assert ("CustomResourceDefinition", "performers.hourglass.eigenlayer.io", None) in names
    assert {("ClusterRole", "hg", None), ("ClusterRole", "hg-performer-editor", None),
            ("Role", "hg-leader-election", "ops"), ("Service", "hg-metrics", "ops"),
            ("RoleBinding", "hg", "a"), ("RoleBinding", "hg", "b")} <= names  # fmt: skip
    # Watching a and b only: the operator's ClusterRole is bound there; reading a Node stays cluster-wide.
    [cluster_wide] = [o for o in adapted if o["kind"] == "ClusterRoleBinding"]
    assert (cluster_wide["metadata"]["name"], cluster_wide["roleRef"]["name"]) == ("hg-nodes", "hg-nodes")
    assert cluster_wide["subjects"] == [{"kind": "ServiceAccount", "name": "hg", "namespace": "ops"}]
    for binding in (o for o in adapted if o["kind"] == "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hg", "namespace": "ops"}]
    dep = one(adapted, "Deployment", "hg")
    [c] = dep["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert (c["image"], env["WATCH_NAMESPACE"], env["LEADER_ELECTION_ID"]) == (
        "registry.example.com/op:1",
        "a,b",
        "hg",
    )
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "hg"
    assert one(adapted, "Role", "hg-leader-election")["rules"][1]["resourceNames"] == ["hg"]
    assert dep["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kustomize"  # no managed_by given


def test_the_filter_labels_who_installed_the_objects_but_not_the_crd_every_installation_shares(objects):
    adapted = operator_manifests(objects, "ops", "hg", "", "", "hourglass-install")
    installation = [o for o in adapted if o["kind"] != "CustomResourceDefinition"]
    for labels in [o["metadata"]["labels"] for o in installation] + [
        one(adapted, "Deployment", "hg")["spec"]["template"]["metadata"]["labels"]
    ]:
        assert labels["app.kubernetes.io/managed-by"] == "hourglass-install"
        assert labels["app.kubernetes.io/instance"] == "hg"
    [crd] = [o for o in adapted if o["kind"] == "CustomResourceDefinition"]
    assert crd["metadata"]["labels"] == {
        key: value
        for key, value in LABELS.items()
        if key not in ("app.kubernetes.io/managed-by", "app.kubernetes.io/instance")
    }


def kubectl_for_playbooks(objects: list[dict]) -> str:
    """The kubectl `kustomize` found (the `objects` fixture skipped already when there is none)."""
    return kubectl()


def test_the_install_playbook_renders_exactly_config_default(objects, tmp_path):
    out = tmp_path / "rendered.yaml"
    result = run_playbook(
        "playbooks/install-operator.yml", "-e", f"operator_render_to={out}",
        "-e", f"operator_kustomize_binary={kubectl_for_playbooks(objects)}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = [d for d in yaml.safe_load_all(out.read_text()) if d]
    # The same objects, managed by the playbook (its field manager) instead of kustomize.
    managed_by = "app.kubernetes.io/managed-by"
    expected = copy.deepcopy(objects)
    for obj in expected:
        if obj["kind"] == "CustomResourceDefinition":  # shared by every installation: not labelled as one
            del obj["metadata"]["labels"][managed_by], obj["metadata"]["labels"]["app.kubernetes.io/instance"]
            continue
        obj["metadata"]["labels"][managed_by] = "hourglass-install"
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["metadata"]["labels"][managed_by] = "hourglass-install"
    assert rendered == selecting_the_instance(expected)


INSTALL, UNINSTALL = "install-operator.yml", "uninstall-operator.yml"


@pytest.mark.parametrize(("playbook", "variable", "value", "message"), [
    (INSTALL, "operator_namespace", "Bad_NS", 'operator_namespace "Bad_NS" is not a valid namespace name'),
    (INSTALL, "operator_namespace", "a" * 64, "at most 63 characters"),
    (UNINSTALL, "operator_namespace", "-x", 'operator_namespace "-x" is not a valid namespace name'),
    (INSTALL, "operator_name", "9lives", 'operator_name "9lives" is not valid'),
    (INSTALL, "operator_image", "a b", 'operator_image "a b" must be'),
    (INSTALL, "operator_watch_namespaces", "ok,Not_OK", 'operator_watch_namespaces "ok,Not_OK" must be'),
    (INSTALL, "operator_state", "gone", "operator_state must be one of: present, absent"),
    (INSTALL, "operator_wait_timeout", "soon", "operator_wait_timeout"),
])  # fmt: skip
def test_the_playbooks_refuse_bad_input_naming_the_variable(playbook, variable, value, message, tmp_path):
    # No cluster is involved: the checks run before anything is rendered or applied.
    result = run_playbook(
        f"playbooks/{playbook}",
        "-e",
        json.dumps({variable: value}),
        kubeconfig=tmp_path / "no-such-kubeconfig",
    )
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_role_documents_every_knob():
    defaults = yaml.safe_load((REPO / "roles" / "operator" / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((REPO / "roles" / "operator" / "meta" / "argument_specs.yml").read_text())
    assert set(specs["argument_specs"]["main"]["options"]) == set(defaults)


def test_the_filter_gives_the_operator_the_role_vars_as_json(objects):
    role_vars = {"performer_cluster_domain": "corp.example", "performer_lost_pod_after_seconds": 60}
    adapted = operator_manifests(objects, NAMESPACE, role_vars=role_vars)
    [container] = one(adapted, "Deployment", "hourglass-operator")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["ROLE_VARS"]) == role_vars
    assert operator_manifests(objects, NAMESPACE, role_vars={}) == operator_manifests(objects, NAMESPACE)


# --- upgrading a Deployment whose selector an earlier version rendered ----------------------------


NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}


class FakeApps:
    """Just enough of an API server over loopback HTTP for kubernetes.core's k8s_info and k8s
    (state=absent) on one Deployment: discovery of apps/v1, GET and DELETE of the Deployment (a
    deleted one is gone at once). Records the DELETE requests' bodies."""

    def __init__(self, deployment: dict | None) -> None:
        self.deployment = deployment
        self.deletes: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.answer(*fake.get(self.path.split("?")[0]))

            def do_DELETE(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self.answer(*fake.delete(self.path.split("?")[0], body))

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def path(self) -> str:
        meta = self.deployment["metadata"] if self.deployment else {"namespace": "", "name": ""}
        return f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}"

    def get(self, path: str) -> tuple[int, dict]:
        discovery = {
            "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0"},
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
            "/apis": {"kind": "APIGroupList", "groups": [{
                "name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
            }]},
            "/apis/apps/v1": {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [{
                "name": "deployments", "singularName": "deployment", "namespaced": True,
                "kind": "Deployment", "verbs": ["create", "delete", "get", "list", "patch", "update"],
            }]},
        }  # fmt: skip
        if path in discovery:
            return 200, discovery[path]
        if self.deployment and path == self.path():
            return 200, self.deployment
        return 404, NOT_FOUND

    def delete(self, path: str, body: dict) -> tuple[int, dict]:
        if not (self.deployment and path == self.path()):
            return 404, NOT_FOUND
        self.deletes.append(body)
        deleted, self.deployment = self.deployment, None
        return 200, deleted

    def kubeconfig(self, path: Path) -> Path:
        server = f"http://127.0.0.1:{self.server.server_address[1]}"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": server}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }))  # fmt: skip
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rendered(objects) -> dict:
    """The Deployment the install applies with the defaults."""
    adapted = operator_manifests(objects, NAMESPACE, managed_by="hourglass-install")
    return deployment_named(adapted, "hourglass-operator")


def replace_deployment(deployed: dict | None, rendered: dict, tmp_path: Path) -> FakeApps:
    """Runs roles/operator/tasks/selector.yml (the install's first step) against a fake API server
    holding `deployed`, for the Deployment `rendered`."""
    fake = FakeApps(deployed)
    try:
        playbook = tmp_path / "selector.yml"
        playbook.write_text(yaml.safe_dump([{
            "hosts": "localhost", "gather_facts": False,
            "vars": {"operator_namespace": NAMESPACE, "operator_wait_timeout": 10,
                     "_operator_deployment": rendered},
            "tasks": [{"ansible.builtin.include_tasks": str(REPO / "roles/operator/tasks/selector.yml")}],
        }]))  # fmt: skip
        result = run_playbook(playbook, kubeconfig=fake.kubeconfig(tmp_path / "kubeconfig"))
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    finally:
        fake.close()
    return fake


def test_an_upgrade_replaces_a_deployment_whose_selector_an_earlier_version_rendered(
    rendered, tmp_path, monkeypatch
):
    """Earlier versions selected the operator's pods by name and component only; a Deployment's
    selector cannot change, so the install deletes it (its pods first) and the apply creates it."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # kubernetes.core's discovery cache
    earlier = copy.deepcopy(rendered)
    del earlier["spec"]["selector"]["matchLabels"][INSTANCE]
    fake = replace_deployment(earlier, rendered, tmp_path)
    assert [body.get("propagationPolicy") for body in fake.deletes] == ["Foreground"]
    # The same selector (a second run), or no Deployment yet (a first install): nothing is deleted.
    assert replace_deployment(copy.deepcopy(rendered), rendered, tmp_path).deletes == []
    assert replace_deployment(None, rendered, tmp_path).deletes == []
