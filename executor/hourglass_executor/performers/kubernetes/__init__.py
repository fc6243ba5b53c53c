"""Performers as Performer resources reconciled by the operator: `resource` (the resource the
executor writes and reads), `watch` (its asyncio list+watch cache) and `backend` (the
PerformerBackend over both)."""

from hourglass_executor.performers.kubernetes.backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
