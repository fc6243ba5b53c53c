"""What the Kubernetes backend needs from the API server, checked before the executor serves, by
`run` and `validate` alike (`server/startup.py`), so that `validate` refuses what `run` would stop at:

1. the API server answers with these credentials;
2. it serves the Performer resource at `kubernetes.crdGroup`/`crdVersion` (the CRD is installed);
3. the credentials may `create`, `delete`, `get`, `list` and `watch` Performers in
   `kubernetes.namespace` (exactly the backend's calls), asked with SelfSubjectAccessReviews, which
   every authenticated user may create.

Each failure is one `AccessError` whose message says what is missing and how to fix it, e.g.
`the API server at https://10.0.0.1:443 does not serve performers.hourglass.eigenlayer.io/v1alpha1:
the Performer CRD is not installed; install it with kubectl apply --server-side -f
crds/hourglass.eigenlayer.io_performers.yaml (the operator's Helm chart and kustomize install include
it)` or `no permission to create, delete performers.hourglass.eigenlayer.io in namespace avs (as
system:serviceaccount:avs:executor): ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
from kubernetes_asyncio.client import (
    ApiClient,
    ApiException,
    AuthenticationV1Api,
    AuthorizationV1Api,
    CustomObjectsApi,
    V1ResourceAttributes,
    V1SelfSubjectAccessReview,
    V1SelfSubjectAccessReviewSpec,
    V1SelfSubjectReview,
)

from hourglass_executor.config import KubernetesConfig
from hourglass_executor.kubernetes_api import api_message
from hourglass_executor.performers.kubernetes.resource import PLURAL

VERBS = ("create", "delete", "get", "list", "watch")
CRD_FILE = "crds/hourglass.eigenlayer.io_performers.yaml"
INSTALL_CRD = (
    f"install it with kubectl apply --server-side -f {CRD_FILE} "
    "(the operator's Helm chart and kustomize install include it)"
)


class AccessError(Exception):
    """The API server cannot be used as the executor needs it (the message says why and what to do)."""


async def check_access(api: ApiClient, config: KubernetesConfig, timeout: float) -> None:
    """Raises AccessError unless the three checks of the module docstring pass."""
    host = api.configuration.host
    resource = f"{PLURAL}.{config.crd_group}"
    try:
        response = await CustomObjectsApi(api).get_api_resources(
            config.crd_group, config.crd_version, _request_timeout=timeout, _preload_content=False
        )
        status, body = response.status, await response.read()
        response.release()
        if status >= 400:  # unread content: the client leaves the status to the caller
            raise ApiException(status=status, reason=response.reason)
        served = json.loads(body)
    except ApiException as error:
        if error.status == 404:
            raise AccessError(_not_served(host, resource, config)) from None
        if error.status == 401:
            raise AccessError(
                f"the API server at {host} does not accept these credentials ({api_message(error)})"
            ) from None
        raise AccessError(
            f"reading which resources {config.crd_group}/{config.crd_version} serves from {host}: "
            f"{api_message(error)}"
        ) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise _unreachable(host, error, timeout) from None
    except ValueError as error:  # not JSON
        raise AccessError(
            f"the API server at {host} answered discovery with no resource list: {error}"
        ) from None
    resources = served.get("resources") if isinstance(served, dict) else None
    if PLURAL not in {entry.get("name") for entry in resources or [] if isinstance(entry, dict)}:
        raise AccessError(_not_served(host, resource, config))
    allowed = await asyncio.gather(*(_allowed(api, config, verb, timeout) for verb in VERBS))
    denied = [verb for verb, ok in zip(VERBS, allowed, strict=True) if not ok]
    if denied:
        user = await _username(api, timeout)
        who = f" (as {user})" if user else ""
        raise AccessError(
            f"no permission to {', '.join(denied)} {resource} in namespace {config.namespace}{who}: the "
            f"executor needs {', '.join(VERBS)} on them; grant them with a Role and a RoleBinding in that "
            "namespace (playbooks/deploy-executor.yml creates them)"
        )


def _unreachable(host: str, error: Exception, timeout: float) -> AccessError:
    """`cannot reach the API server at <host>: <why>`; a timeout (whose message is empty) says the
    time limit it ran out of, any other error without a message its type."""
    if isinstance(error, TimeoutError):  # aiohttp's ServerTimeoutError too
        reason = f"no answer within kubernetes.connectionTimeout ({timeout:g}s)"
    else:
        reason = str(error) or type(error).__name__
    return AccessError(f"cannot reach the API server at {host}: {reason}")


def _not_served(host: str, resource: str, config: KubernetesConfig) -> str:
    return (
        f"the API server at {host} does not serve {resource}/{config.crd_version}: the Performer CRD "
        f"is not installed; {INSTALL_CRD}"
    )


async def _allowed(api: ApiClient, config: KubernetesConfig, verb: str, timeout: float) -> bool:
    review = V1SelfSubjectAccessReview(
        spec=V1SelfSubjectAccessReviewSpec(
            resource_attributes=V1ResourceAttributes(
                group=config.crd_group, resource=PLURAL, verb=verb, namespace=config.namespace
            )
        )
    )
    try:
        answer = await AuthorizationV1Api(api).create_self_subject_access_review(
            review, _request_timeout=timeout
        )
    except ApiException as error:
        raise AccessError(
            f"asking the API server whether the executor may {verb} {PLURAL}: {api_message(error)}"
        ) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise _unreachable(api.configuration.host, error, timeout) from None
    return bool(answer.status and answer.status.allowed)


async def _username(api: ApiClient, timeout: float) -> str | None:
    """Who the credentials are (SelfSubjectReview, Kubernetes 1.28+); None when it cannot be told."""
    with contextlib.suppress(Exception):  # only for the message
        review = await AuthenticationV1Api(api).create_self_subject_review(
            V1SelfSubjectReview(), _request_timeout=timeout
        )
        return review.status.user_info.username
    return None
