"""Documentation of the Kubernetes connection options every module of this collection takes
(`extends_documentation_fragment: hourglass.operator.kube`); hourglass_kube.KUBE_ARGUMENT_SPEC is
their argument spec and hourglass_kube.api_client reads them."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig. Defaults as kubernetes.core modules do - E(K8S_AUTH_KUBECONFIG), then
        E(KUBECONFIG), then the in-cluster service account, then C(~/.kube/config).
    type: path
  context:
    description:
      - Kubeconfig context. Defaults to E(K8S_AUTH_CONTEXT), else the kubeconfig's current context.
    type: str
requirements:
  - kubernetes (the Python client) >= 37
"""
