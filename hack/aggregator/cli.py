"""Command line of the test aggregator (`python -m hack.aggregator`), for the demo and for trying an
executor against a chain by hand. Every step is printed.

    python -m hack.aggregator --manifest M create-task --avs 0 --operator-set 2 --payload '{"op": "echo"}'
    python -m hack.aggregator --manifest M run --from-block N [--count K] [--give-up-after S]
    python -m hack.aggregator --manifest M run --transaction 0x…   (the task of a createTask transaction)
    python -m hack.aggregator --manifest M block-number              (the latest block: a --from-block)

`--manifest` is a devnet manifest (hack/devnet/devnet.sh manifest; docs/devnet.md) or a JSON file of
that shape: rpcUrl, contracts, and the accounts `aggregator` (operator address, signing keys,
transaction key) and `taskCreator` (create-task only). `--avs` takes an address or the index of an
AVS in the manifest. Exit status 0 when every task was verified on chain, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hack.aggregator.aggregator import Aggregator
from hack.aggregator.certificate import Certificate, ThresholdNotMet
from hack.aggregator.chain import ChainError, TaskCreated, TaskVerified
from hack.aggregator.dispatch import Delivery
from hack.aggregator.manifest import aggregator_from_manifest, chain_view
from hack.aggregator.plan import PlanError, TaskPlan


def short(value: bytes | str, keep: int = 10) -> str:
    text = value if isinstance(value, str) else "0x" + value.hex()
    return text if len(text) <= 2 * keep + 3 else f"{text[: keep + 2]}…{text[-keep:]}"


def shown(output: bytes) -> str:
    try:
        text = output.decode("utf-8")
    except UnicodeDecodeError:
        return short(output)
    return repr(text) if text.isprintable() else short(output)


def print_task(task: TaskCreated) -> None:
    print(f"task {task.task_id}")
    print(
        f"  created: tx {short(task.transaction_hash)} in block {task.block_number}; AVS {task.avs}, "
        f"operator set {task.executor_operator_set_id}, payload {shown(task.payload)}, "
        f"reference timestamp {task.reference_timestamp}"
    )


def print_plan(plan: TaskPlan) -> None:
    print(
        f"  plan (read at block {plan.task.block_number}): executor operator set "
        f"{plan.task.executor_operator_set_id} ({plan.curve}), threshold {plan.threshold_bips} bps of weight "
        f"{plan.total_weight}; aggregator operator set {plan.aggregator_operator_set_id} "
        f"({plan.aggregator_curve}: submissions are signed with the {plan.aggregator_curve} key)"
    )
    for operator in plan.operators:
        key = operator.key.ecdsa_address or short(operator.key.bn254_g2 or b"")
        print(
            f"    executor {operator.address} at {operator.socket or '(no socket)'}: "
            f"{operator.key.curve} key {key}, weight {list(operator.weights)}"
        )
    for member, why in plan.skipped:
        print(f"    left out: {member}: {why}")


def print_deliveries(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        codes = delivery.codes
        retried = f" (after {', '.join(codes[:-1])})" if len(codes) > 1 else ""
        print(f"  SubmitTask to {delivery.operator.address}: {codes[-1] if codes else 'not sent'}{retried}")
        if delivery.result is not None:
            result = delivery.result
            print(f"    output {shown(result.output)}")
            print(
                f"    result_signature {short(result.result_signature)}, "
                f"auth_signature {short(result.auth_signature)}"
            )
        if delivery.problem:
            print(f"    not used: {delivery.problem}")
        elif delivery.result is not None:
            curve = delivery.operator.key.curve
            print(f"    verified: both signatures are by the operator's registered {curve} key")


def print_certificate(certificate: Certificate) -> None:
    extra = (
        f", {len(certificate.non_signer_indexes)} non-signer witnesses"
        if certificate.curve == "BN254"
        else ""
    )
    print(
        f"  certificate: {certificate.curve}, message hash {short(certificate.message_hash)}, signed by "
        f"{len(certificate.signers)} operator(s) with weight {certificate.signed_weight}{extra}, "
        f"{len(certificate.encoded)} bytes"
    )


def print_verified(verified: TaskVerified) -> None:
    print(
        f"  submitResult: tx {short(verified.transaction_hash)} in block {verified.block_number} → "
        f"TaskVerified (aggregator {verified.aggregator}, result {shown(verified.result)})"
    )


def report(step: str, value: Any) -> None:
    {
        "plan": print_plan,
        "deliveries": print_deliveries,
        "certificate": print_certificate,
        "verified": print_verified,
    }[step](value)
    sys.stdout.flush()


def run_tasks(aggregator: Aggregator, tasks: list[TaskCreated], give_up_after: float) -> bool:
    ok = True
    for task in tasks:
        print_task(task)
        try:
            aggregator.run(task, give_up_after=give_up_after, on_step=report)
        except (PlanError, ThresholdNotMet, ChainError, ValueError) as error:
            print(f"  FAILED: {error}")
            ok = False
    return ok


def resolve_avs(manifest: dict, value: str) -> str:
    if value.isdigit():
        return manifest["avss"][int(value)]["address"]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hack.aggregator", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--manifest", type=Path, required=True, help="the devnet manifest (JSON)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create-task", help="TaskMailbox.createTask from the manifest's taskCreator")
    create.add_argument("--avs", required=True, help="an AVS address, or its index in the manifest")
    create.add_argument("--operator-set", type=int, required=True)
    create.add_argument("--payload", required=True, help="the task payload (UTF-8 text)")
    verbs.add_parser("block-number", help="print the chain's latest block number")
    run = verbs.add_parser("run", help="take tasks from TaskCreated events through to TaskVerified")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-block", type=int, help="the first block to look for TaskCreated events in")
    source.add_argument("--transaction", action="append", help="a createTask transaction hash (repeatable)")
    run.add_argument("--count", type=int, default=1, help="with --from-block: how many tasks (default 1)")
    run.add_argument(
        "--give-up-after", type=float, default=180, help="seconds to keep retrying UNAVAILABLE (default 180)"
    )
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    try:
        if args.verb == "block-number":
            print(chain_view(manifest).block_number())
            return 0
        if args.verb == "create-task":
            chain = chain_view(manifest)
            key = manifest["accounts"]["taskCreator"]["privateKey"]
            task = chain.create_task(
                resolve_avs(manifest, args.avs), args.operator_set, args.payload.encode(), key
            )
            print_task(task)
            return 0
        aggregator = aggregator_from_manifest(manifest)
        if args.transaction:
            tasks = [aggregator.chain.task_created_in(tx) for tx in args.transaction]
        else:
            tasks = aggregator.next_tasks(args.from_block, args.count)
        return 0 if run_tasks(aggregator, tasks, args.give_up_after) else 1
    except (ChainError, TimeoutError) as error:
        print(f"aggregator {args.verb}: {error}", file=sys.stderr)
        return 1
