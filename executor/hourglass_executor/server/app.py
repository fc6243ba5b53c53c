"""The running executor: builds its parts from the configuration, serves the task and management
services over gRPC, and stops gracefully.

Servers: ExecutorService on `grpcPort`; ExecutorManagementService on `managementServerGrpcPort`, or
on the same server when that is 0 or equal. Each server also serves grpc.health.v1 (NOT_SERVING
until the performer pool has started — adopted or deployed the configured performers — then
SERVING; NOT_SERVING again while stopping) and server reflection. With `metricsPort`, an HTTP
server serves the Prometheus metrics at /metrics (`metrics.py`). A port that cannot be bound stops
the start with one line naming its key (`grpcPort: cannot listen on [::]:9090: Address already in
use (...)`).

Start: the parts that depend on the machine come from `startup.prepare` (the checks
`hourglass-executor validate` runs too); then the servers listen (so health probes answer at once),
then the pool starts; it may take as long as a performer takes to become ready. An AVS whose
performer cannot be deployed is logged and left without one (its tasks get UNAVAILABLE until a
DeployArtifact succeeds); a backend that cannot even list its performers stops the start.

The store's task ids (and results) older than its retention are pruned at start and every
`PRUNE_INTERVAL`, off the event loop and in batches of `PRUNE_BATCH` (a batch of large results takes
a while to delete, and tasks' claims and outcomes queue behind it on the store's writer).

Message sizes: a call may send at most `MAX_RECEIVE_BYTES` (4 MiB, the Go executor's gRPC default:
no aggregator sends it more), and an answer may be as large as a performer's largest output plus the
TaskResult around it (`MAX_SEND_BYTES`), so that a result the performer could return is never stored
as done and then found too large to send.

Stop (SIGTERM/SIGINT, or `stop()`): health NOT_SERVING, no new calls, in-flight calls may finish
within `shutdownTimeout` (then they are cancelled), then the pool shuts down (performers are kept
unless `kubernetes.deletePerformersOnShutdown`); once the cancelled calls recorded their end in the
store (their claims given back, or their tasks interrupted; at most `SETTLE_TIMEOUT`), the chain
reader and the store close.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
from collections.abc import Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.chain import ChainReader
from hourglass_executor.config import ExecutorConfig
from hourglass_executor.metrics import ExecutorMetrics
from hourglass_executor.performers.base import PerformerBackend
from hourglass_executor.performers.client import DEFAULT_MAX_MESSAGE_BYTES
from hourglass_executor.performers.pool import PerformerPool, PoolError, PoolSettings
from hourglass_executor.server import components, startup
from hourglass_executor.server.components import StartupError
from hourglass_executor.server.listen import bind_problem, listen_error
from hourglass_executor.server.management_service import ManagementService
from hourglass_executor.server.metrics_http import MetricsServer
from hourglass_executor.server.startup import Parts
from hourglass_executor.server.task_service import TaskService
from hourglass_executor.signing.signer import Signer
from hourglass_executor.signing_keys import describe
from hourglass_executor.store import Store

log = logging.getLogger(__name__)

TASK_SERVICE = executor_pb2.DESCRIPTOR.services_by_name["ExecutorService"].full_name
MANAGEMENT_SERVICE = executor_pb2.DESCRIPTOR.services_by_name["ExecutorManagementService"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
MAX_RECEIVE_BYTES = 4 * 1024 * 1024
MAX_SEND_BYTES = DEFAULT_MAX_MESSAGE_BYTES + 64 * 1024  # a performer's output, signatures, addresses
PRUNE_INTERVAL = 60.0  # seconds between prunes of the store
PRUNE_BATCH = 100  # task ids deleted per statement
SETTLE_TIMEOUT = 10.0  # seconds a stop waits for cancelled SubmitTasks to record their end
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.so_reuseport", 0),  # fail when the port is taken instead of sharing it
    ("grpc.max_send_message_length", MAX_SEND_BYTES),
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    # Aggregators keep connections open and ping them; do not answer pings with GOAWAY.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]


def _loopback(host: str) -> bool:
    """Whether the servers listen on this machine only."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class _Server:
    """One gRPC server with its health service and the names of the services it hosts; `key` is
    the configuration key of its port (named when the port cannot be bound)."""

    def __init__(self, key: str, port: int, host: str) -> None:
        self.server = grpc.aio.server(options=SERVER_OPTIONS)
        self.health = health_aio.HealthServicer()
        self.key = key
        self.port = port
        self.host = host
        self.services: list[str] = []
        self.bound_port = 0

    async def start(self) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*self.services, HEALTH_SERVICE, reflection.SERVICE_NAME), self.server
        )
        address = f"{self.host}:{self.port}"
        # Checked with a plain socket first: gRPC's own failure says no more than "bind failed" and
        # prints a line of its C core on stderr.
        if self.port and (problem := bind_problem(self.host, self.port)) is not None:
            raise listen_error(self.key, address, problem)
        try:
            self.bound_port = self.server.add_insecure_port(address)
        except RuntimeError as error:
            raise listen_error(self.key, address, bind_problem(self.host, self.port) or str(error)) from None
        if not self.bound_port:
            raise listen_error(self.key, address, bind_problem(self.host, self.port) or "the bind failed")
        await self.server.start()
        await self.set_serving(False)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.services):
            await self.health.set(name, status)


