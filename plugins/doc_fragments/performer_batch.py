"""Documentation of the options that say how to write the statuses of a batch of Performers,
shared by the modules performer_status and performer_reconcile
(`extends_documentation_fragment: hourglass.operator.performer_batch`); performer_tasks declares
their argument spec."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  observed:
    description: Pod and Service per C(namespace/name) when the items carry none (single-Performer runs).
    type: dict
    default: {}
  state:
    description: V(present) for a reconcile, V(absent) for a finalizer run.
    type: str
    choices: [present, absent]
    default: present
  cluster_domain:
    description: Cluster DNS suffix of C(status.grpcEndpoint).
    type: str
    default: cluster.local
  unschedulable_timeout:
    description: Seconds a pod may stay Unschedulable before the Performer's C(Stalled) condition
      turns True.
    type: int
    default: 300
"""
