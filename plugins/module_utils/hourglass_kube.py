"""Kubernetes API access for the project's Ansible modules, configured like kubernetes.core's:
an explicit kubeconfig/context, else K8S_AUTH_KUBECONFIG / KUBECONFIG, else in-cluster, else
~/.kube/config."""

from __future__ import annotations

import os
from typing import Any


def api_client(kubeconfig: str | None = None, context: str | None = None, pool_size: int = 4) -> Any:
    """An ApiClient keeping up to `pool_size` connections (for concurrent calls)."""
    import kubernetes  # imported here so that a missing client fails the module, not the import

    path = kubeconfig or os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG")
    context = context or os.environ.get("K8S_AUTH_CONTEXT")
    configuration = kubernetes.client.Configuration()
    if path or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration
        )
    else:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return kubernetes.client.ApiClient(configuration)


CORE_PLURALS = {"Pod": "pods", "Service": "services"}


def object_path(obj: dict) -> str:
    """REST path of a namespaced core/v1 object (the only kinds the performer role writes)."""
    kind, meta = obj["kind"], obj["metadata"]
    if obj.get("apiVersion", "v1") != "v1" or kind not in CORE_PLURALS:
        raise ValueError(f"unsupported kind {obj.get('apiVersion')}/{kind}")
    return f"/api/v1/namespaces/{meta['namespace']}/{CORE_PLURALS[kind]}/{meta['name']}"


def request(
    client: Any,
    method: str,
    path: str,
    *,
    query: list | None = None,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """One REST call; returns (HTTP status, decoded JSON body or None)."""
    import json

    headers = {"Accept": "application/json", "Content-Type": content_type}
    method, url, headers, body, _ = client.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = client.call_api(method, url, header_params=headers, body=body, _request_timeout=60)
    data = response.read()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, {"message": data.decode(errors="replace")}
