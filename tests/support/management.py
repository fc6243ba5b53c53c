"""A management-API client for tests and the demo: gets a challenge token and signs it the way the
contract asks (keccak256(keccak256(utf8(token))) with the executor's signing key, ECDSA or BN254)."""

from __future__ import annotations

import grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.common import auth_pb2
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.auth import sign_challenge
from hourglass_executor.signing import Signer

from tests.support.aggregator import EXECUTOR


class ManagementClient:
    def __init__(
        self, channel: grpc.aio.Channel, signer: Signer = EXECUTOR, operator_address: str = EXECUTOR.address
    ) -> None:
        self.stub = executor_pb2_grpc.ExecutorManagementServiceStub(channel)
        self.signer = signer
        self.operator_address = operator_address

    async def auth(self, operator_address: str | None = None) -> auth_pb2.AuthSignature:
        """A fresh token for `operator_address` (default: the executor's operator address), signed."""
        response = await self.stub.GetChallengeToken(
            executor_pb2.GetChallengeTokenRequest(operator_address=operator_address or self.operator_address),
            timeout=5,
        )
        token = response.challenge_token
        return auth_pb2.AuthSignature(challenge_token=token, signature=sign_challenge(self.signer, token))

    async def deploy(self, timeout: float = 120, **fields: object) -> executor_pb2.DeployArtifactResponse:
        request = executor_pb2.DeployArtifactRequest(auth=await self.auth(), **fields)
        return await self.stub.DeployArtifact(request, timeout=timeout)

    async def list(self, avs_address: str = "") -> list[executor_pb2.Performer]:
        request = executor_pb2.ListPerformersRequest(avs_address=avs_address, auth=await self.auth())
        return list((await self.stub.ListPerformers(request, timeout=10)).performers)

    async def remove(self, performer_id: str, timeout: float = 120) -> executor_pb2.RemovePerformerResponse:
        request = executor_pb2.RemovePerformerRequest(performer_id=performer_id, auth=await self.auth())
        return await self.stub.RemovePerformer(request, timeout=timeout)
