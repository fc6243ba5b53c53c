"""The observability pack: the alerts (config/prometheus/rules.yaml and the charts'
files/prometheus-rules.yaml) and the Grafana dashboard (config/prometheus/dashboard.json and its
copy in the operator chart). hack/promrules (the rule-file check of `promtool check rules`, built
from the Prometheus Go module by hack/promrules/build.sh; skipped when it cannot be built here)
checks the rule files and parses every dashboard query, and runs the alerts' unit tests
(tests/unit/alerts, the format of `promtool test rules`): every alert fires on the series the code
exposes once its condition held long enough, and stays quiet short of it. Every query reads only the
metrics of the names the operator and the executor agreed on (METRICS), and the code exposes every
one of them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.go_tools import go_tool
from tests.support.paths import REPO
from tests.support.promql import exposed_metric_names, expressions_of_rule_groups, metric_names

CONFIG_RULES = REPO / "config" / "prometheus" / "rules.yaml"
DASHBOARD = REPO / "config" / "prometheus" / "dashboard.json"
CHART_DASHBOARD = REPO / "charts" / "hourglass-operator" / "files" / "dashboard.json"
CHART_RULES = {
    "hourglass-operator": REPO / "charts" / "hourglass-operator" / "files" / "prometheus-rules.yaml",
    "hourglass-executor": REPO / "charts" / "hourglass-executor" / "files" / "prometheus-rules.yaml",
}
# The metrics the alerts and the dashboard may read (docs/monitoring.md): name -> type.
METRICS = {
    # the operator (hourglass_operator/metrics.py); the work queue named as client-go's
    "workqueue_depth": "gauge",
    "workqueue_adds_total": "counter",
    "workqueue_queue_duration_seconds": "histogram",
    "workqueue_work_duration_seconds": "histogram",
    "workqueue_retries_total": "counter",
    "workqueue_unfinished_work_seconds": "gauge",
    "workqueue_longest_running_processor_seconds": "gauge",
    "hourglass_reconciles_total": "counter",
    "hourglass_repairs_total": "counter",
    "hourglass_performers": "gauge",
    "hourglass_performers_longest_not_ready_seconds": "gauge",
    "hourglass_performers_longest_terminating_seconds": "gauge",
    "hourglass_build_info": "gauge",
    "hourglass_rollout_performers": "gauge",
    # the executor
    "hourglass_executor_tasks_total": "counter",
    "hourglass_executor_task_duration_seconds": "histogram",
    "hourglass_executor_performer_healthy": "gauge",
    "hourglass_executor_deploys_total": "counter",
}
# The alerts' unit tests, one file per rule file.
ALERT_TESTS = sorted((REPO / "tests" / "unit" / "alerts").glob("*.yaml"))
# Grafana's variables in the dashboard's queries and a value that makes them PromQL.
DASHBOARD_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*"}


def series_names() -> set[str]:
    names = set()
    for name, kind in METRICS.items():
        names |= {name + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return names


@pytest.fixture(scope="module")
def promrules() -> Path:
    """The rule checker (HOURGLASS_TEST_PROMRULES: a prebuilt one)."""
    return go_tool("promrules", REPO / "hack" / "promrules" / "build.sh", "HOURGLASS_TEST_PROMRULES")


def promrules_run(promrules: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """`promrules FILE...` checks rule files; `promrules test FILE...` runs alert tests."""
    return subprocess.run([str(promrules), *map(str, args)], capture_output=True, text=True, timeout=120)


def config_groups() -> list[dict]:
    return yaml.safe_load(CONFIG_RULES.read_text())["spec"]["groups"]


def dashboard_queries() -> dict[str, str]:
    """ "panel <id> <refId>" -> the query with Grafana's variables replaced."""
    queries = {}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    for panel in panels:
        for target in panel.get("targets", []):
            query = target["expr"]
            for variable, value in DASHBOARD_VARIABLES.items():
                query = query.replace(variable, value)
            assert "$" not in query, f"panel {panel['id']}: a Grafana variable without a test value: {query}"
            queries[f"panel {panel['id']} {target['refId']}"] = query
    return queries


def test_the_metric_name_extraction_finds_selectors_only() -> None:
    expression = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{name="x", job=~"b|c"}[5m] offset 1h)))'
        " > on (job) group_left bool b_total unless ignoring (pod) c:d"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c:d"}


def test_the_charts_rule_files_are_the_groups_of_config_prometheus() -> None:
    groups = {g["name"]: g for g in config_groups()}
    assert list(groups) == list(CHART_RULES)
    for name, path in CHART_RULES.items():
        assert yaml.safe_load(path.read_text())["groups"] == [groups[name]], path


def test_the_charts_dashboard_is_config_prometheus_dashboard() -> None:
    assert CHART_DASHBOARD.read_bytes() == DASHBOARD.read_bytes()


def test_the_alerts_cover_what_an_operator_of_performers_needs() -> None:
    expressions = dict(expressions_of_rule_groups(config_groups()))
    needed = {
        "reconcile errors": "hourglass_reconciles_total",
        "Performers not Ready": "hourglass_performers_longest_not_ready_seconds",
        "Failed phase": 'phase="Failed"',
        "pods that keep ending": 'hourglass_repairs_total{reason="PodReplaced"}',
        "queue depth": "workqueue_depth",
        "executor task errors": "hourglass_executor_tasks_total",
        "a rollout that stopped": 'hourglass_rollout_performers{state="waiting"}',
    }
    for what, needle in needed.items():
        assert any(needle in e for e in expressions.values()), f"no alert on {what}"
    for group in config_groups():
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


