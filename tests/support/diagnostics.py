"""What a failed cluster test attaches to its report: the objects involved and the control plane's logs."""

from __future__ import annotations

from tests.support.cluster import Cluster

DESCRIBED_KINDS = "performers,pods,services,endpointslices,configmaps"


def namespace_report(cluster: Cluster, namespace: str) -> list[tuple[str, str]]:
    """Report sections (title, text) describing a test namespace after a failure."""
    sections = []
    for title, args in (
        (
            f"kubectl describe {DESCRIBED_KINDS} -n {namespace}",
            ["describe", DESCRIBED_KINDS, "-n", namespace],
        ),
        (
            f"kubectl get events -n {namespace}",
            ["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"],
        ),
    ):
        try:
            sections.append((title, cluster.kubectl(*args, check=False)))
        except Exception as error:  # diagnostics must never hide the real failure
            sections.append((title, f"could not collect: {error}"))
    logs = cluster.component_logs()
    if logs:
        sections.append(("control-plane component logs", logs))
    return sections
