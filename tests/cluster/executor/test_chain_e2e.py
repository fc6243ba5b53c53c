"""The whole task flow on this machine: a task created on the TaskMailbox of a real chain (the devnet's
Anvil with the EigenLayer contracts, hack/devnet) → the test aggregator (hack/aggregator: TaskCreated,
the operator set read at the task's block, a signed TaskSubmission to the executor's socket) → the
executor process in Kubernetes mode (chain.type rpc at the devnet, signing keys from keystore files)
→ its performer, a Performer the operator process made Ready (served by a local echo performer
process: pods run nothing under kwok) → the signed result → the aggregator's certificate →
submitResult → TaskVerified on chain.

The devnet's AVS 1 has a BN254 aggregator set and an ECDSA (1) and a BN254 (2) executor set; AVS 2 an
ECDSA aggregator set and an ECDSA executor set. The KeyRegistrar takes each key in one set only, so
the executor operator signs AVS 2's set with a second ECDSA key: a second executor process serves
AVS 2. Refusals get the contract's status codes (§4; executor/README.md) and the performer runs every
task exactly once (its task log, tests.support.local_performers.executions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hourglass_executor.signing import bn254

from hack.aggregator.dispatch import Attempt, Delivery
from hack.aggregator.manifest import aggregator_from_manifest
from hack.devnet.devnet import Devnet
from tests.support.aggregator import with_fields
from tests.support.executor_process import ExecutorProcess, kubernetes_config
from tests.support.keystores import bn254_keystore, ecdsa_keystore, write_keystore
from tests.support.local_performers import echo, executions
from tests.support.performers import GROUP, PLURAL, VERSION

pytestmark = pytest.mark.chain

BN254_PASSWORD_ENV = "BN254_KEYSTORE_PASSWORD"
GIVE_UP_AFTER = 90.0  # seconds the aggregator retries UNAVAILABLE (the executor may still be starting)


def avs_with_aggregator(devnet: Devnet, curve: str) -> dict:
    return next(entry for entry in devnet.manifest["avss"] if entry["aggregatorCurve"] == curve)


def chain_executor(
    executors,
    cluster,
    namespace: str,
    devnet: Devnet,
    avs: str,
    work_dir: Path,
    *,
    bn254_key: bool,
    name: str,
) -> tuple[ExecutorProcess, dict[str, Any]]:
    """Starts an executor for `avs` reading the devnet over JSON-RPC, with the executor operator's
    signing keys for that AVS in keystore files (ECDSA: v3, password from a file; BN254: EIP-2335,
    password from the environment); registers its socket in the AVS's registrar."""
    executor = devnet.manifest["accounts"]["executor"]
    keys = work_dir / f"keys-{name}"
    keys.mkdir()
    ecdsa_password, bn254_password = f"ecdsa {name} pässword", f"bn254 {name} password"
    (keys / "ecdsa.password").write_text(ecdsa_password + "\n")
    signing_keys: dict[str, Any] = {
        "ecdsa": {
            "keystoreFile": str(
                write_keystore(
                    keys / "ecdsa.json",
                    ecdsa_keystore(executor["ecdsaKeysByAvs"][avs]["ecdsaKey"], ecdsa_password),
                )
            ),
            "passwordFile": str(keys / "ecdsa.password"),
        }
    }
    if bn254_key:
        key = bytes.fromhex(executor["bn254Key"].removeprefix("0x"))
        signing_keys["bls"] = {
            "keystoreFile": str(write_keystore(keys / "bn254.json", bn254_keystore(key, bn254_password))),
            "passwordEnv": BN254_PASSWORD_ENV,
        }
    config = kubernetes_config(
        work_dir,
        cluster.kubeconfig,
        namespace,
        executorId=f"chain-e2e-{name}",
        operator={
            "address": executor["address"],
            "operatorPrivateKey": {"privateKey": executor["privateKey"]},
            "signingKeys": signing_keys,
        },
        l1Chain={"rpcUrl": devnet.rpc_url, "chainId": devnet.manifest["chainId"]},
        chain={
            "type": "rpc",
            "contracts": devnet.executor_contracts,
            "timeout": "3s",
            "retries": 1,
        },
    )
    config["avsPerformers"][0]["avsAddress"] = avs
    process = executors(config, env={BN254_PASSWORD_ENV: bn254_password})
    devnet.update_socket(executor["address"], f"127.0.0.1:{config['grpcPort']}", avs=avs)
    return process, {"passwords": (ecdsa_password, bn254_password)}