class Executor:
    """The executor process's work. Parts given to the constructor replace the ones the
    configuration describes (tests and the benchmark run a backend of their own)."""

    def __init__(
        self,
        config: ExecutorConfig,
        *,
        backend: PerformerBackend | None = None,
        chain: ChainReader | None = None,
        store: Store | None = None,
        signers: Mapping[str, Signer] | None = None,
        settings: PoolSettings | None = None,
        environ: Mapping[str, str] = os.environ,
        host: str = "[::]",
    ) -> None:
        self.config = config
        self._backend = backend
        self._chain = chain
        self._owns_chain = False
        self._store = store
        self._signers = signers
        self._settings = settings
        self._environ = environ
        self._host = host
        self.pool: PerformerPool | None = None
        self._tasks: TaskService | None = None
        self._servers: list[_Server] = []
        self.metrics = ExecutorMetrics(performer.avs_address for performer in config.avs_performers)
        self._metrics_server: MetricsServer | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._pruning: asyncio.Task[None] | None = None
        self.start_problems: dict[str, str] = {}

    @property
    def task_port(self) -> int:
        return self._servers[0].bound_port

    @property
    def management_port(self) -> int:
        return self._servers[-1].bound_port

    @property
    def metrics_port(self) -> int:
        """The port /metrics is served on (0: not served)."""
        return self._metrics_server.bound_port if self._metrics_server is not None else 0

    async def start(self) -> None:
        """Starts the servers and the pool (returns once the executor is SERVING)."""
        await self.start_servers()
        await self.start_pool()

    async def start_servers(self) -> None:
        """Builds the parts and starts the servers (NOT_SERVING); raises StartupError."""
        config = self.config
        given = Parts(store=self._store, chain=self._chain, signers=self._signers, backend=self._backend)
        parts = await startup.prepare(config, self._environ, given=given)
        # prepare returns every part or raises
        assert parts.store and parts.chain and parts.signers and parts.specs is not None and parts.backend
        self._owns_chain = self._chain is None
        self._store, self._chain = parts.store, parts.chain
        chain, signers = parts.chain, parts.signers
        self.pool = components.build_pool(
            config,
            parts.backend,
            self._store,
            parts.specs,
            settings=self._settings,
            on_deploy=self.metrics.deploy_finished,
        )
        self.metrics.watch_performers(self.pool.health_report)
        self._tasks = tasks = TaskService(
            operator_address=config.operator.address,
            chain=chain,
            signers=signers,
            store=self._store,
            pool=self.pool,
            task_timeout=config.task_timeout.total_seconds(),
            metrics=self.metrics,
        )
        management = ManagementService(
            pool=self.pool,
            tokens=components.build_tokens(config, signers),
            deployment_mode=config.deployment_mode,
            environ=self._environ,
            env_from_executor={
                performer.avs_address.lower(): frozenset(
                    env.value_from_env for env in performer.envs if env.value_from_env is not None
                )
                for performer in config.avs_performers
            },
        )
        task_server = _Server("grpcPort", config.grpc_port, self._host)
        executor_pb2_grpc.add_ExecutorServiceServicer_to_server(tasks, task_server.server)
        task_server.services.append(TASK_SERVICE)
        management_server = task_server
        if config.management_port != config.grpc_port:
            management_server = _Server("managementServerGrpcPort", config.management_port, self._host)
        executor_pb2_grpc.add_ExecutorManagementServiceServicer_to_server(
            management, management_server.server
        )
        management_server.services.append(MANAGEMENT_SERVICE)
        self._servers = (
            [task_server] if management_server is task_server else [task_server, management_server]
        )
        for server in self._servers:
            await server.start()
        if config.metrics_port:
            self._metrics_server = MetricsServer(self.metrics, config.metrics_port, self._host)
            await self._metrics_server.start()
        self._pruning = asyncio.get_running_loop().create_task(self._prune_forever(self._store))
        log.info(
            "listening",
            extra={
                "task_port": self.task_port,
                "management_port": self.management_port,
                "metrics_port": self.metrics_port or None,
                "executor_id": config.owner_id,
                "signers": {curve: describe(signer) for curve, signer in signers.items()},
                "authentication": config.authentication.enabled,
            },
        )
        if not config.authentication.enabled and not _loopback(self._host):
            log.warning(
                "the management API has no authentication (authentication.enabled is false): anyone "
                "who reaches its port can deploy a performer image of their choice with DeployArtifact; "
                "turn authentication on, or let only your own callers reach the port",
                extra={"management_port": self.management_port},
            )

    async def start_pool(self) -> None:
        """Adopts or deploys the configured performers, then reports SERVING; raises StartupError."""
        assert self.pool is not None, "start_servers first"
        try:
            self.start_problems = await self.pool.start()
        except PoolError as error:
            raise StartupError(str(error)) from None
        for server in self._servers:
            await server.set_serving(True)
        log.info("serving", extra={"avs_without_performer": sorted(self.start_problems) or None})

    async def _prune_forever(self, store: Store) -> None:
        while True:
            try:
                removed = 0
                while (batch := await asyncio.to_thread(store.prune, limit=PRUNE_BATCH)) == PRUNE_BATCH:
                    removed += batch
                if removed + batch:
                    log.info("pruned task ids", extra={"removed": removed + batch})
            except Exception:  # a store error must not end pruning for good
                log.exception("cannot prune the store")
            await asyncio.sleep(PRUNE_INTERVAL)

    async def stop(self) -> None:
        """Graceful stop (idempotent; concurrent callers wait for the same stop)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        grace = self.config.shutdown_timeout.total_seconds()
        log.info("stopping", extra={"grace_seconds": grace})
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.health.enter_graceful_shutdown()
        await asyncio.gather(*(server.server.stop(grace) for server in self._servers))
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        if self._pruning is not None:
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning
        if self.pool is not None:
            delete = bool(self.config.kubernetes and self.config.kubernetes.delete_performers_on_shutdown)
            await self.pool.shutdown(delete=delete)
        await self._settle_tasks()
        if self._owns_chain and self._chain is not None:
            await self._chain.close()
        if self._store is not None:
            self._store.close()
        log.info("stopped")

    async def _settle_tasks(self) -> None:
        """Waits (at most SETTLE_TIMEOUT) for the SubmitTasks the stop cancelled to record their end:
        `server.stop` returns before they ran their clean-up, and a claim given back after the store
        closed would stay claimed (DATA_LOSS for a task that never reached a performer)."""
        if self._tasks is None:
            return
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await self._tasks.settled()
        except TimeoutError:
            log.warning("cancelled tasks did not record their end in time", extra={"seconds": SETTLE_TIMEOUT})

    async def serve(self) -> int:
        """Runs until SIGTERM or SIGINT; returns the exit code (1 when the start failed)."""
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, signalled.set)
        code = 0
        waiting: asyncio.Task[Any] | None = None
        try:
            await self.start_servers()
            starting = loop.create_task(self.start_pool())
            waiting = loop.create_task(signalled.wait())
            await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()  # raises a StartupError
                await waiting
            else:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, StartupError):
                    await starting
            log.info("signal received")
        except StartupError as error:
            log.error("cannot start", extra={"reason": str(error)})
            code = 1
        finally:
            if waiting is not None:
                waiting.cancel()
            await self.stop()
        return code
