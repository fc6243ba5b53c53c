"""watches.yaml rules the first watches tests leave open: keys this loop cannot honour or values it
would misread are refused naming the key (a cluster-scoped watch, a boolean artifact count, an empty
duration, a label key that is not one, a finalizer's vars that are no mapping), a NotIn selector stays
NotIn, a role given by a relative path is found from the file's directory, and the resync period
defaults to operator-sdk's 10 hours."""

from __future__ import annotations

from pathlib import Path

import pytest

from hourglass_operator.watches import WatchesError, load_watches, parse_duration
from tests.unit.test_watches import BASE, write

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("change", "message"), [
    ({"watchClusterScopedResources": True}, "[0].watchClusterScopedResources: true is not supported"),
    ({"maxRunnerArtifacts": True}, "[0].maxRunnerArtifacts: must be a positive integer"),
    ({"maxRunnerArtifacts": "5"}, "[0].maxRunnerArtifacts: must be a positive integer"),
    ({"reconcilePeriod": ""}, "[0].reconcilePeriod: invalid duration ''"),
    ({"selector": {"matchLabels": {"not a key": "x"}}},
     "[0].selector.matchLabels (a key): 'not a key' is not a label key"),
    ({"selector": {"matchExpressions": [{"key": "-bad", "operator": "Exists"}]}},
     "[0].selector.matchExpressions[0].key: '-bad' is not a label key"),
    ({"finalizer": {"name": "a.io/f", "vars": ["performer_state"]}}, "[0].finalizer.vars: must be a mapping"),
])  # fmt: skip
def test_a_watch_the_loop_cannot_honour_is_refused_naming_the_key(tmp_path: Path, change: dict, message: str):
    with pytest.raises(WatchesError) as raised:
        load_watches(write(tmp_path, [{**BASE, **change}]))
    assert message in str(raised.value)


def test_an_empty_duration_is_not_zero():
    """`0s` turns the resync off; an empty value is a mistake, not the same."""
    assert parse_duration("0s", "x") == 0
    with pytest.raises(WatchesError, match="invalid duration"):
        parse_duration("", "x")


def test_a_not_in_selector_selects_what_it_says(tmp_path: Path):
    selector = {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["test", "dev"]}]}
    [watch] = load_watches(write(tmp_path, [{**BASE, "selector": selector}]))
    assert watch.label_selector == "tier notin (test,dev)"


def test_a_role_given_as_a_relative_path_is_found_from_the_files_directory(tmp_path: Path):
    """A bare name is a role under roles/; a path with a slash is relative to the watches file."""
    (tmp_path / "content" / "my-role").mkdir(parents=True)
    [watch] = load_watches(write(tmp_path, [{**BASE, "role": "content/my-role"}]))
    assert watch.role == (tmp_path / "content" / "my-role").resolve()
    [watch] = load_watches(write(tmp_path, [BASE]))
    assert watch.role == (tmp_path / "roles" / "performer").resolve()


def test_without_a_reconcile_period_a_watch_resyncs_every_ten_hours(tmp_path: Path):
    [watch] = load_watches(write(tmp_path, [BASE]))
    assert watch.reconcile_period == 10 * 3600
