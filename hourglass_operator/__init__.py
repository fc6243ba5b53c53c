"""hourglass-operator: reconciles Performer custom resources into performer Pods and Services.

The runner loop (watches, work queue, batching, ansible-runner) lives in this package; the
reconcile logic itself is the Ansible role in roles/performer.
"""

import importlib.metadata

__version__ = importlib.metadata.version("hourglass-operator")
