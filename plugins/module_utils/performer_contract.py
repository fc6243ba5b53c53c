"""The Performer contract: every name the operator and its clients agree on, in one place.

The Performer custom resource (group, version, plural, kind, finalizer), the names of the Pod and
Service the performer role makes for it (`performer-<name>`), the labels and the spec-hash
annotation the role puts on them, the status phases, condition types and reasons, and the RFC 3339
clock every status and Event timestamp comes from.

Who reads it: the role's templates (the performer_render filter hands them `contract`, see
`template_names`), the filters and modules of this collection, and the Python runner loop
(`hourglass_operator`), which imports it as
`ansible_collections.hourglass.operator.plugins.module_utils.performer_contract`. Plain Python with
no imports beyond the standard library, so that Ansible can ship it inside a module.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

# --- the custom resource ---------------------------------------------------------------------------
GROUP = "hourglass.eigenlayer.io"
VERSION = "v1alpha1"
PLURAL = "performers"
KIND = "Performer"
API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/performer-finalizer"
ORPHAN_FINALIZER = "orphan"  # the API server's, on an owner deleted with --cascade=orphan
# Every field the operator writes in a Performer's status; the CRD's status schema declares each (an
# older CRD that lacks one makes the API server drop it from every status written).
STATUS_FIELDS = (
    "phase", "ready", "podName", "serviceName", "grpcEndpoint", "observedGeneration", "conditions",
    "lastUpgrade", "readyTime", "endedPods",
)  # fmt: skip

# --- the children: one Pod and one Service, both named performer-<name> ----------------------------
CHILD_PREFIX = "performer-"
APP_LABEL, APP_VALUE = "app", "hourglass-performer"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
OWNER_LABEL = f"{GROUP}/performer"  # the Performer's name; the Service selects its pod by it
AVS_LABEL = f"{GROUP}/avs"  # the AVS address, lower case
CHILD_SELECTOR = f"{APP_LABEL}={APP_VALUE}"  # a label selector matching every child
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"  # sha256 of the rendered pod spec
DEFAULT_FIELD_MANAGER = "hourglass-operator"  # also the value of the managed-by label
DEFAULT_CLUSTER_DOMAIN = "cluster.local"

# --- status ------------------------------------------------------------------------------------------
PENDING, RUNNING, UPGRADING, TERMINATING, FAILED = "Pending", "Running", "Upgrading", "Terminating", "Failed"
PHASES = (PENDING, RUNNING, UPGRADING, TERMINATING, FAILED)
READY, SCHEDULED, RECONCILED = "Ready", "Scheduled", "Reconciled"
RECONCILING, STALLED = "Reconciling", "Stalled"  # kstatus' abnormal-true conditions
CONDITION_TYPES = (READY, SCHEDULED, RECONCILED, RECONCILING, STALLED)
# What a run reports of a Performer whose pod is rendered differently now (performer_plan): its
# replacement started, or it waits for a slot (the runner loop's hourglass_operator/rollouts.py).
ROLLOUT_STARTED, ROLLOUT_WAITING = "started", "waiting"


class Reason:
    """Reasons of the conditions and Events the operator writes."""

    POD_READY = "PodReady"
    POD_NOT_CREATED = "PodNotCreated"
    POD_TERMINATING = "PodTerminating"
    POD_FAILED = "PodFailed"
    POD_NOT_READY = "PodNotReady"
    POD_PENDING = "PodPending"
    TERMINATING = "Terminating"
    NAMESPACE_TERMINATING = "NamespaceTerminating"  # its namespace is being deleted, and it with it
    UPGRADING = "Upgrading"
    SCHEDULED = "Scheduled"
    UNSCHEDULABLE = "Unschedulable"
    SCHEDULING_PENDING = "SchedulingPending"
    RECONCILE_SUCCEEDED = "ReconcileSucceeded"
    RECONCILE_FAILED = "ReconcileFailed"
    ROLLOUT_PENDING = "RolloutPending"  # rendered differently now: its pod waits for a rollout slot
    INVALID_SPEC = "InvalidSpec"  # Stalled: the spec cannot be reconciled until it changes
    PROGRESSING = "Progressing"
    CURRENT = "Current"
    # Events only
    READY = "Ready"
    NOT_READY = "NotReady"
    POD_DRIFTED = "PodDrifted"
    POD_REPLACED = "PodReplaced"  # the pod ended (evicted, rejected by its node): a new one replaces it
    LOST_POD_DELETED = "LostPodDeleted"  # the pod's node stopped answering: deleted without its kubelet
    SERVICE_DRIFTED = "ServiceDrifted"
    ADOPTED = "Adopted"  # a pod or Service no object owned (left by `--cascade=orphan`) is its own now
    STATUS_RESTORED = "StatusRestored"


def child_name(performer_name: str) -> str:
    """Name of the Pod and of the Service of a Performer."""
    return CHILD_PREFIX + performer_name


def performer_of(child: str) -> str:
    """The Performer's name in a child's name (the inverse of `child_name`)."""
    return child.removeprefix(CHILD_PREFIX)


def grpc_endpoint(performer_name: str, namespace: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> str:
    """The DNS name of a Performer's Service (status.grpcEndpoint; no port)."""
    return f"{child_name(performer_name)}.{namespace}.svc.{cluster_domain}"


def child_labels(performer_name: str, avs_address: str, field_manager: str = DEFAULT_FIELD_MANAGER) -> dict:
    """The labels the role puts on a Performer's Pod and Service."""
    return {
        APP_LABEL: APP_VALUE,
        MANAGED_BY_LABEL: field_manager,
        OWNER_LABEL: performer_name,
        AVS_LABEL: avs_address.lower().replace("_", "-")[:63],
    }


_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"  # how status fields and Events write a time
_CENTURY = 100 * 365 * 24 * 3600  # the furthest a deadline is put (`seconds_after`)


def _parsed(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def now() -> str:
    """The current time in RFC 3339 (UTC, seconds), as status fields and Events carry it."""
    return datetime.now(UTC).strftime(_RFC3339)


def unix_seconds(timestamp: str) -> float:
    """An RFC 3339 timestamp as seconds since the epoch (ValueError when it is not one)."""
    return _parsed(timestamp).timestamp()


def seconds_between(earlier: str, later: str) -> float:
    """Seconds from one RFC 3339 timestamp to another (as `now` and the API server write them)."""
    return (_parsed(later) - _parsed(earlier)).total_seconds()


def seconds_after(timestamp: str, seconds: float) -> str:
    """The RFC 3339 timestamp `seconds` after `timestamp`, rounded up to a whole second; at most a
    century after it (a role var of "never" given as a huge number overflowed the date, and failed
    every Performer of the batch)."""
    seconds = min(math.ceil(seconds), _CENTURY)
    return (_parsed(timestamp) + timedelta(seconds=seconds)).strftime(_RFC3339)


def template_names() -> dict[str, Any]:
    """What the role's templates read as `contract`: the names they put on the children."""
    return {
        "child_prefix": CHILD_PREFIX,
        "app_label": APP_LABEL,
        "app_value": APP_VALUE,
        "managed_by_label": MANAGED_BY_LABEL,
        "owner_label": OWNER_LABEL,
        "avs_label": AVS_LABEL,
        "spec_hash_annotation": SPEC_HASH_ANNOTATION,
    }
