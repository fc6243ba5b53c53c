"""A performer the pool talks to (`LivePerformer`): its deployment, its gRPC client, circuit
breaker, health monitor and in-flight count, and its lifecycle state (`lifecycle.State`).

The client is made once the address to dial is known: a Kubernetes performer learns it from the
status the operator writes, so a staged one may have none until it is ready.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hourglass_executor.performers.base import Deployment
from hourglass_executor.performers.circuit import CircuitBreaker
from hourglass_executor.performers.client import PerformerClient
from hourglass_executor.performers.health import HealthMonitor
from hourglass_executor.performers.lifecycle import State
from hourglass_executor.store import PerformerRecord, PerformerStatus


def image_of(deployment: Deployment) -> str:
    """The image the performer runs (as the backend reports it, else as it was asked for)."""
    return deployment.details.get("image") or deployment.spec.image


@dataclass(eq=False)
class LivePerformer:
    """A performer the pool tracks (`state` None until the lifecycle first moves it)."""

    deployment: Deployment
    client: PerformerClient | None
    breaker: CircuitBreaker
    backend: str
    created_at: float
    state: State | None = None
    in_flight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    monitor: HealthMonitor = field(init=False)
    restarting: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.idle.set()

    @property
    def performer_id(self) -> str:
        return self.deployment.performer_id

    @property
    def avs(self) -> str:
        return self.deployment.spec.avs_address.lower()

    @property
    def endpoint(self) -> str:
        return self.client.endpoint if self.client is not None else self.deployment.endpoint

    async def health_check(self, timeout: float = 1.0) -> bool:
        """The monitor checks through this, so that it follows a client replaced after a restart."""
        return self.client is not None and await self.client.health_check(timeout)

    def record(self, status: PerformerStatus) -> PerformerRecord:
        """The store's record of this performer with `status`."""
        return PerformerRecord(
            performer_id=self.performer_id,
            avs_address=self.avs,
            backend=self.backend,
            status=status,
            image=image_of(self.deployment),
            endpoint=self.deployment.endpoint,
            resource_id=self.deployment.resource_id,
            created_at=self.created_at,
        )
