"""DeployArtifact refuses a Kubernetes service account name that is not a DNS-1123 subdomain
(INVALID_ARGUMENT) before it creates anything: the performer in service keeps serving."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2

from tests.support.aggregator import AVS
from tests.unit.executor.test_executor_management import management_server, refused

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["Runner", "avs_runner", "-runner", "runner.", "a" * 254])
def test_a_service_account_name_that_is_not_a_dns_1123_subdomain_is_refused(name):
    async def scenario():
        async with management_server(None, mode="kubernetes") as (client, backend, pool):
            error = await refused(
                client.stub.DeployArtifact(
                    executor_pb2.DeployArtifactRequest(
                        avs_address=AVS,
                        kubernetes=executor_pb2.KubernetesConfig(service_account_name=name),
                    ),
                    timeout=10,
                )
            )
            return error, list(backend.created), pool.current(AVS).performer_id

    error, created, current = asyncio.run(scenario())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "service_account_name must be a DNS-1123 subdomain" in error.details()
    assert created == [current]  # only the configured performer, still in service
