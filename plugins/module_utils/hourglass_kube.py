"""Kubernetes API access for the project's Ansible modules, configured like kubernetes.core's:
an explicit kubeconfig/context, else K8S_AUTH_KUBECONFIG / KUBECONFIG, else in-cluster, else
~/.kube/config."""

from __future__ import annotations

import os
from typing import Any


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    import kubernetes  # imported here so that a missing client fails the module, not the import

    path = kubeconfig or os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG")
    context = context or os.environ.get("K8S_AUTH_CONTEXT")
    if path:
        return kubernetes.config.new_client_from_config(config_file=path, context=context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)
    return kubernetes.config.new_client_from_config(context=context)
