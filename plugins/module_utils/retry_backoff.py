"""How long a Performer whose reconcile failed waits before it is tried again: 1 s doubling to 5
minutes, or to 30 s for failures that clear themselves.

A failure such as an admission policy refusing the pod stays until someone changes the policy or
the Performer: its retries back off to `BACKOFF_MAX_SECONDS`. Some failures are the cluster's for a
moment, though: an admission webhook the API server could not call (its pods restarting, its
Service without endpoints: `failed calling webhook`), or the API server or etcd timing out. Once the
webhook is back, a Performer at the end of a 5-minute back-off would stay down for up to 5 more
minutes, and nothing the operator watches says when it is back. So those failures back off to at
most `RETRY_MAX_SECONDS`: the performer is back within that time.

Two callers: the runner loop caps its work queue's back-off with `retry_max`
(hourglass_operator/controller.py); under the operator-sdk ansible-operator, the status result's
`retry_after` (status_writer) becomes the run's `requeue_after` (roles/performer/tasks/finish.yml),
instead of a failed run, which ansible-operator retries with a back-off of its own growing to about
17 minutes whatever the failure.
"""

from __future__ import annotations

from ansible_collections.hourglass.operator.plugins.module_utils.performer_contract import seconds_between

RETRY_MAX_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 300.0

# What the API server says of them (an admission webhook that answered and refused is not here: its
# message says "denied the request").
TRANSIENT = (
    "failed calling webhook",
    "the server is currently unable to handle the request",
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "Timeout: request did not complete within",
    "the server was unable to return a response in the time allotted",
)


def retry_max(error: str | None) -> float | None:
    """The most a retry after `error` waits, when less than the usual (None: the usual)."""
    return RETRY_MAX_SECONDS if error and any(text in error for text in TRANSIENT) else None


def retry_after(error: str, failing_since: str, now: str) -> float:
    """Seconds until the next try of a Performer whose reconciles fail with `error` since
    `failing_since` (RFC 3339, as `now`): as long as it has been failing, so that the waits double,
    at least 1 s and at most the cap for `error`."""
    failing_for = max(seconds_between(failing_since, now), 0.0)
    return min(max(failing_for, 1.0), retry_max(error) or BACKOFF_MAX_SECONDS)
