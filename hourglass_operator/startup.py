"""The start-up steps of `hourglass-operator run` that a set-up mistake makes fail: finding and
loading the kubeconfig, binding the HTTP ports, and checking the operator's permissions. Each
failure is a `StartupError` whose message is the one log line the CLI writes before it exits:
it names the flag, file, address, verb or resource at fault, never a traceback.

The kubeconfig is found as kubectl finds it: `--kubeconfig` (env KUBECONFIG, which may list
several files), else the pod's service account when running in a pod, else `~/.kube/config`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import api_client
from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    USER_AGENT,
    RestClient,
    authorization_of,
    settings_of,
)

import hourglass_operator
from hourglass_operator import health

DEFAULT_KUBECONFIG = Path("~/.kube/config")
CONCURRENT_REVIEWS = 8
CHILD_VERBS = ("list", "watch", "get", "create", "patch", "delete")


class StartupError(RuntimeError):
    """The operator cannot start; the message says why and names what to fix."""


def _in_pod() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def kube_client(kubeconfig: str, pool_size: int) -> kubernetes.client.ApiClient:
    """The API client of the kubeconfig `kubeconfig` ("" finds one as kubectl does), whose User-Agent
    (hourglass-operator/<version>) the modules' calls send too (`connection_settings`)."""
    path = kubeconfig
    if not path and not _in_pod():
        default = DEFAULT_KUBECONFIG.expanduser()
        if not default.is_file():
            raise StartupError(
                f"no kubeconfig: --kubeconfig (env KUBECONFIG) is empty, this is not a pod, and "
                f"{DEFAULT_KUBECONFIG} does not exist; pass --kubeconfig FILE"
            )
        path = str(default)
    if path:
        files = [f for f in path.split(os.pathsep) if f]
        if not any(Path(f).expanduser().is_file() for f in files):
            raise StartupError(f"--kubeconfig {path}: no such file")
    try:
        return api_client(
            path or None, pool_size=pool_size, user_agent=f"{USER_AGENT}/{hourglass_operator.__version__}"
        )
    except (kubernetes.config.ConfigException, yaml.YAMLError, OSError, ValueError, TypeError) as error:
        where = f"--kubeconfig {path}" if path else "the in-cluster service account"
        raise StartupError(f"{where}: not a usable kubeconfig: {_one_line(error)}") from error


def connection_settings(api: kubernetes.client.ApiClient) -> dict[str, Any] | None:
    """The connection of `api` for the small HTTPS client (kube_rest.settings_of), with its User-Agent."""
    return settings_of(api.configuration, api.user_agent)


def calls_client(api: kubernetes.client.ApiClient) -> Any:
    """The client of the loop's most frequent calls (`hourglass_kube.request`): the small HTTPS client
    on `api`'s connection, asking `api`'s configuration for the token at each call (so a refreshed
    one is used), or `api` itself when that connection needs what the small client does not do."""
    settings = connection_settings(api)
    if settings is None:
        return api
    return RestClient(settings, authorization=lambda: authorization_of(api.configuration))


Route = Callable[[], tuple[int, str, bytes]]


def serve(flag: str, address: str, routes: dict[str, Route]) -> ThreadingHTTPServer:
    """`health.serve`, failing with a StartupError that names `flag` and `address`."""
    try:
        return health.serve(address, routes)
    except ValueError as error:
        raise StartupError(f"{flag} {address}: not an address (use host:port or :port)") from error
    except OSError as error:
        reason = error.strerror or _one_line(error)
        raise StartupError(f"{flag} {address}: cannot listen: {reason}") from error


@dataclass(frozen=True)
class Permission:
    verb: str
    group: str
    resource: str  # plural, or plural/subresource
    namespace: str = ""  # "" is every namespace
    name: str = ""  # "" is every object

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        what += f" {self.name}" if self.name else ""
        where = f"in namespace {self.namespace}" if self.namespace else "in all namespaces"
        return f"{self.verb} {what} {where}"


