"""hourglass-operator: reconciles Performer custom resources into performer Pods and Services.

The runner loop (watches, work queue, batching, ansible-runner) lives in this package; the
reconcile logic itself is the Ansible role in roles/performer.
"""


def __getattr__(name: str) -> str:
    # The release version (VERSION at the repository root, written into pyproject.toml by
    # hack/release/version.py), read from the installed package's metadata when asked for: the warm
    # Ansible's client imports this package for every run and should not pay importlib.metadata.
    if name == "__version__":
        from importlib.metadata import version

        return version("hourglass-operator")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
