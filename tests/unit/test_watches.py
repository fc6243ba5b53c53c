"""watches.yaml parsing: the shipped file, operator-sdk keys, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hourglass_operator.watches import WatchesError, load_watches, parse_duration
from tests.support.paths import REPO

BASE = {"group": "hourglass.eigenlayer.io", "version": "v1alpha1", "kind": "Performer", "role": "performer"}


def write(tmp_path: Path, entries: object) -> Path:
    (tmp_path / "roles" / "performer").mkdir(parents=True, exist_ok=True)
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "playbooks" / "p.yml").write_text("---\n")
    path = tmp_path / "watches.yaml"
    path.write_text(yaml.safe_dump(entries))
    return path


def test_the_shipped_watches_file():
    [watch] = load_watches(REPO / "watches.yaml")
    assert (watch.group, watch.version, watch.kind) == ("hourglass.eigenlayer.io", "v1alpha1", "Performer")
    assert watch.plural == ""  # API discovery provides it
    assert watch.role == watch.finalizer.role == "hourglass.operator.performer"  # the collection's role
    assert watch.finalizer.name == "hourglass.eigenlayer.io/performer-finalizer"
    assert watch.finalizer.vars == {"performer_state": "absent"}
    assert watch.cr_var == "_hourglass_eigenlayer_io_performer"
    assert watch.reconcile_period == 600
    assert not watch.snake_case_parameters


def test_a_collection_role_is_found_where_ansible_looks_for_collections(tmp_path: Path, monkeypatch):
    (tmp_path / "ansible_collections" / "acme" / "ops" / "roles" / "web").mkdir(parents=True)
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path))
    [watch] = load_watches(write(tmp_path, [{**BASE, "role": "acme.ops.web"}]))
    assert watch.role == "acme.ops.web"
    with pytest.raises(WatchesError, match=r"\[0\]\.role: role acme\.ops\.db is not installed"):
        load_watches(write(tmp_path, [{**BASE, "role": "acme.ops.db"}]))


def test_all_supported_keys(tmp_path: Path):
    entry = {
        **BASE, "vars": {"performer_field_manager": "x"}, "reconcilePeriod": "1h30m",
        "manageStatus": False, "watchDependentResources": True, "snakeCaseParameters": True,
        "markUnsafe": True, "maxRunnerArtifacts": 5,
        "selector": {"matchLabels": {"tier": "gold"},
                     "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                          {"key": "skip", "operator": "DoesNotExist"}]},
        "finalizer": {"name": "example.com/cleanup", "playbook": "playbooks/p.yml", "vars": {"a": 1}},
    }  # fmt: skip
    [watch] = load_watches(write(tmp_path, [entry]))
    assert watch.reconcile_period == 5400
    assert watch.label_selector == "tier=gold,zone in (a,b),!skip"
    assert watch.finalizer.playbook == (tmp_path / "playbooks" / "p.yml").resolve()
    assert watch.max_runner_artifacts == 5 and watch.snake_case_parameters


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "blue"}, "[0]: unknown key(s) colour"),
    ({"kind": None}, "[0].kind: required"),
    ({"playbook": "playbooks/p.yml"}, "set exactly one of role or playbook"),
    ({"role": "missing"}, "[0].role:"),
    ({"markUnsafe": False}, "[0].markUnsafe: false is not supported"),
    ({"manageStatus": True}, "[0].manageStatus: true is not supported"),
    ({"watchDependentResources": False}, "[0].watchDependentResources: false is not supported"),
    ({"reconcilePeriod": "soon"}, "[0].reconcilePeriod: invalid duration 'soon'"),
    ({"snakeCaseParameters": "yes"}, "[0].snakeCaseParameters: must be true or false"),
    ({"maxRunnerArtifacts": 0}, "[0].maxRunnerArtifacts: must be a positive integer"),
    ({"finalizer": {"name": "no-slash"}}, "[0].finalizer.name: must be a qualified name"),
    ({"finalizer": {"name": "a.io/f", "extra": 1}}, "[0].finalizer: unknown key(s) extra"),
    ({"selector": {"matchFields": {}}}, "[0].selector: unknown key(s) matchFields"),
    ({"selector": {"matchLabels": {"enabled": True}}},
     "[0].selector.matchLabels.enabled: must be a string, not True (quote it: 'true')"),
    ({"selector": {"matchLabels": {"tier": 1}}},
     "[0].selector.matchLabels.tier: must be a string, not 1 (quote it"),
    ({"selector": {"matchLabels": {"enabled": None}}}, "[0].selector.matchLabels.enabled: must be a string"),
    ({"selector": {"matchLabels": {"a": "x,b=y"}}},
     "[0].selector.matchLabels.a: 'x,b=y' is not a label value"),
    ({"selector": {"matchLabels": ["a"]}}, "[0].selector.matchLabels: must be a mapping"),
    ({"selector": {"matchExpressions": ["tier"]}}, "[0].selector.matchExpressions[0]: must be a mapping"),
    ({"selector": {"matchExpressions": {"key": "tier"}}}, "[0].selector.matchExpressions: must be a list"),
    ({"selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": "gold"}]}},
     "[0].selector.matchExpressions[0].values: must be a non-empty list of strings for In"),
    ({"selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": [1, 2]}]}},
     "[0].selector.matchExpressions[0].values[0]: must be a string, not 1 (quote it: '1')"),
    ({"selector": {"matchExpressions": [{"operator": "Exists"}]}},
     "[0].selector.matchExpressions[0].key: required"),
    ({"selector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
     "[0].selector.matchExpressions[0].values: must be empty for Exists"),
    ({"selector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}},
     "[0].selector.matchExpressions[0].operator: must be In, NotIn, Exists or DoesNotExist, not 'Gt'"),
])  # fmt: skip
def test_invalid_watch_is_refused_naming_the_key(tmp_path: Path, change: dict, message: str):
    entry = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(WatchesError) as raised:
        load_watches(write(tmp_path, [entry]))
    assert message in str(raised.value)


def test_duplicate_kinds_and_empty_files_are_refused(tmp_path: Path):
    with pytest.raises(WatchesError, match="watched twice"):
        load_watches(write(tmp_path, [BASE, BASE]))
    with pytest.raises(WatchesError, match="non-empty list"):
        load_watches(write(tmp_path, []))


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("1h", 3600), ("1m30s", 90), ("500ms", 0.5)]
)
def test_durations(text: str, seconds: float):
    assert parse_duration(text, "x") == seconds
