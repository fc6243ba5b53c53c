"""Leader election on a coordination.k8s.io Lease, as client-go does it: the holder renews the
lease every retry period; another candidate takes it over only after it expired (lease duration
without a renewal). Updates carry the resourceVersion, so two candidates cannot both win.

`is_leader` is set while this process holds the lease. A leader that cannot renew within the
renew deadline calls `on_lost` (the operator then exits, to restart clean as a candidate).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import kubernetes

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


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
    ) -> None:
        self.coordination = kubernetes.client.CoordinationV1Api(api)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.is_leader, self.stop, self.on_lost = is_leader, stop, on_lost
        self.lease_duration, self.renew_deadline, self.retry_period = (
            lease_duration,
            renew_deadline,
            retry_period,
        )

    def start(self) -> None:
        threading.Thread(target=self._run, name="leader-election", daemon=True).start()

    def _lease_body(self, lease: kubernetes.client.V1Lease | None, transitions: int) -> dict:
        now = _now()
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "renewTime": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "leaseTransitions": transitions,
        }
        held_by_me = lease is not None and lease.spec.holder_identity == self.identity
        spec["acquireTime"] = (
            lease.spec.acquire_time.isoformat(timespec="microseconds").replace("+00:00", "Z")
            if held_by_me and lease.spec.acquire_time
            else spec["renewTime"]
        )
        body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        if lease is not None:
            body["metadata"]["resourceVersion"] = lease.metadata.resource_version
        return body

    def _try_acquire_or_renew(self) -> bool:
        try:
            lease = self.coordination.read_namespaced_lease(self.name, self.namespace)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
            self.coordination.create_namespaced_lease(self.namespace, self._lease_body(None, 0))
            return True
        spec = lease.spec
        if spec.holder_identity and spec.holder_identity != self.identity and spec.renew_time:
            expires = spec.renew_time.timestamp() + (spec.lease_duration_seconds or self.lease_duration)
            if time.time() < expires:
                return False
        transitions = (spec.lease_transitions or 0) + (0 if spec.holder_identity == self.identity else 1)
        self.coordination.replace_namespaced_lease(
            self.name, self.namespace, self._lease_body(lease, transitions)
        )
        return True

    def _run(self) -> None:
        last_renewal = 0.0
        while not self.stop.is_set():
            try:
                held = self._try_acquire_or_renew()
            except kubernetes.client.ApiException as error:
                held = False
                if error.status != 409:  # 409: another candidate wrote first
                    log.warning("leader election: %s %s", error.status, error.reason)
            except Exception as error:  # network trouble: same as failing to renew
                held = False
                log.warning("leader election: %s", error)
            now = time.monotonic()
            if held:
                last_renewal = now
                if not self.is_leader.is_set():
                    log.info("became the leader", extra={"lease": f"{self.namespace}/{self.name}"})
                    self.is_leader.set()
            elif self.is_leader.is_set() and now - last_renewal > self.renew_deadline:
                log.error("lost the leader lease", extra={"lease": f"{self.namespace}/{self.name}"})
                self.is_leader.clear()
                self.on_lost()
                return
            self.stop.wait(self.retry_period)
        if self.is_leader.is_set():  # step down so that the next leader does not wait for expiry
            try:
                lease = self.coordination.read_namespaced_lease(self.name, self.namespace)
                if lease.spec.holder_identity == self.identity:
                    lease.spec.holder_identity = None
                    lease.spec.renew_time = None
                    self.coordination.replace_namespaced_lease(self.name, self.namespace, lease)
            except Exception as error:
                log.warning("could not release the leader lease: %s", error)
