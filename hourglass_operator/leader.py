"""Leader election on a coordination.k8s.io Lease, as client-go does it: the holder renews the
lease every retry period; another candidate takes it over only after it expired. Updates carry
the resourceVersion, so two candidates cannot both win.

Expiry is judged by this process's own clock, never by the holder's `renewTime` (the clocks of two
nodes may disagree by any amount): a candidate remembers the lease record it last saw (holder,
lease duration, acquire and renew times, transitions) and the local monotonic time at which it saw
it change, and holds the lease to be expired only once `leaseDurationSeconds` have passed on that
local clock without a change. A holder that keeps renewing therefore keeps the lease whatever its
wall clock says, and one that stops loses it one lease duration after its last renewal was seen.
The wall clock only fills in the record's timestamps, for people reading them.

`is_leader` is set while this process holds the lease. A leader that cannot renew within the
renew deadline calls `on_lost` (the operator then cancels its runs and exits, to restart clean as a
candidate). Every lease call of a leader is bounded by what is left of its renew deadline: a call
that hangs (a half-open connection) must not keep it from noticing that it can no longer renew,
while another candidate takes the lease over once it has gone unchanged for its duration.

Once `stop` is set the elector stops and, if it leads, releases the lease; the operator sets it only
after its own work has stopped, so that the next leader never overlaps with the runs of this one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import kubernetes

log = logging.getLogger(__name__)
MIN_CALL_SECONDS = 0.1  # a leader's call at its renew deadline still gets this long


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LeaseRecord:
    """What the Lease says about its holder; any change of it is a sign of life."""

    holder: str | None
    lease_duration_seconds: int | None
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int

    @classmethod
    def of(cls, lease: kubernetes.client.V1Lease) -> LeaseRecord:
        spec = lease.spec
        return cls(
            spec.holder_identity or None, spec.lease_duration_seconds, spec.acquire_time, spec.renew_time,
            spec.lease_transitions or 0,
        )  # fmt: skip


class LeaderElector:
    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        is_leader: threading.Event,
        stop: threading.Event,
        on_lost: Callable[[], None],
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_stop: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.coordination = kubernetes.client.CoordinationV1Api(api)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.is_leader, self.stop, self.on_lost = is_leader, stop, on_lost
        self.lease_duration, self.renew_deadline, self.retry_period = (
            lease_duration,
            renew_deadline,
            retry_period,
        )
        self.release_on_stop = release_on_stop
        self.clock, self.wall_clock = clock, wall_clock
        self.observed: LeaseRecord | None = None
        self.observed_at = 0.0  # local monotonic time at which `observed` was last seen to change
        self.last_renewal = 0.0

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        thread.start()
        return thread

    # --- one attempt ----------------------------------------------------------------------------

    def _observe(self, record: LeaseRecord) -> None:
        if record != self.observed:
            self.observed, self.observed_at = record, self.clock()

    def expired(self) -> bool:
        """Whether the lease last observed has gone unchanged for its duration on the local clock."""
        if self.observed is None:
            return True
        duration = self.observed.lease_duration_seconds or self.lease_duration
        return self.clock() >= self.observed_at + duration

    def _body(self, current: LeaseRecord | None, resource_version: str | None) -> dict:
        now = self.wall_clock()
        held_by_me = current is not None and current.holder == self.identity
        transitions = 0 if current is None else current.transitions + (0 if held_by_me else 1)
        acquired = current.acquire_time if held_by_me and current.acquire_time else now
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": _rfc3339(acquired),
            "renewTime": _rfc3339(now),
            "leaseTransitions": transitions,
        }
        metadata = {"name": self.name, "namespace": self.namespace}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {"metadata": metadata, "spec": spec}

    def _call_timeout(self) -> float:
        """How long one lease call may take: a leader's, until its renew deadline; a candidate's, a
        renew deadline."""
        if self.is_leader.is_set():
            return max(self.last_renewal + self.renew_deadline - self.clock(), MIN_CALL_SECONDS)
        return self.renew_deadline

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the lease; API errors propagate (a 409 means another
        candidate wrote first), and so does a call that timed out."""
        try:
            lease = self.coordination.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._call_timeout()
            )
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
            created = self.coordination.create_namespaced_lease(
                self.namespace, self._body(None, None), _request_timeout=self._call_timeout()
            )
            self._observe(LeaseRecord.of(created))
            return True
        current = LeaseRecord.of(lease)
        self._observe(current)
        if current.holder and current.holder != self.identity and not self.expired():
            return False
        updated = self.coordination.replace_namespaced_lease(
            self.name, self.namespace, self._body(current, lease.metadata.resource_version),
            _request_timeout=self._call_timeout(),
        )  # fmt: skip
        self._observe(LeaseRecord.of(updated))
        return True

    # --- the loop -------------------------------------------------------------------------------

    def step(self) -> bool:
        """One round of the loop: try, then become, stay or stop being the leader. False once
        leadership is lost (after `on_lost`)."""
        # A renewal counts from when it was sent: the API server may have written it (and the
        # standbys seen it) up to a whole call earlier than its answer came back.
        attempted = self.clock()
        try:
            held = self.try_acquire_or_renew()
        except kubernetes.client.ApiException as error:
            held = False
            if error.status != 409:  # 409: another candidate wrote first
                log.warning("leader election: %s %s", error.status, error.reason)
        except Exception as error:  # network trouble: same as failing to renew
            held = False
            log.warning("leader election: %s", error)
        now = self.clock()
        lease = f"{self.namespace}/{self.name}"
        if held:
            self.last_renewal = attempted
            if not self.is_leader.is_set():
                log.info("became the leader", extra={"lease": lease, "identity": self.identity})
                self.is_leader.set()
        elif self.is_leader.is_set() and now - self.last_renewal > self.renew_deadline:
            log.error("lost the leader lease", extra={"lease": lease, "identity": self.identity})
            self.is_leader.clear()
            self.on_lost()
            return False
        return True

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.step():
                return
            self.stop.wait(self.retry_period)
        if self.release_on_stop and self.is_leader.is_set():
            self.release()

    def release(self) -> None:
        """Step down, so that the next leader does not wait for expiry."""
        try:
            lease = self.coordination.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self.renew_deadline
            )
            if lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                lease.spec.renew_time = None
                self.coordination.replace_namespaced_lease(
                    self.name, self.namespace, lease, _request_timeout=self.renew_deadline
                )
        except Exception as error:
            log.warning("could not release the leader lease: %s", error)
