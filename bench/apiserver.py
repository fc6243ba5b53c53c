"""The API server's request counter (`apiserver_request_total` on its /metrics) for the benchmarks:
read before and after a phase, the difference is what the phase cost the API server. The counter has
no namespace or client label: on a shared cluster it counts everyone's requests (the benchmark's own
watches included), so it is exact only on a cluster the benchmark has to itself."""

from __future__ import annotations

from typing import Any

COUNTER = "apiserver_request_total"


def parse_label_value(labels: str, name: str) -> str:
    """The value of label `name` in `a="x",b="y"` ('' when absent)."""
    for part in labels.split('",'):
        key, _, value = part.partition('="')
        if key.strip() == name:
            return value.rstrip('"')
    return ""


def requests_by_kind(metrics_text: str) -> dict[str, float]:
    """The counter summed by request kind, `VERB resource[/subresource]` (`PATCH pods/status`; `VERB`
    alone for non-resource paths), from a Prometheus text exposition."""
    totals: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if not line.startswith(COUNTER + "{"):
            continue
        labels, _, value = line[len(COUNTER) + 1 :].rpartition("} ")
        verb = parse_label_value(labels, "verb") or "other"
        resource = parse_label_value(labels, "resource")
        subresource = parse_label_value(labels, "subresource")
        kind = f"{verb} {resource}/{subresource}" if subresource and resource else f"{verb} {resource}"
        kind = kind.strip()
        totals[kind] = totals.get(kind, 0.0) + float(value.split()[0])
    return totals


def by_verb(by_kind: dict[str, float]) -> dict[str, float]:
    """`requests_by_kind`'s counts summed by verb."""
    totals: dict[str, float] = {}
    for kind, count in by_kind.items():
        verb = kind.split(" ", 1)[0]
        totals[verb] = totals.get(verb, 0.0) + count
    return totals


class RequestCounter:
    """Reads the counter through a kubernetes ApiClient (the kubeconfig's credentials)."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def __call__(self) -> dict[str, float]:
        request = self._api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
        response = self._api.call_api(*request)
        response.read()
        return requests_by_kind(response.data.decode())
