"""hourglass-executor: receives tasks from aggregators over gRPC, deploys EigenLayer Hourglass AVS
performers (as Performer resources in kubernetes mode) and runs the tasks on them."""

from importlib.metadata import version

# The release version (VERSION at the repository root, written into executor/pyproject.toml by
# hack/release/version.py), read from the installed package's metadata.
__version__ = version("hourglass-executor")
