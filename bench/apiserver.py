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


def requests_by_verb(metrics_text: str) -> dict[str, float]:
    """The counter summed by its `verb` label, from a Prometheus text exposition."""
    totals: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if not line.startswith(COUNTER + "{"):
            continue
        labels, _, value = line[len(COUNTER) + 1 :].rpartition("} ")
        verb = parse_label_value(labels, "verb") or "other"
        totals[verb] = totals.get(verb, 0.0) + float(value.split()[0])
    return totals


class RequestCounter:
    """Reads the counter through a kubernetes ApiClient (the kubeconfig's credentials)."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def __call__(self) -> dict[str, float]:
        request = self._api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
        response = self._api.call_api(*request)
        response.read()
        return requests_by_verb(response.data.decode())
