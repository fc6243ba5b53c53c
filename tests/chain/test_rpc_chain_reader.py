"""The JSON-RPC chain reader against the real chain: the devnet's Anvil with the EigenLayer contracts
deployed from scratch (hack/devnet), no Kubernetes. Every read is compared with what the contracts
answer or what the devnet registered: AVS configs, operator-set members and their keys, reads at an
older block, the message hash and both certificate digests (the ECDSA one under the verifier's own
domain separator), an RPC outage and the recovery after it, and SubmitTask end to end on a task
created on chain (ECDSA and BN254 operator sets, BN254 and ECDSA aggregators). Fixtures:
tests/support/chain.py (through tests/chain/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2
from hourglass_executor.chain import (
    AvsConfig,
    ChainReaderError,
    OperatorNotRegisteredError,
    UnknownOperatorSetError,
)
from hourglass_executor.chain.rpc import RpcChainReader
from hourglass_executor.server import components
from hourglass_executor.signing import BN254, ECDSA, EcdsaSigner, bn254, keccak256, recover_address
from hourglass_executor.signing.bn254 import Bn254Signer
from hourglass_executor.signing.layouts import (
    aggregator_digest,
    auth_digest,
    bn254_certificate_digest,
    eip712_domain_separator,
)
from hourglass_executor.task_signing import aggregator_member

from tests.support.executor_harness import config_data, running_executor, task_stub
from tests.support.local_backend import LocalBackend

CONTRACT_KEYS = (
    "allocationManager",
    "keyRegistrar",
    "taskMailbox",
    "bn254CertificateVerifier",
    "ecdsaCertificateVerifier",
)


@pytest.fixture
def manifest(devnet):
    return devnet.manifest


def contracts(manifest) -> dict[str, str]:
    return {key: manifest["contracts"][key] for key in CONTRACT_KEYS}


def reader(manifest, **settings) -> RpcChainReader:
    return RpcChainReader(
        manifest["rpcUrl"], contracts(manifest), **{"timeout": 5.0, "retries": 2, **settings}
    )


def run(scenario):
    return asyncio.run(scenario())


def avs_entry(manifest, aggregator_curve: str) -> dict:
    return next(a for a in manifest["avss"] if a["aggregatorCurve"] == aggregator_curve)


def member_of(entry: dict, set_id: int) -> dict:
    sets = [entry["aggregatorOperatorSet"], *entry["executorOperatorSets"]]
    return next(s for s in sets if s["id"] == set_id)["members"][0]


def latest_block(devnet) -> int:
    return devnet.rpc.w3.eth.block_number


def test_avs_configs_are_the_registrars(devnet, manifest):
    block = latest_block(devnet)

    async def scenario():
        rpc = reader(manifest)
        try:
            return [await rpc.avs_config(entry["address"], block) for entry in manifest["avss"]]
        finally:
            await rpc.close()

    configs = run(scenario)
    expected = [
        AvsConfig(entry["aggregatorOperatorSetId"], tuple(s["id"] for s in entry["executorOperatorSets"]))
        for entry in manifest["avss"]
    ]
    assert configs == expected


def test_members_and_their_keys_are_the_registered_ones(devnet, manifest):
    block = latest_block(devnet)
    bn254_avs = avs_entry(manifest, BN254)  # aggregator set BN254; executor sets ECDSA (1) and BN254 (2)
    ecdsa_avs = avs_entry(manifest, ECDSA)
    executor = manifest["accounts"]["executor"]["address"]
    aggregator = manifest["accounts"]["aggregator"]["address"]

    async def scenario():
        rpc = reader(manifest)
        try:
            return (
                await rpc.operator_set_member(bn254_avs["address"], 1, executor, block),
                await rpc.operator_set_member(bn254_avs["address"], 2, executor, block),
                await aggregator_member(rpc, bn254_avs["address"], aggregator, block),
                await aggregator_member(rpc, ecdsa_avs["address"], aggregator, block),
            )
        finally:
            await rpc.close()

    ecdsa_member, bn254_member, bn254_aggregator, ecdsa_aggregator = run(scenario)
    assert (ecdsa_member.operator, ecdsa_member.curve_type) == (executor.lower(), ECDSA)
    assert ecdsa_member.ecdsa_address == member_of(bn254_avs, 1)["ecdsaAddress"].lower()
    executor_key = bytes.fromhex(member_of(bn254_avs, 2)["bn254Key"][2:])
    assert bn254_member.curve_type == BN254
    assert bn254_member.bn254_g1 == bn254.public_key_g1(executor_key)
    assert bn254_member.bn254_g2 == bn254.public_key_g2(executor_key)
    aggregator_key = bytes.fromhex(member_of(bn254_avs, 0)["bn254Key"][2:])
    assert (bn254_aggregator.curve_type, bn254_aggregator.bn254_g2) == (
        BN254,
        bn254.public_key_g2(aggregator_key),
    )
    assert ecdsa_aggregator.ecdsa_address == member_of(ecdsa_avs, 0)["ecdsaAddress"].lower()


def test_unknown_sets_unregistered_operators_and_avss_without_registrar(devnet, manifest):
    block = latest_block(devnet)
    avs = manifest["avss"][0]["address"]
    stranger = manifest["accounts"]["stranger"]["address"]
    executor = manifest["accounts"]["executor"]["address"]

    async def scenario():
        rpc = reader(manifest)
        outcomes = []
        for args in (
            (avs, 1, stranger),
            (avs, 2, stranger),
            (avs, 9, executor),
            ("0x" + "5a" * 20, 1, executor),
        ):
            try:
                await rpc.operator_set_member(*args, block)
            except ChainReaderError as error:
                outcomes.append(error)
        await rpc.close()
        return outcomes

    no_ecdsa, no_bn254, no_set, no_registrar = run(scenario)
    assert isinstance(no_ecdsa, OperatorNotRegisteredError) and "has no ECDSA key" in str(no_ecdsa)
    assert isinstance(no_bn254, OperatorNotRegisteredError) and "has no BN254 key" in str(no_bn254)
    assert isinstance(no_set, UnknownOperatorSetError) and "has no curve type" in str(no_set)
    assert isinstance(no_registrar, UnknownOperatorSetError) and "has no task registrar" in str(no_registrar)


def test_reads_at_an_older_block_return_the_older_value(devnet, manifest):
    avs = manifest["avss"][1]["address"]
    executor = manifest["accounts"]["executor"]["address"]
    before = latest_block(devnet)
    socket = f"executor.example:{int(time.time()) % 60000}"
    devnet.update_socket(executor, socket, avs)
    after = latest_block(devnet)
    assert after > before

    async def scenario():
        rpc = reader(manifest)
        try:
            old = await rpc.operator_set_member(avs, 1, executor, before)
            new = await rpc.operator_set_member(avs, 1, executor, after)
            latest = await rpc.operator_set_member(avs, 1, executor, 0)
            return old.socket, new.socket, latest.socket
        finally:
            await rpc.close()

    old, new, latest = run(scenario)
    assert old != socket
    assert new == latest == socket


def test_message_hash_and_certificate_digests_equal_the_contracts(devnet, manifest):
    task_id = "0x" + keccak256(b"a task").hex()
    output = b'{"result": 42}'
    reference_timestamp = manifest["transport"]["referenceTimestamp"]
    ecdsa_verifier = devnet.contract("ecdsaCertificateVerifier")
    bn254_verifier = devnet.contract("bn254CertificateVerifier")

    async def scenario():
        rpc = reader(manifest)
        try:
            message_hash = await rpc.message_hash(task_id, output)
            digests = {
                curve: await rpc.certificate_digest(curve, reference_timestamp, message_hash)
                for curve in (ECDSA, BN254)
            }
            return message_hash, digests, await rpc.domain_separator(), dict(rpc._local_ok)
        finally:
            await rpc.close()

    message_hash, digests, separator, verdicts = run(scenario)
    assert message_hash == devnet.message_hash(bytes.fromhex(task_id[2:]), output)
    digest_bytes = devnet.rpc.call(
        ecdsa_verifier.functions.calculateCertificateDigestBytes(reference_timestamp, message_hash)
    )
    assert digests[ECDSA] == keccak256(digest_bytes)
    assert digests[ECDSA] == devnet.rpc.call(
        ecdsa_verifier.functions.calculateCertificateDigest(reference_timestamp, message_hash)
    )
    assert digests[BN254] == devnet.rpc.call(
        bn254_verifier.functions.calculateCertificateDigest(reference_timestamp, message_hash)
    )
    assert digests[BN254] == bn254_certificate_digest(reference_timestamp, message_hash)
    assert separator == devnet.rpc.call(ecdsa_verifier.functions.domainSeparator())
    # The verifier's domain is not the standard EIP-712 one with a chain id (contract §5).
    standard = eip712_domain_separator(
        "EigenLayer", "1", 31337, manifest["contracts"]["ecdsaCertificateVerifier"]
    )
    assert separator != standard
    assert set(verdicts.values()) == {True}  # every local computation matched its contract


def test_a_tasks_checks_take_three_round_trips_cold_and_none_warm(devnet, manifest):
    entry = avs_entry(manifest, BN254)
    executor = manifest["accounts"]["executor"]["address"]
    aggregator = manifest["accounts"]["aggregator"]["address"]
    block = latest_block(devnet)

    async def checks(rpc):
        started = time.perf_counter()
        await asyncio.gather(
            rpc.operator_set_member(entry["address"], 2, executor, block),
            aggregator_member(rpc, entry["address"], aggregator, block),
        )
        message_hash = await rpc.message_hash("0x" + "11" * 32, b"out")
        await rpc.certificate_digest(BN254, 1, message_hash)
        return time.perf_counter() - started

    async def scenario():
        rpc = reader(manifest)
        try:
            await rpc.message_hash("0x" + "22" * 32, b"warm-up")  # the one-time cross-checks
            await rpc.certificate_digest(BN254, 1, bytes(32))
            before = rpc.stats.http_requests
            cold = await checks(rpc)
            cold_requests = rpc.stats.http_requests - before
            warm = await checks(rpc)
            return cold_requests, rpc.stats.http_requests - before - cold_requests, cold, warm
        finally:
            await rpc.close()

    cold_requests, warm_requests, cold, warm = run(scenario)
    print(
        f"\ncold: {cold_requests} HTTP requests, {cold * 1000:.2f} ms; "
        f"warm: {warm_requests}, {warm * 1000:.2f} ms"
    )
    assert (cold_requests, warm_requests) == (3, 0)


def test_a_stopped_anvil_is_a_chain_error_within_the_timeout_and_the_reader_recovers(fresh_devnet):
    devnet, manifest = fresh_devnet, fresh_devnet.manifest
    avs = manifest["avss"][1]["address"]
    executor = manifest["accounts"]["executor"]["address"]
    block = latest_block(devnet)

    async def read(rpc):
        return await rpc.operator_set_member(avs, 1, executor, block)

    async def scenario():
        rpc = reader(manifest, timeout=3.0, retries=3)
        try:
            devnet.stop_anvil()
            started = time.monotonic()
            with pytest.raises(ChainReaderError) as failed:
                await read(rpc)
            took = time.monotonic() - started
            devnet.restart_anvil()
            return failed.value, took, await read(rpc)
        finally:
            if not devnet.running():
                devnet.restart_anvil()
            await rpc.close()

    error, took, member = run(scenario)
    assert "cannot connect to the RPC endpoint" in str(error)
    assert manifest["rpcUrl"] not in str(error)
    assert took < 3.0
    assert member.curve_type == ECDSA


# --- SubmitTask on a task created on chain -------------------------------------------------------


def executor_data(manifest, avs: str) -> dict:
    executor = manifest["accounts"]["executor"]
    return config_data(
        avss=(avs,),
        operator={
            "address": executor["address"],
            "operatorPrivateKey": {"privateKey": executor["privateKey"]},
            "signingKeys": {"ecdsa": {"privateKey": executor["ecdsaKeysByAvs"][avs]["ecdsaKey"]}},
        },
        l1Chain={"rpcUrl": manifest["rpcUrl"], "chainId": manifest["chainId"]},
        chain={"contracts": contracts(manifest)},
    )


def submission(manifest, entry: dict, task, signer) -> executor_pb2.TaskSubmission:
    executor = manifest["accounts"]["executor"]["address"]
    digest = aggregator_digest(
        task.task_id,
        entry["address"],
        executor,
        task.executor_operator_set_id,
        task.reference_timestamp,
        task.block_number,
        task.payload,
    )
    return executor_pb2.TaskSubmission(
        task_id=task.task_id,
        aggregator_address=manifest["accounts"]["aggregator"]["address"],
        avs_address=entry["address"],
        payload=task.payload,
        signature=signer.sign_digest(digest),
        operator_set_id=task.executor_operator_set_id,
        reference_timestamp=task.reference_timestamp,
        executor_address=executor,
        task_block_number=task.block_number,
        version=1,
    )


@pytest.mark.parametrize(
    ("aggregator_curve", "set_id"),
    [(BN254, 1), (BN254, 2), (ECDSA, 1)],
    ids=["bn254-agg-ecdsa-set", "bn254-agg-bn254-set", "ecdsa-agg-ecdsa-set"],
)
def test_submit_task_on_a_task_created_on_chain(devnet, manifest, aggregator_curve, set_id):
    from hourglass_executor.config import validate_config

    entry = avs_entry(manifest, aggregator_curve)
    accounts = manifest["accounts"]
    aggregator_key = member_of(entry, 0)
    aggregator_signer = (
        Bn254Signer(bytes.fromhex(aggregator_key["bn254Key"][2:]))
        if aggregator_curve == BN254
        else EcdsaSigner(aggregator_key["ecdsaKey"])
    )
    ecdsa_signer = EcdsaSigner(accounts["executor"]["ecdsaKeysByAvs"][entry["address"]]["ecdsaKey"])
    bn254_signer = Bn254Signer(bytes.fromhex(accounts["executor"]["bn254Key"][2:]))
    payload = json.dumps({"op": "echo", "data": f"on chain {set_id}"}).encode()
    task = devnet.create_task(entry["address"], set_id, payload)
    good = submission(manifest, entry, task, aggregator_signer)
    forged = submission(
        manifest, entry, task, Bn254Signer(bytes.fromhex(accounts["stranger"]["bn254Key"][2:]))
    )
    forged.aggregator_address = accounts["stranger"]["address"]

    async def scenario():
        config = validate_config(executor_data(manifest, entry["address"]))
        signers = {ECDSA: ecdsa_signer, BN254: bn254_signer}
        chain = components.build_chain(config)  # the RpcChainReader of chain.type rpc
        async with running_executor(config, LocalBackend(), chain=chain, signers=signers) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                try:
                    await stub.SubmitTask(forged, timeout=10)
                    refused = None
                except grpc.aio.AioRpcError as error:
                    refused = error
                started = time.perf_counter()
                result = await stub.SubmitTask(good, timeout=10)
                took = time.perf_counter() - started
        await chain.close()
        return refused, result, took

    refused, result, took = run(scenario)
    assert refused is not None and refused.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "is not registered in aggregator operator set 0" in refused.details()
    assert result.output == f"on chain {set_id}".encode() and result.task_id == task.task_id
    message_hash = devnet.message_hash(task.task_hash, result.output)
    auth = auth_digest(
        task.task_id, entry["address"], result.operator_address, set_id, result.result_signature
    )
    executor_set = member_of(entry, set_id)
    if "ecdsaAddress" in executor_set:
        verifier = devnet.contract("ecdsaCertificateVerifier")
        digest = devnet.rpc.call(
            verifier.functions.calculateCertificateDigest(task.reference_timestamp, message_hash)
        )
        assert (
            recover_address(digest, result.result_signature).lower() == executor_set["ecdsaAddress"].lower()
        )
        assert recover_address(auth, result.auth_signature).lower() == executor_set["ecdsaAddress"].lower()
    else:
        verifier = devnet.contract("bn254CertificateVerifier")
        digest = devnet.rpc.call(
            verifier.functions.calculateCertificateDigest(task.reference_timestamp, message_hash)
        )
        g2 = bn254.public_key_g2(bytes.fromhex(executor_set["bn254Key"][2:]))
        assert bn254.verify_solidity(g2, digest, result.result_signature)
        assert bn254.verify(g2, auth, result.auth_signature)
    print(f"\nSubmitTask on chain ({aggregator_curve} aggregator, set {set_id}): {took * 1000:.1f} ms")


def test_submit_task_while_the_rpc_is_down_is_unavailable_and_runs_once_after_it_is_back(fresh_devnet):
    from hourglass_executor.config import validate_config

    devnet, manifest = fresh_devnet, fresh_devnet.manifest
    entry = avs_entry(manifest, ECDSA)
    accounts = manifest["accounts"]
    task = devnet.create_task(entry["address"], 1, json.dumps({"op": "echo", "data": "outage"}).encode())
    good = submission(manifest, entry, task, EcdsaSigner(member_of(entry, 0)["ecdsaKey"]))
    signers = {ECDSA: EcdsaSigner(accounts["executor"]["ecdsaKeysByAvs"][entry["address"]]["ecdsaKey"])}
    backend = LocalBackend()

    async def scenario():
        data = executor_data(manifest, entry["address"])
        data["chain"].update(timeout="2s", retries=2)
        config = validate_config(data)
        chain = components.build_chain(config)
        async with running_executor(config, backend, chain=chain, signers=signers) as executor:
            channel, stub = task_stub(executor)
            async with channel:
                devnet.stop_anvil()
                started = time.monotonic()
                try:
                    await stub.SubmitTask(good, timeout=10)
                    down = None
                except grpc.aio.AioRpcError as error:
                    down = error
                took = time.monotonic() - started
                started_while_down = list(backend.tasks_started())
                devnet.restart_anvil()
                result = await stub.SubmitTask(good, timeout=10)
                again = await stub.SubmitTask(good, timeout=10)  # a retry: the stored result
        await chain.close()
        return down, took, started_while_down, result, again, backend.tasks_started()

    down, took, started_while_down, result, again, started = run(scenario)
    assert down is not None and down.code() is grpc.StatusCode.UNAVAILABLE, down
    assert "chain read failed" in down.details() and "cannot connect to the RPC endpoint" in down.details()
    assert manifest["rpcUrl"] not in down.details()
    assert took < 2.5
    assert started_while_down == []
    assert result.output == b"outage"
    assert again.SerializeToString() == result.SerializeToString()
    assert started == [task.task_id.encode()]
