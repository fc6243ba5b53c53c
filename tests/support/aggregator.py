"""A test aggregator: signs TaskSubmissions with the aggregator's ECDSA or BN254 key in the contract's
layout (§5) and checks the executor's TaskResults (the result signature over the certificate digest
of the static chain, and the auth signature), the way an aggregator would.

Also the static chain document tests and the demo use, and the well-known development keys. TEST
KEYS ONLY: the ECDSA keys are Anvil's public development accounts, the BN254 keys fixed test
scalars; never use them for anything real.
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain import StaticChainReader
from hourglass_executor.signing import BN254, ECDSA, EcdsaSigner, recover_address
from hourglass_executor.signing.address import addresses_equal
from hourglass_executor.signing.bn254 import Bn254Signer
from hourglass_executor.signing.layouts import (
    aggregator_digest,
    auth_digest,
    bn254_certificate_digest,
    ecdsa_certificate_digest,
    result_message_hash,
)
from hourglass_executor.signing.signer import Signer

# Anvil development accounts #0-#2 (public test keys).
EXECUTOR_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
AGGREGATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
STRANGER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
EXECUTOR = EcdsaSigner(EXECUTOR_KEY)
AGGREGATOR = EcdsaSigner(AGGREGATOR_KEY)
STRANGER = EcdsaSigner(STRANGER_KEY)
# BN254 test scalars (32 bytes big-endian, below the group order).
EXECUTOR_BN254_KEY = bytes.fromhex("0e1c2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7")
AGGREGATOR_BN254_KEY = bytes.fromhex("1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f801")
STRANGER_BN254_KEY = bytes.fromhex("05060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324")

AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
# The ECDSA certificate verifier's domainSeparator() in the static chain (any 32 bytes will do).
DOMAIN_SEPARATOR = bytes.fromhex("c3" * 32)
# Operator sets of each AVS in `chain_document`.
ECDSA_SET, BN254_SET, FOREIGN_SET, AGGREGATOR_SET = 0, 1, 2, 3


@functools.cache
def bn254_signer(key: bytes) -> Bn254Signer:
    """The Bn254Signer of a test key (built on first use: it needs the native library)."""
    return Bn254Signer(key)


def executor_signers() -> dict[str, Signer]:
    """The test executor's signers by curve."""
    return {ECDSA: EXECUTOR, BN254: bn254_signer(EXECUTOR_BN254_KEY)}


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


def _bn254_key(key: bytes) -> dict[str, str]:
    signer = bn254_signer(key)
    return {"g1": "0x" + signer.public_key_g1.hex(), "g2": "0x" + signer.public_key_g2.hex()}


def _member(address: str, curve: str, bn254_key: bytes, socket: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"address": address, "socket": socket}
    if curve == ECDSA:
        entry["ecdsaAddress"] = address
    else:
        entry["bn254"] = _bn254_key(bn254_key)
    return entry


def chain_document(
    avss: tuple[str, ...] = (AVS,),
    operator: str = EXECUTOR.address,
    aggregator: str = AGGREGATOR.address,
    aggregator_curve: str = ECDSA,
) -> dict[str, Any]:
    """A static chain file (hourglass_executor.chain.static format) where each AVS has operator
    sets 0 (ECDSA, `operator` a member), 1 (BN254, member), 2 (ECDSA, `operator` not a member)
    and 3, the aggregator's (`aggregator_curve`, `aggregator` a member)."""
    return {
        "chainId": CHAIN_ID,
        "ecdsaCertificateVerifier": {"domainSeparator": "0x" + DOMAIN_SEPARATOR.hex()},
        "avss": [
            {
                "address": avs,
                "aggregatorOperatorSetId": AGGREGATOR_SET,
                "executorOperatorSetIds": [ECDSA_SET, BN254_SET, FOREIGN_SET],
                "operatorSets": [
                    {
                        "id": ECDSA_SET,
                        "curveType": ECDSA,
                        "members": [_member(operator, ECDSA, EXECUTOR_BN254_KEY, "executor:9090")],
                    },
                    {
                        "id": BN254_SET,
                        "curveType": BN254,
                        "members": [_member(operator, BN254, EXECUTOR_BN254_KEY, "executor:9090")],
                    },
                    {"id": FOREIGN_SET, "curveType": ECDSA, "members": []},
                    {
                        "id": AGGREGATOR_SET,
                        "curveType": aggregator_curve,
                        "members": [_member(aggregator, aggregator_curve, AGGREGATOR_BN254_KEY)],
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
        self,
        chain: StaticChainReader,
        *,
        signer: Signer | None = None,
        executor: str = EXECUTOR.address,
        address: str = AGGREGATOR.address,
    ) -> None:
        """`signer` signs the submissions: the aggregator's ECDSA key by default; pass
        `bn254_signer(AGGREGATOR_BN254_KEY)` for a chain whose aggregator set is BN254."""
        self.chain = chain
        self.signer = signer or AGGREGATOR
        self.executor = executor
        self.address = address

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
        signer: Signer | None = None,
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
            aggregator_address=self.address,
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
        """Raises ResultInvalid unless `result` answers `submission` and both signatures are the
        executor's: ECDSA sets, they recover to `signer_address` (the executor's signing key);
        BN254 sets, they verify with the executor's G2 key in the static chain."""
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
        member = self.chain.lookup_member(result.avs_address, result.operator_set_id, self.executor)
        message_hash = result_message_hash(result.task_id, result.output)
        auth = auth_digest(
            result.task_id,
            result.avs_address,
            result.operator_address,
            result.operator_set_id,
            result.result_signature,
        )
        if member.curve_type == BN254:
            from hourglass_executor.signing import bn254

            assert member.bn254_g2 is not None
            digest = bn254_certificate_digest(submission.reference_timestamp, message_hash)
            if not bn254.verify_solidity(member.bn254_g2, digest, result.result_signature):
                raise ResultInvalid("result_signature does not verify with the executor's BN254 key")
            if not bn254.verify(member.bn254_g2, auth, result.auth_signature):
                raise ResultInvalid("auth_signature does not verify with the executor's BN254 key")
            return
        separator = self.chain.ecdsa_domain_separator
        assert separator is not None
        digest = ecdsa_certificate_digest(separator, submission.reference_timestamp, message_hash)
        if not addresses_equal(recover_address(digest, result.result_signature), signer_address):
            raise ResultInvalid("result_signature does not recover to the executor's signing key")
        if not addresses_equal(recover_address(auth, result.auth_signature), signer_address):
            raise ResultInvalid("auth_signature does not recover to the executor's signing key")
