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
