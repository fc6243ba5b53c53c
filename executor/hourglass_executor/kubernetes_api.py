"""The executor's one way to reach the Kubernetes API: an asyncio client (kubernetes_asyncio) from
in-cluster credentials, or from a kubeconfig file and one of its contexts.

Which credentials, as kubectl chooses them: `kubernetes.inCluster: true` → the pod's service
account; `kubernetes.kubeConfigPath` → that file; neither → the first file of `$KUBECONFIG`, else
`~/.kube/config`, else, inside a pod (`KUBERNETES_SERVICE_HOST` set), the pod's service account.

`ApiSource.check()` reads the credentials without a network call, so that a missing kubeconfig, an
unknown context or a pod without a service account stops the start with a clear error before
anything else runs. `ApiSource.open()` builds the client on the running event loop (its aiohttp
session belongs to that loop); the client re-reads an in-cluster token as the library does, and
runs a kubeconfig's exec credential plugin again when its token expired. Everything in the
executor that talks to the API gets its client here; today that is the Kubernetes performer
backend (`performers.kubernetes`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubernetes_asyncio.client import ApiClient, ApiException, Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config
from kubernetes_asyncio.config.kube_config import KubeConfigLoader

from hourglass_executor import __version__
from hourglass_executor.strict_yaml import YamlSyntaxError, parse_yaml

if TYPE_CHECKING:
    from hourglass_executor.config import KubernetesConfig

DEFAULT_KUBECONFIG = "~/.kube/config"
# A call the API server asks to make again later (429 from API Priority and Fairness while it is
# overloaded, or a 5xx with Retry-After) is, as client-go does: at most this many calls in all, each
# wait what Retry-After says, up to RETRY_AFTER_MAX seconds.
RETRY_ATTEMPTS = 10
RETRY_AFTER_MAX = 10.0
# The API server names the field manager of the executor's writes (its Performers) after the first word
# of this, and its audit log records it: the client library's default would say "OpenAPI-Generator".
USER_AGENT = f"hourglass-executor/{__version__}"
NO_CREDENTIALS = (
    "no Kubernetes credentials: kubernetes.kubeConfigPath is not set, $KUBECONFIG is not set, "
    f"{DEFAULT_KUBECONFIG} does not exist and this is not a pod (KUBERNETES_SERVICE_HOST is not set); "
    "set kubernetes.kubeConfigPath, or kubernetes.inCluster: true in a pod"
)


class ApiSourceError(Exception):
    """The credentials to reach the Kubernetes API cannot be used (the message says why)."""


@dataclass(frozen=True)
class ApiSource:
    """Where the API client's credentials come from: the pod's service account (`in_cluster`), else
    the kubeconfig at `kube_config_path` with `context` (default: its current context); neither
    given: found as the module docstring says (`resolved`)."""

    in_cluster: bool = False
    kube_config_path: str | None = None
    context: str | None = None

    @classmethod
    def from_config(cls, config: KubernetesConfig) -> ApiSource:
        return cls(in_cluster=config.in_cluster, kube_config_path=config.kube_config_path)

    def resolved(self, environ: Mapping[str, str] = os.environ) -> ApiSource:
        """These credentials with the kubeconfig or in-cluster choice made (ApiSourceError: none)."""
        if self.in_cluster or self.kube_config_path:
            return self
        for path in environ.get("KUBECONFIG", "").split(os.pathsep):
            if path and os.path.isfile(os.path.expanduser(path)):
                return ApiSource(kube_config_path=path, context=self.context)
        if os.path.isfile(os.path.expanduser(DEFAULT_KUBECONFIG)):
            return ApiSource(kube_config_path=DEFAULT_KUBECONFIG, context=self.context)
        if environ.get("KUBERNETES_SERVICE_HOST"):
            return ApiSource(in_cluster=True)
        if environ.get("KUBECONFIG"):
            raise ApiSourceError(f"kubeconfig {environ['KUBECONFIG']} (from $KUBECONFIG) does not exist")
        raise ApiSourceError(NO_CREDENTIALS)

    def describe(self) -> str:
        """`in-cluster credentials` or `kubeconfig <path>` (after `resolved`)."""
        return "in-cluster credentials" if self.in_cluster else f"kubeconfig {self.kube_config_path}"

    def check(self) -> None:
        """Raises ApiSourceError when `open` could not build a client from these credentials."""
        if not (self.in_cluster or self.kube_config_path):
            self.resolved().check()
            return
        if self.in_cluster:
            self._in_cluster_configuration()
            return
        path = os.path.expanduser(self.kube_config_path or DEFAULT_KUBECONFIG)
        if not os.path.isfile(path):
            raise ApiSourceError(f"kubeconfig {path} does not exist")
        try:
            document, _ = parse_yaml(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise ApiSourceError(f"kubeconfig {path} cannot be read: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise ApiSourceError(f"kubeconfig {path} cannot be read: not UTF-8 text") from None
        except YamlSyntaxError as error:  # its text never quotes the file, which holds credentials
            raise ApiSourceError(f"kubeconfig {path} cannot be read: {error}") from None
        if not isinstance(document, dict):
            raise ApiSourceError(f"kubeconfig {path} is not a kubeconfig (a YAML mapping)")
        names = [entry.get("name") for entry in document.get("contexts") or [] if isinstance(entry, dict)]
        context = self.context or document.get("current-context")
        if not context:
            raise ApiSourceError(f"kubeconfig {path} has no current-context")
        if context not in names:
            raise ApiSourceError(f"kubeconfig {path} has no context {context!r} (it has {names})")

    async def open(self) -> ApiClient:
        """A new API client (call on the event loop that will use it; close it with `close()`)."""
        if not (self.in_cluster or self.kube_config_path):
            return await self.resolved().open()
        if self.in_cluster:
            return _client(self._in_cluster_configuration())
        configuration = Configuration()
        path = os.path.expanduser(self.kube_config_path or DEFAULT_KUBECONFIG)
        try:
            loader = await load_kube_config(
                config_file=path,
                context=self.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, ValueError, AssertionError) as error:
            raise ApiSourceError(f"kubeconfig {path}: {error}") from None
        configuration.refresh_api_key_hook = _exec_token_refresher(loader)
        return _client(configuration)

    @staticmethod
    def _in_cluster_configuration() -> Configuration:
        configuration = Configuration()
        try:
            load_incluster_config(client_configuration=configuration)
        except ConfigException as error:
            raise ApiSourceError(f"no in-cluster credentials: {error}") from None
        return configuration


def _client(configuration: Configuration) -> ApiClient:
    client = ApiClient(configuration)
    client.user_agent = USER_AGENT
    return client


def _exec_token_refresher(loader: KubeConfigLoader) -> Callable[[Configuration], Awaitable[None]]:
    """A hook the client runs before each request: a token from an exec credential plugin (EKS,
    GKE, AKS kubeconfigs) is fetched again once it expired, so a long-running executor keeps its
    access (the plugin itself is run only when the token has expired)."""

    async def refresh(configuration: Configuration) -> None:
        if getattr(loader, "exec_plugin_expiry", None) is not None:
            await loader.load_from_exec_plugin()
            configuration.api_key["BearerToken"] = loader.token

    return refresh


def api_message(error: ApiException) -> str:
    """The API server's own message (a 422's names the invalid field), with the HTTP status."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):  # not a JSON Status
        message = json.loads(error.body or "{}").get("message", "")
    return f"{error.status} {error.reason}: {message}" if message else f"{error.status} {error.reason}"


def retry_after(error: ApiException, attempt: int) -> float | None:
    """Seconds to wait before making again a call whose `attempt`-th answer was `error` (None: not
    again). Only a 429 or a 5xx whose Retry-After gives whole seconds is. A 429 was not carried out; a
    5xx may have been (a write etcd stored but did not confirm in time), so a create sent again may
    meet its own object: 409 (the Kubernetes backend deletes it, `performers.kubernetes.backend`)."""
    status = error.status or 0
    header = (error.headers or {}).get("Retry-After")
    if attempt >= RETRY_ATTEMPTS or header is None or (status != 429 and status < 500):
        return None
    try:
        return float(min(max(int(header.strip()), 0), RETRY_AFTER_MAX))
    except ValueError:  # an HTTP date: not what the API server sends
        return None