def required_permissions(
    group: str, plural: str, namespaces: list[str], lease: tuple[str, str] | None
) -> list[Permission]:
    """What the operator calls (config/rbac/role.yaml explains each verb) for the watched kind
    `plural.group` in `namespaces` ([] is all), plus the Lease (namespace, name) when it elects a
    leader: create, and get and update of that one Lease."""
    wanted = [
        *((v, group, plural) for v in ("list", "watch", "get", "patch")),
        (("patch", group, f"{plural}/status")),
        *((v, "", r) for r in ("pods", "services") for v in CHILD_VERBS),
        ("create", "", "events"),
    ]
    permissions = [Permission(v, g, r, ns) for ns in namespaces or [""] for v, g, r in wanted]
    if lease is not None:
        namespace, name = lease
        permissions.append(Permission("create", "coordination.k8s.io", "leases", namespace))
        permissions += [
            Permission(v, "coordination.k8s.io", "leases", namespace, name) for v in ("get", "update")
        ]
    return permissions


NODE_READ = Permission("get", "", "nodes")


def check_node_permission(api: kubernetes.client.ApiClient, lost_pod_after_seconds: Any) -> None:
    """When the performer role recovers pods lost with their node (`performer_lost_pod_after_seconds`
    above 0, as the runs get it), raises a StartupError unless the operator may `get nodes`: each
    run that reads a dead node's pod would otherwise fail with 403 Forbidden."""
    if not isinstance(lost_pod_after_seconds, int) or lost_pod_after_seconds <= 0:
        return
    try:
        [allowed] = _review(api, [NODE_READ])
    except kubernetes.client.ApiException as error:
        raise StartupError(
            f"cannot check the operator's permissions: the API server answered {error.status} {error.reason}"
        ) from error
    if not allowed:
        raise StartupError(
            "no permission to get nodes, which the recovery of pods lost with their node needs "
            f"(performer_lost_pod_after_seconds: {lost_pod_after_seconds}): grant it (the chart's "
            "rbac.readNodes: true, config/rbac/node_role.yaml) or set performer_lost_pod_after_seconds: 0 "
            "in --role-vars (ROLE_VARS)"
        )


def quota_permissions(namespaces: list[str]) -> list[Permission]:
    """What watching the ResourceQuotas of `namespaces` ([] is all) takes: list and watch. Optional:
    without them, what a quota refused is retried on its back-off only (quota_waits.py)."""
    return [Permission(v, "", "resourcequotas", ns) for ns in namespaces or [""] for v in ("list", "watch")]


def has_permissions(api: kubernetes.client.ApiClient, permissions: Iterable[Permission]) -> bool:
    """Whether every one of `permissions` is granted (False when the API server cannot say)."""
    try:
        return all(_review(api, list(permissions)))
    except kubernetes.client.ApiException:
        return False


def _allowed(api: kubernetes.client.ApiClient, permission: Permission) -> bool:
    parts = permission.resource.split("/", 1)
    attributes: dict[str, Any] = {"verb": permission.verb, "group": permission.group, "resource": parts[0]}
    if len(parts) > 1:
        attributes["subresource"] = parts[1]
    if permission.namespace:
        attributes["namespace"] = permission.namespace
    if permission.name:
        attributes["name"] = permission.name
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    result = kubernetes.client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(result.status.allowed)


def _review(api: kubernetes.client.ApiClient, permissions: list[Permission]) -> list[bool]:
    """Whether each of `permissions` is granted, asked concurrently."""
    with ThreadPoolExecutor(CONCURRENT_REVIEWS) as pool:
        return list(pool.map(lambda p: _allowed(api, p), permissions))


def check_permissions(api: kubernetes.client.ApiClient, permissions: Iterable[Permission]) -> None:
    """Raises a StartupError naming every missing permission (asked with SelfSubjectAccessReviews)."""
    permissions = list(permissions)
    try:
        allowed = _review(api, permissions)
    except kubernetes.client.ApiException as error:
        raise StartupError(
            f"cannot check the operator's permissions: the API server answered {error.status} {error.reason}"
        ) from error
    missing = [p for p, ok in zip(permissions, allowed, strict=True) if not ok]
    if missing:
        raise StartupError(
            "no permission to " + "; ".join(str(p) for p in missing)
            + " (grant them to the operator's identity: config/rbac/role.yaml lists what it needs)"
        )  # fmt: skip
