"""Kubernetes API access for this collection's modules and for the runner loop (`hourglass_operator`
builds its client with `api_client` too: one factory for both), configured like kubernetes.core's
modules: an explicit kubeconfig/context, else K8S_AUTH_KUBECONFIG / KUBECONFIG, else in-cluster,
else ~/.kube/config. Under the runner loop, modules get the loop's resolved connection instead and do
not import the Kubernetes client (`module_client`, kube_rest.py). Also the REST call the modules make
and the YAML-safe JSON of apply patches."""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import (
    CONNECTION_ENV,
    USER_AGENT,
    RestClient,
    retry_wait,
)

# json.dumps writes a character outside the Basic Multilingual Plane (an emoji) as a surrogate pair of
# \u escapes, which YAML parsers refuse, and the API server reads apply patches as YAML. Such pairs
# are written as the character itself. Every other escape stays: YAML cannot hold DEL, C1 controls or
# U+FFFE verbatim and reads NEL and U+2028 as line breaks (the performer_render filter emits every
# value of its templates through this too).
_SURROGATE_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _astral(match: re.Match) -> str:
    high, low = int(match.group(2), 16), int(match.group(3), 16)
    return match.group(1) + chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


def yaml_safe_json(value: Any, **dumps_options: Any) -> str:
    """JSON that a YAML parser reads back as `value`, whatever Unicode it holds."""
    return _SURROGATE_PAIR.sub(_astral, json.dumps(value, **dumps_options))


# The connection options of every module (documented by the doc fragment hourglass.operator.kube).
KUBE_ARGUMENT_SPEC = {"kubeconfig": {"type": "path"}, "context": {"type": "str"}}


def api_client(
    kubeconfig: str | None = None,
    context: str | None = None,
    pool_size: int = 4,
    user_agent: str = USER_AGENT,
) -> Any:
    """An ApiClient keeping up to `pool_size` connections (for concurrent calls), sending `user_agent`
    (the field manager of the writes that name none, kube_rest.USER_AGENT)."""
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
    client = kubernetes.client.ApiClient(configuration)
    client.user_agent = user_agent
    return client


def module_client(kubeconfig: str | None = None, context: str | None = None, pool_size: int = 4) -> Any:
    """The client of a module: the runner loop's connection (a RestClient) when it handed one over
    and the task names no kubeconfig or context of its own, else `api_client`."""
    handed_over = os.environ.get(CONNECTION_ENV)
    if handed_over and not kubeconfig and not context:
        return RestClient.from_file(handed_over)
    return api_client(kubeconfig, context, pool_size)


CORE_PLURALS = {"Pod": "pods", "Service": "services"}


def collection_path(obj: dict) -> str:
    """REST path of the collection of a namespaced core/v1 object (the only kinds the performer role
    writes), where it is created."""
    kind, meta = obj["kind"], obj["metadata"]
    if obj.get("apiVersion", "v1") != "v1" or kind not in CORE_PLURALS:
        raise ValueError(f"unsupported kind {obj.get('apiVersion')}/{kind}")
    return f"/api/v1/namespaces/{meta['namespace']}/{CORE_PLURALS[kind]}"


def object_path(obj: dict) -> str:
    """REST path of a namespaced core/v1 object."""
    return f"{collection_path(obj)}/{obj['metadata']['name']}"


def custom_object_path(group: str, version: str, plural: str, meta: dict) -> str:
    """REST path of the namespaced custom resource whose metadata is `meta`."""
    return f"/apis/{group}/{version}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"


def resource_version(obj: dict | None) -> str | None:
    """The resourceVersion of an object (None when it has none, or there is no object)."""
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


def names_owner(obj: dict, uid: str | None) -> bool:
    """Whether one of the owner references of `obj` names the object of `uid`."""
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def api_message(body: Any) -> str:
    """The message of an API server's error answer (a Status), "" when it has none."""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def caller(client: Any) -> Any:
    """`request` bound to `client`: the REST call the modules' logic takes."""
    return lambda method, path, **options: request(client, method, path, **options)


def request(
    client: Any,
    method: str,
    path: str,
    *,
    query: list | None = None,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """One REST call; returns (HTTP status, decoded JSON body or None). A YAML body (an apply patch)
    is sent as YAML-safe JSON. A call the API server asks to make again later (429 with Retry-After)
    is made again after that wait (kube_rest.retry_wait)."""
    if content_type.endswith("yaml") and body is not None and not isinstance(body, str | bytes):
        body = yaml_safe_json(body).encode()
    headers = {"Accept": "application/json", "Content-Type": content_type}
    attempt = 0
    while True:
        attempt += 1
        status, data, retry_after = _exchange(client, method, path, query, body, headers)
        wait = retry_wait(status, retry_after, attempt)
        if wait is None:
            return status, _decoded(data)
        time.sleep(wait)


def _exchange(
    client: Any, method: str, path: str, query: list | None, body: Any, headers: dict[str, str]
) -> tuple[int, bytes, str | None]:
    """One call through `client` (a RestClient or a Kubernetes ApiClient): the HTTP status, the raw
    body and the Retry-After header of its answer."""
    if isinstance(client, RestClient):
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        return client.send(method, path, query, body, headers)
    method, url, headers, body, _ = client.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = client.call_api(method, url, header_params=headers, body=body, _request_timeout=60)
    return response.status, response.read(), response.getheader("Retry-After")


def _decoded(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return {"message": data.decode(errors="replace")}
