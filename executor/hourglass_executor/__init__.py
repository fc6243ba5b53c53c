"""hourglass-executor: receives tasks from aggregators over gRPC, deploys EigenLayer Hourglass AVS
performers (as Performer resources in kubernetes mode) and runs the tasks on them."""

import importlib.metadata

__version__ = importlib.metadata.version("hourglass-executor")
