"""A small SDK for writing Hourglass performers in Python: implement a `Worker` (validate and
handle a task), serve it with `PerformerServer` or `run(worker, port)`.

The server speaks the performer contract the executor (ours or upstream) calls: PerformerService
(ExecuteTask, StartSync), grpc.health.v1 answering SERVING for "" and server reflection.
"""

from __future__ import annotations

from .server import PerformerServer, run
from .worker import TaskRejected, Worker

__all__ = ["PerformerServer", "TaskRejected", "Worker", "run"]