def listening(process: ExecutorProcess) -> dict:
    return next(entry for entry in process.log_entries() if entry.get("msg") == "listening")


def refusals(process: ExecutorProcess, task_id: str) -> list[str]:
    return [
        entry["code"]
        for entry in process.log_entries()
        if entry.get("msg") == "task refused" and entry.get("task_id") == task_id
    ]


def test_tasks_on_ecdsa_and_bn254_sets_go_from_task_created_to_task_verified(
    cluster, custom, core, namespace, executors, performers_dir, devnet, tmp_path
):
    avs_1 = avs_with_aggregator(devnet, "BN254")["address"]  # executor sets 1 (ECDSA) and 2 (BN254)
    avs_2 = avs_with_aggregator(devnet, "ECDSA")["address"]  # executor set 1 (ECDSA)
    first, first_info = chain_executor(
        executors, cluster, namespace, devnet, avs_1, tmp_path, bn254_key=True, name="avs1"
    )
    second, second_info = chain_executor(
        executors, cluster, namespace, devnet, avs_2, tmp_path, bn254_key=False, name="avs2"
    )
    first.wait_serving(timeout=150)
    second.wait_serving(timeout=150)
    aggregator = aggregator_from_manifest(devnet.manifest)

    runs = {}
    for avs, set_id in ((avs_1, 1), (avs_1, 2), (avs_2, 1)):
        task = devnet.create_task(avs, set_id, echo(f"set {set_id} of {avs}"))
        runs[(avs, set_id)] = (task, aggregator.run(task, give_up_after=GIVE_UP_AFTER))

    curves = {(avs_1, 1): ("BN254", "ECDSA"), (avs_1, 2): ("BN254", "BN254"), (avs_2, 1): ("ECDSA", "ECDSA")}
    for (avs, set_id), (task, run) in runs.items():
        data = f"set {set_id} of {avs}".encode()
        assert (run.plan.aggregator_curve, run.plan.curve) == curves[(avs, set_id)]
        [delivery] = run.deliveries
        assert delivery.codes == ["OK"] and delivery.problem is None
        assert delivery.result.output == data
        assert run.certificate.curve == run.plan.curve and run.certificate.signers == (
            delivery.operator.address,
        )
        verified = run.verified
        assert verified.task_hash == task.task_hash and verified.result == data
        assert verified.aggregator == devnet.manifest["accounts"]["aggregator"]["address"]
        assert verified.executor_operator_set_id == set_id
        assert devnet.task_status(task.task_hash) == "VERIFIED"
    # Each task ran once on a performer, and nothing else ran.
    assert executions(performers_dir) == {task.task_id: 1 for task, _ in runs.values()}

    # The keys came from the keystores (the executors name their public keys, never a secret).
    executor_keys = devnet.manifest["accounts"]["executor"]
    bn254_g1 = bn254.public_key_g1(bytes.fromhex(executor_keys["bn254Key"].removeprefix("0x")))
    assert listening(first)["signers"] == {
        "ECDSA": executor_keys["ecdsaKeysByAvs"][avs_1]["ecdsaAddress"],
        "BN254": "0x" + bn254_g1.hex(),
    }
    assert listening(second)["signers"] == {"ECDSA": executor_keys["ecdsaKeysByAvs"][avs_2]["ecdsaAddress"]}
    for process, info in ((first, first_info), (second, second_info)):
        log = "\n".join(process.log_lines())
        assert not any(password in log for password in info["passwords"])
        assert devnet.rpc_url not in log

    # Each executor deployed its performer as a Performer the operator made Ready, with its pod.
    performers = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    by_executor = {p["metadata"]["labels"]["hourglass.eigenlayer.io/executor"]: p for p in performers}
    assert sorted(by_executor) == ["chain-e2e-avs1", "chain-e2e-avs2"]
    for executor_id, avs in (("chain-e2e-avs1", avs_1), ("chain-e2e-avs2", avs_2)):
        performer = by_executor[executor_id]
        assert performer["spec"]["avsAddress"] == avs and performer["status"]["ready"] is True
        pod = core.read_namespaced_pod(performer["status"]["podName"], namespace)
        assert pod.metadata.owner_references[0].name == performer["metadata"]["name"]


