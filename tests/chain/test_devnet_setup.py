"""The devnet's registrations as the executor and aggregator read them (contract §5), its operator-table
transport, the state cache, Anvil stop/restart, and the command line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import requests
from hourglass_executor.signing import bn254

from hack.devnet import merkle
from hack.devnet.devnet import Devnet, cached_deployment
from hack.devnet.rpc import RevertError
from hack.devnet.toolchain import install
from hack.devnet.transport import operator_table_leaf
from tests.support.chain import ecdsa_certificate
from tests.support.paths import REPO

pytestmark = pytest.mark.smoke  # checks the test environment, not the product

CURVES = {"ECDSA": 1, "BN254": 2}


def _operator_sets(devnet: Devnet):
    for entry in devnet.manifest["avss"]:
        for operator_set in (entry["aggregatorOperatorSet"], *entry["executorOperatorSets"]):
            yield entry, operator_set


def test_avs_registrations_are_what_the_executor_reads(devnet: Devnet):
    allocation = devnet.contract("allocationManager")
    key_registrar = devnet.contract("keyRegistrar")
    call = devnet.rpc.call
    for entry in devnet.manifest["avss"]:
        avs = entry["address"]
        assert call(allocation.functions.getAVSRegistrar(avs)) == entry["registrar"]
        registrar = devnet.registrar(avs)
        assert call(registrar.functions.getAVS()) == avs
        assert call(registrar.functions.supportsAVS(avs))
        executor_ids = [s["id"] for s in entry["executorOperatorSets"]]
        assert call(registrar.functions.getAvsConfig()) == (entry["aggregatorOperatorSetId"], executor_ids)
        assert entry["aggregatorOperatorSet"]["curve"] == entry["aggregatorCurve"]

    stranger = devnet.manifest["accounts"]["stranger"]["address"]
    for entry, operator_set in _operator_sets(devnet):
        key = (entry["address"], operator_set["id"])
        assert call(key_registrar.functions.getOperatorSetCurveType(key)) == CURVES[operator_set["curve"]]
        (member,) = operator_set["members"]
        assert call(allocation.functions.getMembers(key)) == [member["operator"]]
        if operator_set["curve"] == "ECDSA":
            assert (
                call(key_registrar.functions.getECDSAAddress(key, member["operator"]))
                == member["ecdsaAddress"]
            )
            assert call(key_registrar.functions.getECDSAAddress(key, stranger)) == "0x" + "00" * 20
        else:
            g1, g2 = call(key_registrar.functions.getBN254Key(key, member["operator"]))
            private_key = bytes.fromhex(member["bn254Key"][2:])
            assert bn254.g1_from_solidity(*g1) == bn254.public_key_g1(private_key)
            assert bn254.g2_from_solidity(*g2) == bn254.public_key_g2(private_key)
            assert call(key_registrar.functions.getBN254Key(key, stranger))[0] == (0, 0)


def test_executor_sets_have_task_configs_and_tables(devnet: Devnet):
    mailbox = devnet.contract("taskMailbox")
    transport = devnet.manifest["transport"]
    for entry in devnet.manifest["avss"]:
        for operator_set in entry["executorOperatorSets"]:
            key = (entry["address"], operator_set["id"])
            config = devnet.rpc.call(mailbox.functions.getExecutorOperatorSetTaskConfig(key))
            assert config[0] == entry["taskHook"]
            assert config[1] == operator_set["taskSLA"]
            assert config[3] == CURVES[operator_set["curve"]]
            verifier = devnet.contract(
                "ecdsaCertificateVerifier" if operator_set["curve"] == "ECDSA" else "bn254CertificateVerifier"
            )
            assert devnet.rpc.call(verifier.functions.getOperatorSetOwner(key)) == entry["address"]
            assert (
                devnet.rpc.call(verifier.functions.latestReferenceTimestamp(key))
                >= transport["referenceTimestamp"]
            )


def test_the_latest_tables_can_be_read_at_their_reference_block(fresh_devnet: Devnet):
    # The Go aggregator reads a set's operator infos at the latest table update's reference block;
    # a chain loaded from the cache has no history before the load, so `up` must transport in-run.
    transport = fresh_devnet.manifest["transport"]
    registry = fresh_devnet.contract("crossChainRegistry")
    for operator_set in transport["operatorSets"]:
        key = (operator_set["avs"], operator_set["id"])
        table = fresh_devnet.rpc.call(
            registry.functions.calculateOperatorTableBytes(key), block=transport["referenceBlock"]
        )
        assert table


def test_update_socket(devnet: Devnet):
    executor = devnet.manifest["accounts"]["executor"]["address"]
    avs = devnet.manifest["avss"][0]["address"]
    registrar = devnet.registrar(avs)

    devnet.update_socket(executor, "127.0.0.1:9191", avs)
    assert devnet.rpc.call(registrar.functions.getOperatorSocket(executor)) == "127.0.0.1:9191"

    stranger = devnet.manifest["accounts"]["stranger"]["address"]
    with pytest.raises(RevertError) as rejected:
        devnet.rpc.transact(stranger, registrar.functions.updateSocket(executor, "elsewhere:1"))
    assert rejected.value.error == "Unauthorized()"


def test_transport_gives_later_tasks_a_new_reference_timestamp(fresh_devnet: Devnet):
    devnet = fresh_devnet
    avs = devnet.manifest["avss"][0]["address"]
    before = devnet.create_task(avs, 1, b"before")
    updater = devnet.contract("operatorTableUpdater")
    registry = devnet.contract("crossChainRegistry")

    transport = devnet.transport_operator_tables()

    assert transport.reference_timestamp > before.reference_timestamp
    assert devnet.manifest["transport"]["referenceTimestamp"] == transport.reference_timestamp
    call = devnet.rpc.call
    assert call(updater.functions.getCurrentGlobalTableRoot()) == transport.global_table_root
    assert call(updater.functions.getReferenceBlockNumberByTimestamp(transport.reference_timestamp)) == (
        transport.reference_block
    )
    tables = [
        call(registry.functions.calculateOperatorTableBytes(s), block=transport.reference_block)
        for s in transport.operator_sets
    ]
    leaves = [operator_table_leaf(t) for t in tables]
    assert leaves == [call(updater.functions.calculateOperatorTableLeaf(t)) for t in tables]
    assert merkle.root(leaves) == transport.global_table_root
    after = devnet.create_task(avs, 2, b"after")
    assert after.reference_timestamp == transport.reference_timestamp

    # A task keeps the reference timestamp it was created with; only that one verifies.
    executor_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs]["ecdsaKey"]
    stale = ecdsa_certificate(devnet, before, b"ok", executor_key)
    moved = ecdsa_certificate(
        devnet,
        dataclasses.replace(before, reference_timestamp=transport.reference_timestamp),
        b"ok",
        executor_key,
    )
    with pytest.raises(RevertError) as rejected:
        devnet.submit_result(before.task_hash, moved, b"ok")
    assert rejected.value.error == "InvalidReferenceTimestamp()"
    devnet.submit_result(before.task_hash, stale, b"ok")
    assert devnet.task_status(before.task_hash) == "VERIFIED"


def test_a_task_past_its_sla_expires_and_takes_no_result(fresh_devnet: Devnet):
    devnet = fresh_devnet
    avs = devnet.manifest["avss"][0]["address"]
    devnet.set_task_sla(avs, 1, 1)
    task = devnet.create_task(avs, 1, b"too slow")
    assert task.task_deadline == devnet.rpc.w3.eth.get_block(task.block_number)["timestamp"] + 1

    devnet.wait_for_block_after(task.task_deadline)
    assert devnet.task_status(task.task_hash) == "EXPIRED"
    executor_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs]["ecdsaKey"]
    with pytest.raises(RevertError) as rejected:
        devnet.submit_result(task.task_hash, ecdsa_certificate(devnet, task, b"late", executor_key), b"late")
    assert rejected.value.error == "InvalidTaskStatus(1, 3)"  # expected CREATED, is EXPIRED


def test_state_cache_gives_every_instance_the_same_deployment(devnet: Devnet, fresh_devnet: Devnet):
    cached = cached_deployment(install())
    deployment = json.loads((cached / "deployment.json").read_text())
    for instance in (devnet, fresh_devnet):
        assert instance.manifest["contracts"] == deployment["contracts"]
        assert instance.manifest["avss"] == deployment["avss"]
    assert fresh_devnet.rpc_url != devnet.rpc_url
    mailbox = fresh_devnet.contract("taskMailbox")
    assert fresh_devnet.rpc.w3.eth.get_code(mailbox.address)


def test_anvil_stop_and_restart_keep_the_chain(fresh_devnet: Devnet):
    devnet = fresh_devnet
    avs = devnet.manifest["avss"][0]["address"]
    task = devnet.create_task(avs, 1, b"survives the outage")
    mailbox = devnet.contract("taskMailbox")

    devnet.stop_anvil()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            devnet.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=5
        )
    devnet.restart_anvil()

    assert devnet.rpc.w3.eth.block_number >= task.block_number
    assert devnet.task_status(task.task_hash) == "CREATED"
    info = devnet.rpc.call(mailbox.functions.getTaskInfo(task.task_hash), block=task.block_number)
    assert info[0] == task.creator  # reads at the task's block still work
    executor_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs]["ecdsaKey"]
    devnet.submit_result(task.task_hash, ecdsa_certificate(devnet, task, b"ok", executor_key), b"ok")
    assert devnet.task_status(task.task_hash) == "VERIFIED"


def test_command_line_up_status_manifest_down(tmp_path):
    state_dir = tmp_path / "cli"
    env = {**os.environ, "PYTHON": sys.executable}
    script = REPO / "hack" / "devnet" / "devnet.sh"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(script), *args, "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    up = run("up")
    try:
        assert up.returncode == 0, up.stderr
        manifest_path = up.stdout.strip()
        manifest = json.loads((state_dir / "manifest.json").read_text())
        assert manifest_path == str(state_dir / "manifest.json")
        assert "TEST KEYS ONLY" in manifest["note"]
        status = run("status")
        assert status.returncode == 0 and status.stdout.startswith("running: " + manifest["rpcUrl"])
        assert json.loads(run("manifest").stdout) == manifest
        chain_id = requests.post(
            manifest["rpcUrl"], json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        ).json()["result"]
        assert int(chain_id, 16) == 31337
        again = run("up")
        assert again.returncode == 0 and "already running" in again.stderr
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert run("status").returncode == 3
