"""An example `kubernetes.endpointResolver`: where to dial performers when the executor runs outside
the cluster (a laptop, CI, the demo), so the Services' cluster DNS names do not resolve.

The executor still creates a Performer resource per deploy and waits for the operator to report it
ready; only the address it dials comes from here:

    kubernetes:
      endpointResolver: hourglass_executor.examples.local_resolver:resolve

$HOURGLASS_PERFORMER_ENDPOINTS maps image versions (the tag, or the digest) to "host:port", e.g.
`v1=127.0.0.1:50051,v2=127.0.0.1:50052`; the entry `*` (or $HOURGLASS_PERFORMER_ENDPOINT alone)
is used for every other version. Typical targets: a performer process on this machine, or a
`kubectl port-forward svc/performer-<name> 8080`.

A resolver is any callable taking a `performers.base.Deployment` (performer_id = the Performer's
name, spec = avs_address, repository, tag, digest, env) and returning "host:port". It runs on the
executor's event loop: it must return quickly.
"""

from __future__ import annotations

import os

from hourglass_executor.performers.base import Deployment

ENDPOINTS = "HOURGLASS_PERFORMER_ENDPOINTS"
ENDPOINT = "HOURGLASS_PERFORMER_ENDPOINT"


def endpoints() -> dict[str, str]:
    table = {}
    for entry in os.environ.get(ENDPOINTS, "").split(","):
        version, sep, address = entry.strip().partition("=")
        if sep and version and address:
            table[version] = address
    if os.environ.get(ENDPOINT):
        table.setdefault("*", os.environ[ENDPOINT])
    return table


def resolve(deployment: Deployment) -> str:
    table = endpoints()
    version = deployment.spec.digest or deployment.spec.tag
    address = table.get(version) or table.get("*")
    if not address:
        raise LookupError(
            f"no endpoint for performer {deployment.performer_id} (version {version}): "
            f"set {ENDPOINTS}=<version>=<host:port>,... or {ENDPOINT}=<host:port>"
        )
    return address
