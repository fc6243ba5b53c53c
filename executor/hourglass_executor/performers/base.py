"""The interface every performer backend implements, and the values it exchanges.

A backend only knows infrastructure: it starts a performer for an AVS from an image (Kubernetes:
creates a Performer resource for the operator to reconcile; Docker: runs a container), waits until
the infrastructure reports it ready, tells where to dial it, lists the performers this executor
owns (to adopt them after a restart) and removes them. Which performer serves an AVS, blue-green
promotion, draining and task calls are backend-agnostic (`performers.pool`).

All methods are coroutines (the executor runs on asyncio: the Kubernetes backend's client is
asyncio too; the Docker backend runs its blocking client in threads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class BackendError(Exception):
    """A backend could not do what was asked (the message says what and why)."""


class NotReadyError(BackendError):
    """A performer did not become ready in time, or failed while starting."""


@dataclass(frozen=True)
class EnvVar:
    """One environment variable of a performer: a literal value, or (Kubernetes only) a reference
    to a key of a Secret or ConfigMap in the performer's namespace."""

    name: str
    value: str | None = None
    secret_key_ref: tuple[str, str] | None = None  # (secret name, key)
    config_map_key_ref: tuple[str, str] | None = None  # (config map name, key)


@dataclass(frozen=True)
class PerformerSpec:
    """What to run for an AVS."""

    avs_address: str
    repository: str
    tag: str
    digest: str | None = None  # "sha256:..."; when set, the image runs by digest
    env: tuple[EnvVar, ...] = ()
    service_account_name: str | None = None
    endpoint_override: str | None = None  # "host:port" to dial instead of the backend's address

    @property
    def image(self) -> str:
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"


@dataclass
class Deployment:
    """A performer a backend started (or adopted)."""

    performer_id: str  # Kubernetes: the Performer resource's name; Docker: performer-<avs>-<uuid>
    spec: PerformerSpec
    endpoint: str  # "host:port" the executor dials
    resource_id: str = ""  # Kubernetes: the resource's uid; Docker: the container id
    ready: bool = False  # what the infrastructure says (status.ready, container running)
    details: dict[str, str] = field(default_factory=dict)  # backend facts for ListPerformers/logs


class PerformerBackend(Protocol):
    name: str  # "kubernetes" | "docker"

    async def create(self, spec: PerformerSpec) -> Deployment:
        """Starts a performer for `spec`; returns at once (not ready yet)."""
        ...

    async def wait_ready(self, deployment: Deployment, timeout: float) -> Deployment:
        """Waits (Kubernetes: watches, never polls) until the infrastructure reports the performer
        ready; raises NotReadyError on timeout or failure."""
        ...

    async def remove(self, performer_id: str) -> None:
        """Removes a performer; removing one that is already gone is not an error."""
        ...

    async def owned(self) -> list[Deployment]:
        """The performers this executor started earlier and that still exist (for adoption)."""
        ...

    async def resource_healthy(self, performer_id: str) -> bool:
        """Whether the infrastructure still reports the performer ready (ListPerformers'
        resource_healthy)."""
        ...

    async def close(self) -> None:
        """Releases watches and clients. Does not remove performers (the pool decides)."""
        ...