@pytest.mark.parametrize(
    "path", [*CHART_RULES.values(), CONFIG_RULES], ids=lambda p: str(p.relative_to(REPO))
)
def test_promrules_accepts_the_rules(promrules: Path, path: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    if document.get("kind") == "PrometheusRule":
        rule_file = tmp_path / "rules.yaml"
        rule_file.write_text(yaml.safe_dump({"groups": document["spec"]["groups"]}))
        path = rule_file
    result = promrules_run(promrules, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: [1-9][0-9]* rules found", result.stdout + result.stderr), result.stdout


def test_promrules_refuses_a_query_that_does_not_parse(promrules: Path, tmp_path: Path) -> None:
    """The check above can fail: a broken expression is refused."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum(("}]}]})
    )
    assert promrules_run(promrules, broken).returncode != 0


@pytest.mark.parametrize("path", ALERT_TESTS, ids=lambda p: p.name)
def test_the_alerts_fire_as_their_unit_tests_say(promrules: Path, path: Path) -> None:
    result = promrules_run(promrules, "test", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: [1-9][0-9]* alert checks passed", result.stdout), result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    """Each alert has a unit test where it fires and one where it does not (short of its `for`, or
    on series that do not meet its condition)."""
    firing, quiet = set(), set()
    for path in ALERT_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for alert_check in group["alert_rule_test"]:
                (firing if alert_check["exp_alerts"] else quiet).add(alert_check["alertname"])
    alerts = {rule["alert"] for group in config_groups() for rule in group["rules"]}
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown quiet"


def write_alert_test(directory: Path, alert_check: dict, values: str = "1x20", **extra: object) -> Path:
    """A test file of one group: `up` at `values`, and `alert_check` against a rule file with
    `AlwaysUp`."""
    rules = directory / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "AlwaysUp", "expr": "up > 0", "for": "5m", "labels": {"severity": "warning"},
         "annotations": {"summary": "up is {{ $value }}"}},
    ]}]}))  # fmt: skip
    test = directory / "rules.test.yaml"
    group = {"interval": "1m", "input_series": [{"series": 'up{job="a"}', "values": values}],
             "alert_rule_test": [alert_check], **extra}  # fmt: skip
    test.write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "tests": [group]}))
    return test


UP_ALERT = {"job": "a", "severity": "warning"}  # the labels of AlwaysUp's alert in write_alert_test


def check(eval_time: str, *expected: dict, alertname: str = "AlwaysUp") -> dict:
    return {"eval_time": eval_time, "alertname": alertname, "exp_alerts": list(expected)}


@pytest.mark.parametrize(
    ("alert_check", "extra", "says"),
    [
        (check("3m", {"exp_labels": UP_ALERT}), {}, "got      no alert firing"),
        (check("10m"), {}, 'got      {job="a", severity="warning"}'),
        (check("10m", {"exp_labels": UP_ALERT, "exp_annotations": {"summary": "up is 2"}}), {},
         'got      {job="a", severity="warning"} {summary="up is 1"}'),
        (check("10m", alertname="AlwaysUpp"), {}, 'no rule file defines alert "AlwaysUpp"'),
        (check("90s"), {}, "not a multiple of evaluation_interval"),
        (check("10m"), {"input_series_typo": []}, "input_series_typo"),
    ],
    ids=["fires-too-early", "quiet-but-fires", "wrong-annotation", "unknown-alert", "between-evaluations",
         "unknown-field"],
)  # fmt: skip
def test_an_alert_test_that_does_not_hold_fails(
    promrules: Path, tmp_path: Path, alert_check: dict, extra: dict, says: str
) -> None:
    """The alert tests above can fail: a wrong expectation, alert name, time or field is reported."""
    result = promrules_run(promrules, "test", write_alert_test(tmp_path, alert_check, **extra))
    assert result.returncode == 1, result.stdout + result.stderr
    assert says in result.stdout, result.stdout


def test_an_alert_test_that_holds_passes(promrules: Path, tmp_path: Path) -> None:
    alert_check = check("10m", {"exp_labels": UP_ALERT, "exp_annotations": {"summary": "up is 1"}})
    result = promrules_run(promrules, "test", write_alert_test(tmp_path, alert_check))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dashboard_query_parses(promrules: Path, tmp_path: Path) -> None:
    """Each query becomes a recording rule, which promrules parses with Prometheus' own parser."""
    rules = [
        {"record": f"dashboard:{re.sub(r'[^a-z0-9]+', '_', key)}", "expr": query}
        for key, query in dashboard_queries().items()
    ]
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promrules_run(promrules, rule_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_reads_only_the_agreed_metrics() -> None:
    allowed = series_names()
    queries = {**dict(expressions_of_rule_groups(config_groups())), **dashboard_queries()}
    dashboard = json.loads(DASHBOARD.read_text())
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries[f"variable {variable['name']}"] = re.sub(
                r"^label_values\((\w+),.*\)$", r"\1", variable["query"]["query"]
            )
    used = set()
    for where, query in queries.items():
        names = metric_names(query)
        assert names, f"{where}: no metric in {query}"
        assert names <= allowed, f"{where} reads metrics nobody exposes: {sorted(names - allowed)}"
        used |= names
    assert used == allowed - {n for n in allowed if n.endswith(("_sum", "_count"))}, sorted(allowed - used)


def test_the_code_exposes_every_agreed_metric() -> None:
    exposed = exposed_metric_names()
    missing = series_names() - exposed
    assert not missing, (
        f"the alerts and the dashboard read metrics the code does not expose: {sorted(missing)}"
    )
