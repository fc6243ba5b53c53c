"""Write-cost benchmark (not a test): what each write the operator makes costs the API server, in
CPU, a Performer's against a Pod's, with the Performer CRD as shipped and without its CEL rules.

    .venv/bin/python -m bench.write_costs                      # 300 objects per phase, 3 runs
    .venv/bin/python -m bench.write_costs --count 500 --repeat 5

Needs a control plane on this machine (the API server's CPU is read from /proc; the local one is
started if needed). The two CRDs are copies of crds/ under throwaway groups, `shipped.<GROUPS>` and
`no-cel.<GROUPS>` (the second without a single `x-kubernetes-validations`): the Performer CRD and
its resources are never touched, and both copies are deleted at the end. Per run and copy,
interleaved, in a fresh namespace, 16 threads (as the operator writes): N Performers created, their
finalizer added (the operator's `Finalizers`), their status written twice with the operator's
`patch_status` (the status `compute_status` gives a Performer without a pod, then the Terminating
one), the finalizer removed; and N Pods created (bound to a node that does not exist, so nothing
else works on them). Reported per phase: the API server's CPU milliseconds per request and the
phase's seconds; the median of the runs. JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    caller,
    custom_object_path,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import compute_status
from ansible_collections.hourglass.operator.plugins.module_utils.status_writer import (
    CONCURRENT_WRITES,
    patch_status,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.operator_bench import delete_namespace, prepare_cluster  # noqa: E402
from bench.process_tree import control_plane_cpu_seconds  # noqa: E402
from bench.progress import say  # noqa: E402
from bench.repeat import median_of  # noqa: E402
from hourglass_operator.finalizers import Failure, Finalizers  # noqa: E402
from hourglass_operator.startup import calls_client  # noqa: E402
from tests.support.performers import performer  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

GROUPS = "writecost.bench.hourglass.example"
VARIANTS = ("shipped", "no-cel")
PHASES = ("performer create", "finalizer add", "status write", "status write again", "finalizer remove")


def crd_variant(variant: str) -> dict:
    """The Performer CRD under the group `<variant>.<GROUPS>`; `no-cel` without its CEL rules."""
    crd = yaml.safe_load((REPO / "crds" / f"{contract.GROUP}_{contract.PLURAL}.yaml").read_text())
    group = f"{variant}.{GROUPS}"
    crd["metadata"] = {"name": f"{contract.PLURAL}.{group}"}
    crd["spec"]["group"] = group
    if variant == "no-cel":
        _drop_rules(crd)
    return crd


def _drop_rules(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("x-kubernetes-validations", None)
        for value in node.values():
            _drop_rules(value)
    elif isinstance(node, list):
        for value in node:
            _drop_rules(value)


def install(extensions: Any, crd: dict, timeout: float) -> None:
    name = crd["metadata"]["name"]
    remove(extensions, name, timeout)
    extensions.create_custom_resource_definition(crd)

    def established() -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, timeout=timeout, what=f"CRD {name} to be established")


def remove(extensions: Any, name: str, timeout: float) -> None:
    def gone() -> bool:
        try:
            extensions.read_custom_resource_definition(name)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    try:
        extensions.delete_custom_resource_definition(name)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise
    wait_for(gone, timeout=timeout, what=f"CRD {name} to be gone")


def timed(names: list[str], write: Callable[[str], None]) -> dict:
    """`write` for every name (CONCURRENT_WRITES threads): the API server's CPU ms per write, seconds."""
    before, started = control_plane_cpu_seconds()["apiserver"], time.monotonic()
    with ThreadPoolExecutor(CONCURRENT_WRITES) as pool:
        list(pool.map(write, names))
    seconds = time.monotonic() - started
    used = control_plane_cpu_seconds()["apiserver"] - before
    return {"apiserver_cpu_ms": round(1000 * used / len(names), 3), "seconds": round(seconds, 3)}


def one_variant(api: Any, variant: str, count: int, timeout: float) -> dict:
    core, custom = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)
    group, version, plural = f"{variant}.{GROUPS}", contract.VERSION, contract.PLURAL
    namespace = f"write-cost-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    client = calls_client(api)
    call = caller(client)
    finalizers = Finalizers(client, group=group, version=version, plural=plural, name=contract.FINALIZER)
    names = [f"cost-{i:04d}" for i in range(count)]
    latest: dict[str, dict] = {}

    def create(name: str) -> None:
        body = performer(name, config={})
        body["apiVersion"] = f"{group}/{version}"
        latest[name] = custom.create_namespaced_custom_object(group, version, namespace, plural, body)

    def finalizer(change: Callable[[dict], Any]) -> Callable[[str], None]:
        def write(name: str) -> None:
            changed = change(latest[name])
            if isinstance(changed, Failure):
                raise RuntimeError(f"the finalizer of {name} was not changed: {changed}")
            latest[name] = changed

        return write

    def status(deleting: bool) -> Callable[[str], None]:
        def write(name: str) -> None:
            cr = latest[name]
            path = custom_object_path(group, version, plural, cr["metadata"])
            code, body = patch_status(
                call, path, compute_status(cr, None, deleting=deleting), cr.get("status") or {}
            )
            if code >= 300:
                raise RuntimeError(f"the status of {name} was not written: HTTP {code}")
            latest[name] = body

        return write

    def pod(name: str) -> None:
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {"nodeName": "no-such-node", "containers": [{"name": "main", "image": "pause"}]},
            },
        )

    writes = dict(
        zip(
            PHASES,
            (create, finalizer(finalizers.add), status(False), status(True), finalizer(finalizers.remove)),
            strict=True,
        )
    )
    try:
        result = {phase: timed(names, write) for phase, write in writes.items()}
        result["pod create"] = timed(names, pod)
    finally:  # no kubelet will confirm these pods gone: deleted at once, or the namespace waits
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        delete_namespace(core, namespace, timeout)
    return result


def table(median: dict) -> str:
    lines = [
        "| write | " + " | ".join(f"{v}: API server CPU ms per write, s" for v in VARIANTS) + " |",
        "|---|" + "---|" * len(VARIANTS),
    ]
    for phase in (*PHASES, "pod create"):
        cells = [
            f"{median[v][phase]['apiserver_cpu_ms']:.2f}, {median[v][phase]['seconds']:.2f}" for v in VARIANTS
        ]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="objects per phase (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the table shows the median (default 3)")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--kubeconfig", type=Path, help="default: the local control plane, started if needed")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")
    kubeconfig = prepare_cluster(args)
    if "apiserver" not in control_plane_cpu_seconds():
        parser.error("no kube-apiserver runs on this machine: its CPU cannot be read")
    api = kubernetes.config.new_client_from_config(str(kubeconfig))
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    loads = [os.getloadavg()[0]]
    try:
        for variant in VARIANTS:
            install(extensions, crd_variant(variant), args.timeout)
        for run in range(args.repeat):
            for variant in VARIANTS:
                say(f"run {run + 1}/{args.repeat}: {variant}, {args.count} objects per phase")
                runs[variant].append(one_variant(api, variant, args.count, args.timeout))
    finally:
        for variant in VARIANTS:
            remove(extensions, crd_variant(variant)["metadata"]["name"], args.timeout)
    loads.append(os.getloadavg()[0])
    median = {v: median_of(runs[v]) for v in VARIANTS}
    print(table(median))
    print(
        f"\nmedian of {args.repeat} runs, {args.count} objects per phase; "
        f"load average {loads[0]:.1f} → {loads[1]:.1f}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"write-costs-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps({"count": args.count, "load": loads, "runs": runs, "median": median}, indent=2)
    )
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
