"""Failures that clear themselves without anyone changing the Performer, and the shorter back-off
they get.

A reconcile that failed is retried with back-off, doubling up to 5 minutes: right for an admission
policy that refuses the pod, which stays until someone changes the policy or the Performer. Some
failures are the cluster's for a moment, though: an admission webhook the API server could not call
(its pods restarting, its Service without endpoints: `failed calling webhook`), or the API server or
etcd timing out. Once the webhook is back, a Performer at the end of a 5-minute back-off would stay
down for up to 5 more minutes; nothing the operator watches says when it is back. So those failures
back off to at most `RETRY_MAX_SECONDS` instead: the performer is back within that time.
"""

from __future__ import annotations

RETRY_MAX_SECONDS = 30.0

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
    """The most a retry after `error` waits, when less than the queue's usual (None: the usual)."""
    return RETRY_MAX_SECONDS if error and any(text in error for text in TRANSIENT) else None