def test_a_non_member_aggregator_and_tampered_submissions_are_refused_and_the_task_runs_once(
    cluster, namespace, executors, performers_dir, devnet, tmp_path
):
    avs = avs_with_aggregator(devnet, "BN254")["address"]
    process, _ = chain_executor(
        executors, cluster, namespace, devnet, avs, tmp_path, bn254_key=True, name="avs1"
    )
    process.wait_serving(timeout=150)
    aggregator = aggregator_from_manifest(devnet.manifest)
    stranger = aggregator_from_manifest(devnet.manifest, "stranger")  # a member of no aggregator set
    task = devnet.create_task(avs, 2, echo("refused three times, then run once"))
    plan = aggregator.plan(task)
    [operator] = plan.operators
    good = aggregator.submission(plan, operator)
    forged = bytearray(good.signature)
    forged[-1] ^= 0x01

    outcomes = {
        "non-member aggregator": stranger.dispatch(plan, give_up_after=GIVE_UP_AFTER),
        "tampered payload": aggregator.dispatch(
            plan,
            submissions={operator.address: with_fields(good, payload=echo("not the task's payload"))},
            give_up_after=GIVE_UP_AFTER,
        ),
        "tampered signature": aggregator.dispatch(
            plan,
            submissions={operator.address: with_fields(good, signature=bytes(forged))},
            give_up_after=GIVE_UP_AFTER,
        ),
    }
    for case, [delivery] in outcomes.items():
        # The executor may answer UNAVAILABLE while it deploys its performer; then the final answer.
        assert delivery.codes[-1] == "UNAUTHENTICATED", (case, delivery.attempts)
        assert set(delivery.codes[:-1]) <= {"UNAVAILABLE"}, (case, delivery.attempts)
        assert delivery.result is None
    [stranger_refusal] = outcomes["non-member aggregator"]
    assert "is not registered in aggregator operator set 0" in stranger_refusal.attempts[-1].details
    assert executions(performers_dir) == {}  # nothing ran, nothing was claimed

    deliveries = aggregator.dispatch(plan, give_up_after=GIVE_UP_AFTER)
    verified = aggregator.submit(plan, aggregator.certificate(plan, deliveries))

    again = aggregator.dispatch(plan, give_up_after=GIVE_UP_AFTER)  # a retry of the finished task

    assert [d.codes for d in deliveries] == [["OK"]]
    assert verified.result == b"refused three times, then run once"
    assert devnet.task_status(task.task_hash) == "VERIFIED"
    assert [d.codes for d in again] == [["OK"]]
    assert again[0].result.SerializeToString() == deliveries[0].result.SerializeToString()  # the stored one
    assert executions(performers_dir) == {task.task_id: 1}
    assert refusals(process, task.task_id).count("UNAUTHENTICATED") == 3


def test_an_rpc_outage_mid_task_is_unavailable_and_the_retry_after_it_runs_the_task_once(
    cluster, namespace, executors, performers_dir, fresh_devnet, tmp_path
):
    devnet = fresh_devnet
    avs = avs_with_aggregator(devnet, "BN254")["address"]
    process, _ = chain_executor(
        executors, cluster, namespace, devnet, avs, tmp_path, bn254_key=True, name="avs1"
    )
    process.wait_serving(timeout=150)
    aggregator = aggregator_from_manifest(devnet.manifest)
    task = devnet.create_task(avs, 1, echo("through an RPC outage"))
    plan = aggregator.plan(task)  # the aggregator's reads, before the outage

    devnet.stop_anvil()
    refused: list[Attempt] = []

    def bring_the_chain_back(delivery: Delivery, attempt: Attempt) -> None:
        refused.append(attempt)
        if attempt.code == "UNAVAILABLE" and not devnet.running():
            assert executions(performers_dir) == {}  # refused before the performer
            devnet.restart_anvil()

    deliveries = aggregator.dispatch(plan, on_refused=bring_the_chain_back, give_up_after=GIVE_UP_AFTER)
    verified = aggregator.submit(plan, aggregator.certificate(plan, deliveries))

    [delivery] = deliveries
    assert delivery.codes[-1] == "OK" and set(delivery.codes[:-1]) == {"UNAVAILABLE"}, delivery.attempts
    assert any("chain read failed" in attempt.details for attempt in refused), refused
    assert verified.result == b"through an RPC outage"
    assert devnet.task_status(task.task_hash) == "VERIFIED"
    assert executions(performers_dir) == {task.task_id: 1}
    assert "UNAVAILABLE" in refusals(process, task.task_id)
