"""hourglass-operator: reconciles Performer custom resources into performer Pods and Services.

The runner loop (watches, work queue, batching, ansible-runner) lives in this package; the
reconcile logic itself is the Ansible role in roles/performer.
"""

from importlib.metadata import version

# The release version (VERSION at the repository root, written into pyproject.toml by
# hack/release/version.py), read from the installed package's metadata.
__version__ = version("hourglass-operator")
