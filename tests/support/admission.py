"""Admission policies for tests that need the API server to refuse (a repair, a deletion) or change
(a Service on its way in) something in one namespace only, as a cluster's own policies would; and an
admission webhook the API server cannot call (its pods restarting, its Service without endpoints),
for the tests of failures that clear themselves."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import kubernetes


@contextlib.contextmanager
def namespace_policy(
    api_client: kubernetes.client.ApiClient, namespace: str, rules: list[dict], validations: list[dict]
) -> Iterator[str]:
    """A ValidatingAdmissionPolicy denying the requests of `rules` (its matchConstraints'
    resourceRules) in `namespace` that fail one of `validations`. Yields the policy's name. The API
    server enforces it a moment after it exists: wait for that."""
    spec = {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules}, "validations": validations}
    with _bound(api_client, "validating", namespace, spec, {"validationActions": ["Deny"]}) as name:
        yield name


@contextlib.contextmanager
def namespace_mutation(
    api_client: kubernetes.client.ApiClient, namespace: str, rules: list[dict], apply_configuration: str
) -> Iterator[str]:
    """A MutatingAdmissionPolicy applying the CEL `apply_configuration` expression to the requests of
    `rules` in `namespace`. Yields the policy's name; it applies a moment after it exists."""
    spec = {
        "failurePolicy": "Fail", "reinvocationPolicy": "Never", "matchConstraints": {"resourceRules": rules},
        "mutations": [{"patchType": "ApplyConfiguration",
                       "applyConfiguration": {"expression": apply_configuration}}],
    }  # fmt: skip
    with _bound(api_client, "mutating", namespace, spec, {}) as name:
        yield name


def mutating_policies_served(api_client: kubernetes.client.ApiClient) -> bool:
    """Whether the cluster serves admissionregistration.k8s.io/v1 MutatingAdmissionPolicies
    (Kubernetes >= 1.36; beta and off by default before)."""
    resources = kubernetes.client.AdmissionregistrationV1Api(api_client).get_api_resources().resources
    return any(resource.name == "mutatingadmissionpolicies" for resource in resources)


@contextlib.contextmanager
def _bound(
    api_client: kubernetes.client.ApiClient, kind: str, namespace: str, spec: dict, binding: dict
) -> Iterator[str]:
    """A `kind` (validating or mutating) admission policy of `spec` and its binding to `namespace`;
    both deleted at the end."""
    admission = kubernetes.client.AdmissionregistrationV1Api(api_client)
    create_policy = getattr(admission, f"create_{kind}_admission_policy")
    create_binding = getattr(admission, f"create_{kind}_admission_policy_binding")
    name = f"hourglass-test-{uuid.uuid4().hex[:8]}"
    create_policy({"metadata": {"name": name}, "spec": spec})
    try:
        create_binding({
            "metadata": {"name": name},
            "spec": {"policyName": name, **binding, "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}},
        })  # fmt: skip
        yield name
    finally:
        for delete in (f"delete_{kind}_admission_policy_binding", f"delete_{kind}_admission_policy"):
            try:
                getattr(admission, delete)(name)
            except kubernetes.client.ApiException as error:
                if error.status != 404:
                    raise


def unreachable_webhook(namespace: str) -> dict:
    """A webhook on the creation of pods in `namespace` that nothing answers, and that must answer."""
    return {
        "metadata": {"name": f"hourglass-test-outage-{namespace}"[:253]},
        "webhooks": [{
            "name": "outage.hourglass.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "timeoutSeconds": 2,
            "clientConfig": {"url": "https://127.0.0.1:1/validate"},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["pods"]}],
        }],
    }  # fmt: skip


@contextlib.contextmanager
def webhook_outage(api: kubernetes.client.ApiClient, namespace: str) -> Iterator[None]:
    """No pod can be created in `namespace` until the block ends ("failed calling webhook")."""
    admission = kubernetes.client.AdmissionregistrationV1Api(api)
    webhook = admission.create_validating_webhook_configuration(unreachable_webhook(namespace))
    try:
        yield
    finally:
        admission.delete_validating_webhook_configuration(webhook.metadata.name)
