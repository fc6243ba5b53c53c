"""The metric names a PromQL expression reads, and the metric names the operator's and the
executor's code expose on /metrics, for the tests that keep the alerts and the dashboard
(config/prometheus, charts/*/files) to metrics that exist. promtool (hack/promtool/build.sh)
checks that the expressions parse; this only picks the names out of an expression that parses."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "atan2"}  # fmt: skip


def metric_names(expression: str) -> set[str]:
    """The metric names of the vector selectors in `expression`: what remains after removing string
    literals, label matchers, ranges, grouping clauses, function names and keywords."""
    text = _STRING.sub('""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def _series_names(name: str, kind: str) -> Iterator[str]:
    """The sample names of a metric family as prometheus_client exposes them."""
    if kind == "counter":
        yield from (name + "_total", name + "_created")
    elif kind == "histogram":
        yield from (name + "_bucket", name + "_sum", name + "_count", name + "_created")
    elif kind == "summary":
        yield from (name, name + "_sum", name + "_count", name + "_created")
    elif kind == "info":
        yield name + "_info"
    else:
        yield name


def _modules_using_prometheus(package_dir: Path, package: str) -> Iterator[str]:
    for path in sorted(package_dir.rglob("*.py")):
        if "prometheus_client" in path.read_text(encoding="utf-8"):
            relative = path.relative_to(package_dir).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            yield ".".join([package, *parts])


def exposed_metric_names() -> set[str]:
    """Every sample name the operator's and the executor's registries expose: each module of the
    two packages that uses prometheus_client is imported, the operator's Performer collector is
    registered, an executor's metrics are made, and the families of the default registry, of any
    registry a module holds and of the executor's are collected (a labelled metric without samples
    yet counts by its type)."""
    registries: list[CollectorRegistry] = [REGISTRY]
    for package in ("hourglass_operator", "hourglass_executor"):
        package_dir = Path(importlib.import_module(package).__file__ or "").parent
        for name in _modules_using_prometheus(package_dir, package):
            module = importlib.import_module(name)
            registries += [v for v in vars(module).values() if isinstance(v, CollectorRegistry)]
            register = getattr(module, "register_performer_collector", None)
            if register is not None:  # the operator's Performers by phase, read at scrape time
                register(list)
            executor_metrics = getattr(module, "ExecutorMetrics", None)
            if executor_metrics is not None:  # each executor's metrics are in a registry of its own
                instance = executor_metrics()
                instance.watch_performers(list)
                registries.append(instance.registry)
    names: set[str] = set()
    for registry in dict.fromkeys(registries):
        for family in registry.collect():
            names.update(_series_names(family.name, family.type))
            names.update(sample.name for sample in family.samples)
    return names


def expressions_of_rule_groups(groups: Iterable[dict]) -> Iterator[tuple[str, str]]:
    """(rule name, expression) of every rule in Prometheus rule groups."""
    for group in groups:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]
