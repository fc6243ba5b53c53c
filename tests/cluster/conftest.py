"""Fixtures for tests against a real API server: the cluster (brought up once per session), the
Performer CRD, and a fresh namespace per test. A failed test gets `kubectl describe` of its
namespace and the control plane's logs appended to its report."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from tests.support import diagnostics
from tests.support.cluster import Cluster, connect
from tests.support.local_performers import stop_all
from tests.support.operator import OperatorProcess
from tests.support.paths import CATALOG, CRD_FILE
from tests.support.performers import GROUP, PLURAL, VERSION
from tests.support.waiting import wait_for

PERFORMER_CRD = "performers.hourglass.eigenlayer.io"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = connect()
    yield c
    c.close()


@pytest.fixture(scope="session")
def core(cluster: Cluster) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(cluster.api)


@pytest.fixture(scope="session")
def custom(cluster: Cluster) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(cluster.api)


@pytest.fixture(scope="session")
def performer_crd(cluster: Cluster) -> dict:
    """The Performer CRD from crds/, applied (server-side) and Established."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=hourglass-tests", "-f", str(CRD_FILE)
    )
    ext = kubernetes.client.ApiextensionsV1Api(cluster.api)

    def established() -> dict | None:
        crd = ext.read_custom_resource_definition(PERFORMER_CRD).to_dict()
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"] or []}
        return crd if conditions.get("Established") == "True" else None

    return wait_for(established, timeout=30, what=f"CRD {PERFORMER_CRD} to be Established")


@pytest.fixture(scope="session")
def node_catalog(core: kubernetes.client.CoreV1Api) -> list[dict]:
    """The catalog's nodes; tests that need them are skipped on clusters without the catalog."""
    import yaml

    nodes = [d for d in yaml.safe_load_all((CATALOG / "nodes.yaml").read_text()) if d]
    present = {
        n.metadata.name
        for n in core.list_node(label_selector="hourglass.eigenlayer.io/testenv=catalog").items
    }
    missing = [n["metadata"]["name"] for n in nodes if n["metadata"]["name"] not in present]
    if missing:
        pytest.skip(f"the cluster lacks the local node catalog (missing {', '.join(missing)})")
    return nodes


@pytest.fixture
def namespace(
    request: pytest.FixtureRequest, cluster: Cluster, core: kubernetes.client.CoreV1Api
) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (in the background) unless the test did."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].rstrip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:5]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"hourglass.eigenlayer.io/test": "true"}}})
    request.node.hourglass_namespace = name
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def operators(
    request: pytest.FixtureRequest, cluster: Cluster, namespace: str, performer_crd: dict, tmp_path
):
    """Starts operator processes watching the test's namespace: `operators(*extra_args)`. At the end
    the test's Performers are deleted while one still runs (so that their finalizers are
    released), then every process is stopped."""
    started: list[OperatorProcess] = []
    request.node.hourglass_operators = started

    def start(*args: str) -> OperatorProcess:
        process = OperatorProcess(cluster.kubeconfig, namespace, tmp_path, *args)
        started.append(process)
        return process

    yield start
    custom = kubernetes.client.CustomObjectsApi(cluster.api)
    try:
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        if any(p.process.poll() is None for p in started):
            wait_for(
                lambda: not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
                timeout=90,
                what="the test's Performers to be deleted",
            )
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def operator(operators) -> OperatorProcess:
    """One operator process watching the test's namespace, ready."""
    process = operators()
    process.wait_ready()
    return process


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    namespace = getattr(item, "hourglass_namespace", None)
    if report.when == "call" and report.failed and namespace and "cluster" in item.funcargs:
        for title, text in diagnostics.namespace_report(item.funcargs["cluster"], namespace):
            report.sections.append((title, text))
        for process in getattr(item, "hourglass_operators", []):
            report.sections.append((f"operator log ({process.log_path.name})", process.logs()))


@pytest.fixture
def performers_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a test's local echo performer processes keep their state; they are stopped afterwards."""
    directory = tmp_path / "performers"
    yield directory
    if directory.exists():
        stop_all(directory)
