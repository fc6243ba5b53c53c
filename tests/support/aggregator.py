"""A test aggregator: signs TaskSubmissions with an aggregator ECDSA key in the contract's layout
(§5) and checks the executor's TaskResults (the result signature over the certificate digest the
chain reader computes, and the auth signature), the way an aggregator would.

Also the static chain document tests and the demo use, and the well-known development keys. TEST
KEYS ONLY: they are Anvil's public development accounts; never use them for anything real.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain import StaticChainReader
from hourglass_executor.signing import ECDSA, EcdsaSigner, recover_address
from hourglass_executor.signing.address import addresses_equal
from hourglass_executor.signing.layouts import aggregator_digest, auth_digest, result_message_hash

# Anvil development accounts #0-#2 (public test keys).
EXECUTOR_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
AGGREGATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
STRANGER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
EXECUTOR = EcdsaSigner(EXECUTOR_KEY)
AGGREGATOR = EcdsaSigner(AGGREGATOR_KEY)
STRANGER = EcdsaSigner(STRANGER_KEY)

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
VERIFIER = "0x" + "c3" * 20  # the ECDSA certificate verifier named in the EIP-712 domain
ECDSA_SET, BN254_SET, FOREIGN_SET = 0, 1, 2  # operator sets of AVS in `chain_document`


def executor_identity() -> dict[str, Any]:
    """The `operator` and `l1Chain` keys of an executor configuration for the test executor."""
    return {
        "operator": {
            "address": EXECUTOR.address,
            "operatorPrivateKey": {"privateKey": EXECUTOR_KEY},
            "signingKeys": {"ecdsa": {"privateKey": EXECUTOR_KEY}},
        },
        "l1Chain": {"rpcUrl": "http://127.0.0.1:8545", "chainId": CHAIN_ID},
    }


def chain_document(
    avss: tuple[str, ...] = (AVS,), operator: str = EXECUTOR.address, aggregator: str = AGGREGATOR.address
) -> dict[str, Any]:
    """A static chain file (hourglass_executor.chain format) where each AVS has operator set 0
    (ECDSA, `operator` a member), 1 (BN254, member) and 2 (ECDSA, `operator` not a member)."""
    return {
        "chainId": CHAIN_ID,
        "ecdsaCertificateVerifier": {
            "name": "EigenLayer",
            "version": "v1.0.0",
            "verifyingContract": VERIFIER,
        },
        "avss": [
            {
                "address": avs,
                "operatorSets": [
                    {
                        "id": ECDSA_SET,
                        "curveType": "ECDSA",
                        "aggregatorAddress": aggregator,
                        "operators": [operator],
                    },
                    {
                        "id": BN254_SET,
                        "curveType": "BN254",
                        "aggregatorAddress": aggregator,
                        "operators": [operator],
                    },
                    {
                        "id": FOREIGN_SET,
                        "curveType": "ECDSA",
                        "aggregatorAddress": aggregator,
                        "operators": [],
                    },
                ],
            }
            for avs in avss
        ],
    }


def new_task_id() -> str:
    return "0x" + secrets.token_hex(32)


def with_fields(submission: executor_pb2.TaskSubmission, **fields: object) -> executor_pb2.TaskSubmission:
    """A copy of `submission` with `fields` changed after signing (to test refusals)."""
    copy = executor_pb2.TaskSubmission()
    copy.CopyFrom(submission)
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy


class ResultInvalid(AssertionError):
    """A TaskResult that an aggregator would reject; the message says why."""


class TestAggregator:
    __test__ = False  # not a pytest class

    def __init__(
        self, chain: StaticChainReader, *, signer: EcdsaSigner = AGGREGATOR, executor: str = EXECUTOR.address
    ) -> None:
        self.chain = chain
        self.signer = signer
        self.executor = executor

    def submission(
        self,
        payload: bytes,
        *,
        avs: str = AVS,
        task_id: str | None = None,
        operator_set_id: int = ECDSA_SET,
        reference_timestamp: int | None = None,
        task_block_number: int = 1234,
        executor_address: str | None = None,
        version: int = 1,
        signer: EcdsaSigner | None = None,
    ) -> executor_pb2.TaskSubmission:
        """A signed TaskSubmission (`signer` replaces the aggregator's key, to test bad signatures)."""
        task_id = task_id or new_task_id()
        executor_address = executor_address or self.executor
        reference_timestamp = reference_timestamp if reference_timestamp is not None else int(time.time())
        digest = aggregator_digest(
            task_id, avs, executor_address, operator_set_id, reference_timestamp, task_block_number, payload
        )
        return executor_pb2.TaskSubmission(
            task_id=task_id,
            aggregator_address=self.signer.address,
            avs_address=avs,
            payload=payload,
            signature=(signer or self.signer).sign_digest(digest),
            operator_set_id=operator_set_id,
            reference_timestamp=reference_timestamp,
            executor_address=executor_address,
            task_block_number=task_block_number,
            version=version,
        )

    def verify(
        self,
        submission: executor_pb2.TaskSubmission,
        result: executor_pb2.TaskResult,
        *,
        signer_address: str = EXECUTOR.address,
    ) -> None:
        """Raises ResultInvalid unless `result` answers `submission` and both signatures recover to
        `signer_address` (the executor's signing key)."""
        expected = {
            "task_id": submission.task_id,
            "avs_address": submission.avs_address.lower(),
            "operator_set_id": submission.operator_set_id,
            "version": 1,
        }
        for name, value in expected.items():
            if getattr(result, name) != value:
                raise ResultInvalid(f"result {name} is {getattr(result, name)!r}, expected {value!r}")
        if not addresses_equal(result.operator_address, self.executor):
            raise ResultInvalid(f"result operator_address {result.operator_address} is not {self.executor}")
        message_hash = result_message_hash(result.task_id, result.output)
        digest = self.chain.certificate_digest(
            ECDSA, result.avs_address, result.operator_set_id, submission.reference_timestamp, message_hash
        )
        if not addresses_equal(recover_address(digest, result.result_signature), signer_address):
            raise ResultInvalid("result_signature does not recover to the executor's signing key")
        auth = auth_digest(
            result.task_id,
            result.avs_address,
            result.operator_address,
            result.operator_set_id,
            result.result_signature,
        )
        if not addresses_equal(recover_address(auth, result.auth_signature), signer_address):
            raise ResultInvalid("auth_signature does not recover to the executor's signing key")
