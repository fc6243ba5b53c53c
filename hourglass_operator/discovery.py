"""The resource name (plural) under which the API server serves a watched kind, found by API
discovery as a RESTMapper does: the kind's entry in the resource list of its group/version (a
CRD's `spec.names.plural`), never guessed from the kind's name.

At start-up the kind may not be served yet (its CRD is installed after the operator, or the API
server is briefly away): `wait_for_plural` retries with back-off until it is, logging what it
waits for in one line (for a kind that is not served, how to install its CRD), and returns None
only when asked to stop.

Once it is served, `warn_if_status_fields_missing` reads the kind's schema as the API server
publishes it (OpenAPI v3 of its group/version) and warns when its status lacks a field the operator
writes: a CRD older than the operator (Helm installs a chart's CRD once and never upgrades it), from
whose every status write the API server silently drops that field.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import kubernetes

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
# The CRD of each kind this repository defines (hack/crd/generate.py writes it).
CRD_FILES = {("hourglass.eigenlayer.io", "Performer"): "crds/hourglass.eigenlayer.io_performers.yaml"}


def _crd_hint(group: str, kind: str, upgrade: bool = False) -> str:
    """How to install the CRD of `kind`, or to upgrade it (taking over the fields Helm or an older
    apply wrote)."""
    path = CRD_FILES.get((group, kind))
    if path is None:
        return f"kubectl apply the CustomResourceDefinition of {kind}.{group}"
    if upgrade:
        return f"kubectl apply --server-side --force-conflicts -f {path} of this operator's version"
    return f"kubectl apply --server-side -f {path} (the Helm chart and the install playbook install it too)"


class DiscoveryError(LookupError):
    """The API server does not serve the kind; the message names it."""


def plural_in(resources: Iterable[kubernetes.client.V1APIResource], kind: str) -> str | None:
    """The plural of `kind` in a group/version's resource list (subresources such as
    `performers/status` share the kind and are skipped)."""
    return next((r.name for r in resources if r.kind == kind and "/" not in r.name), None)


def resource_plural(api: kubernetes.client.ApiClient, group: str, version: str, kind: str) -> str:
    """The plural under which `group/version` serves `kind`. Raises DiscoveryError when the
    group/version or the kind is not served; other API errors propagate."""
    where = f"kind {kind} of {group}/{version}"
    try:
        listing = kubernetes.client.CustomObjectsApi(api).get_api_resources(group, version)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            raise DiscoveryError(f"{where}: the API server does not serve {group}/{version}") from error
        raise
    plural = plural_in(listing.resources or [], kind)
    if plural is None:
        raise DiscoveryError(f"{where}: {group}/{version} has no such kind")
    return plural


def wait_for_plural(
    api: kubernetes.client.ApiClient, group: str, version: str, kind: str, stop: threading.Event
) -> str | None:
    backoff = 0.5
    hint = _crd_hint(group, kind)
    while not stop.is_set():
        try:
            return resource_plural(api, group, version, kind)
        except DiscoveryError as error:  # the CRD is not installed (yet)
            log.warning("waiting for the API server to serve the watched kind (retrying in %.1f s): %s; "
                        "is its CRD installed? install it with %s", backoff, error, hint)  # fmt: skip
        except kubernetes.client.ApiException as error:  # the API server is away or refuses
            log.warning("waiting for the API server to serve the watched kind (retrying in %.1f s): %s %s",
                        backoff, error.status, error.reason)  # fmt: skip
        except Exception as error:  # the API server cannot be reached: retry
            log.warning("waiting for the API server to serve the watched kind (retrying in %.1f s): %s",
                        backoff, " ".join(str(error).split()))  # fmt: skip
        stop.wait(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return None


def missing_status_fields(
    call: Callable[..., tuple[int, Any]], group: str, version: str, kind: str, fields: Iterable[str]
) -> list[str] | None:
    """Which of `fields` the status schema of `kind`, as `group/version` publishes it (OpenAPI v3),
    does not declare; None when the schema cannot be read (an API server that does not publish it,
    or refuses to)."""
    code, document = call("GET", f"/openapi/v3/apis/{group}/{version}")
    if code != 200 or not isinstance(document, dict):
        return None
    wanted = {"group": group, "version": version, "kind": kind}
    for schema in ((document.get("components") or {}).get("schemas") or {}).values():
        if wanted in (schema.get("x-kubernetes-group-version-kind") or []):
            declared = ((schema.get("properties") or {}).get("status") or {}).get("properties") or {}
            return sorted(set(fields) - set(declared))
    return None


def warn_if_status_fields_missing(
    call: Callable[..., tuple[int, Any]], group: str, version: str, kind: str, fields: Iterable[str]
) -> None:
    """Logs a warning naming the status fields the served CRD of `kind` lacks, and how to upgrade it."""
    try:
        missing = missing_status_fields(call, group, version, kind, fields)
    except Exception as error:  # only a warning: never in the way of reconciling
        log.debug("could not read the published schema of %s.%s: %s", kind, group, error)
        return
    if missing:
        log.warning("the %s CRD in the cluster is older than this operator: its status schema lacks %s, "
                    "which the API server drops from every status the operator writes; upgrade it with %s",
                    kind, ", ".join(missing), _crd_hint(group, kind, upgrade=True))  # fmt: skip
