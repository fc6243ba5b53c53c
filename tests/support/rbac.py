"""The operator's shipped RBAC (config/rbac) installed for one test, a kubeconfig that
authenticates as its ServiceAccount with a TokenRequest token (not admin), and `kubectl auth
can-i` asked as that ServiceAccount.

The objects are adapted with the install role's own filter (plugins/filter/operator_manifests.py), so a
test's ServiceAccount, Role and Lease live in its namespace and its cluster-scoped ClusterRoles
and ClusterRoleBinding carry a name unique to the test.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import yaml
from ansible_collections.hourglass.operator.plugins.filter.operator_manifests import operator_manifests

from tests.support.cluster import Cluster
from tests.support.helm import kustomize
from tests.support.paths import REPO

# How a denied API call shows in a log: the API server's reason "Forbidden" ("... is forbidden:
# User ... cannot ..."). Not a bare "403", which also occurs in durations and hex addresses.
FORBIDDEN = re.compile(r"forbidden", re.IGNORECASE)


def forbidden_lines(lines: list[str]) -> list[str]:
    """The log lines that report a denied API call."""
    return [line for line in lines if FORBIDDEN.search(line)]


RBAC_DIR = REPO / "config" / "rbac"
TOKEN_SECONDS = 3600


def unique_name() -> str:
    """A name for a test's operator objects that no concurrent test uses."""
    return f"hourglass-operator-t{uuid.uuid4().hex[:8]}"


@dataclass
class InstalledRbac:
    """config/rbac applied for one test: ServiceAccount `name` in `namespace`, ClusterRole and
    ClusterRoleBinding `name`, leader-election Role/RoleBinding `<name>-leader-election` (Lease `name`)."""

    namespace: str
    name: str
    objects: list[dict]

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def install_rbac(cluster: Cluster, namespace: str, name: str, without: tuple[str, ...] = ()) -> InstalledRbac:
    """`without`: resources whose rules are left out (an installation that withholds them)."""
    objects = operator_manifests(kustomize(RBAC_DIR), namespace, name)
    for obj in objects:
        if "rules" in obj:
            obj["rules"] = [rule for rule in obj["rules"] if not set(rule["resources"]) & set(without)]
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=hourglass-tests", "-f", "-",
        stdin=yaml.safe_dump_all(objects),
    )  # fmt: skip
    return InstalledRbac(namespace, name, objects)


def remove_rbac(cluster: Cluster, rbac: InstalledRbac) -> None:
    """Deletes the test's objects, the cluster-scoped ones above all (namespaced ones also go with
    their namespace)."""
    cluster.kubectl(
        "delete", "--ignore-not-found", "--wait=false", "-f", "-",
        stdin=yaml.safe_dump_all(rbac.objects), check=False,
    )  # fmt: skip


def service_account_kubeconfig(cluster: Cluster, rbac: InstalledRbac, path: Path) -> Path:
    """A kubeconfig for the cluster of `cluster` whose only credential is a token of the
    ServiceAccount, minted with the TokenRequest API (as the kubelet does for a pod)."""
    core = kubernetes.client.CoreV1Api(cluster.api)
    request = core.create_namespaced_service_account_token(
        rbac.name, rbac.namespace, {"spec": {"expirationSeconds": TOKEN_SECONDS}}
    )
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context_name = admin.get("current-context") or admin["contexts"][0]["name"]
    context = next(c["context"] for c in admin["contexts"] if c["name"] == context_name)
    server = dict(next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"]))
    if "certificate-authority" in server:  # inline it: the file path may be relative to the admin kubeconfig
        ca = (cluster.kubeconfig.parent / server.pop("certificate-authority")).read_bytes()
        server["certificate-authority-data"] = base64.b64encode(ca).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": server}],
        "users": [{"name": rbac.user, "user": {"token": request.status.token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "cluster", "user": rbac.user}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def can_i(
    cluster: Cluster,
    kubeconfig: Path,
    verb: str,
    resource: str,
    *,
    namespace: str | None = None,
    subresource: str | None = None,
) -> bool:
    """`kubectl auth can-i` with the given kubeconfig (a SelfSubjectAccessReview by its user).
    `resource` may be `type/name`; namespace None asks about all namespaces."""
    args = [cluster.kubectl_bin, "--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource]
    args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
    if subresource:
        args += ["--subresource", subresource]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    answer = result.stdout.strip()
    if answer not in ("yes", "no"):
        raise RuntimeError(f"kubectl auth can-i {verb} {resource}: {result.stdout}{result.stderr}")
    return answer == "yes"
