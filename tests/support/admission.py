"""ValidatingAdmissionPolicies for tests that need the API server to refuse something (a repair, a
deletion) in one namespace only, as a cluster's own policy would."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import kubernetes


@contextlib.contextmanager
def namespace_policy(
    api_client: kubernetes.client.ApiClient, namespace: str, rules: list[dict], validations: list[dict]
) -> Iterator[str]:
    """A policy denying the requests of `rules` (its matchConstraints' resourceRules) in `namespace`
    that fail one of `validations`; both the policy and its binding are deleted at the end. Yields
    the policy's name. The API server enforces it a moment after it exists: wait for that."""
    admission = kubernetes.client.AdmissionregistrationV1Api(api_client)
    name = f"hourglass-test-{uuid.uuid4().hex[:8]}"
    admission.create_validating_admission_policy({
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
                 "validations": validations},
    })  # fmt: skip
    try:
        admission.create_validating_admission_policy_binding({
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"], "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}},
        })  # fmt: skip
        yield name
    finally:
        for delete in (
            admission.delete_validating_admission_policy_binding,
            admission.delete_validating_admission_policy,
        ):
            try:
                delete(name)
            except kubernetes.client.ApiException as error:
                if error.status != 404:
                    raise
