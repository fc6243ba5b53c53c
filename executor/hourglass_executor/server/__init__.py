"""The executor's gRPC side: `task_service` (ExecutorService.SubmitTask), `management_service`
(ExecutorManagementService), `components` (building chain reader, signer, store, backend and pool
from the configuration) and `app` (the servers' lifecycle: start, serve until a signal, graceful stop).
"""
