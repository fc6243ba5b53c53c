"""Role variables given at deployment (`--role-vars`, `ROLE_VARS`): parsed as YAML or JSON, checked
against the role's argument specs (converted as Ansible converts them), and set on every run of the
watch, over the watches file's vars, with the finalizer's own vars still winning in its runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hourglass_operator.batching import run_request
from hourglass_operator.role_vars import RoleVarsError, parse_role_vars, role_options, with_role_vars
from hourglass_operator.runs import ABSENT, PRESENT
from hourglass_operator.watches import load_watches
from tests.support.paths import REPO

pytestmark = pytest.mark.unit


def shipped_watches() -> list:
    return load_watches(REPO / "watches.yaml")


def extravars(watch, state: str) -> dict:
    request = run_request(watch, state, [], state_var="performer_state", items_var="performers")
    return {k: v for k, v in request.extravars.items() if k != "performers"}


def test_role_vars_are_set_on_every_run_converted_as_the_role_declares_them():
    given = parse_role_vars(
        '{"performer_cluster_domain": "corp.example", "performer_lost_pod_after_seconds": "45"}'
    )
    [watch] = with_role_vars(shipped_watches(), given)
    want = {"performer_cluster_domain": "corp.example", "performer_lost_pod_after_seconds": 45}
    assert extravars(watch, PRESENT) == {**want, "performer_state": "present"}
    assert extravars(watch, ABSENT) == {**want, "performer_state": "absent"}  # the finalizer's state wins


def test_role_vars_win_over_the_watches_files_vars():
    [watch] = shipped_watches()
    watch = dataclasses.replace(
        watch, vars={"performer_cluster_domain": "a.example", "performer_field_manager": "x"}
    )
    [merged] = with_role_vars([watch], parse_role_vars("performer_cluster_domain: b.example"))
    assert merged.vars == {"performer_cluster_domain": "b.example", "performer_field_manager": "x"}


def test_no_role_vars_leave_the_watches_as_they_are():
    watches = shipped_watches()
    assert parse_role_vars("") == {} and with_role_vars(watches, {}) is watches


def test_every_role_option_is_declared_with_a_type():
    options = role_options("hourglass.operator.performer")
    assert options and all("type" in option for option in options.values())


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a: [", "not YAML or JSON"),
        ("just text", "must be a mapping"),
        ("{1: x}", "1 is not a variable name"),
        ("performer_render_to: /tmp/x", "performer_render_to: set by the operator for each run"),
    ],
)
def test_what_is_not_a_mapping_of_variables_is_refused(text: str, said: str):
    with pytest.raises(RoleVarsError, match=said):
        parse_role_vars(text)


def test_a_role_without_argument_specs_takes_any_variable(tmp_path: Path):
    (tmp_path / "tasks").mkdir()
    [watch] = shipped_watches()
    own = dataclasses.replace(watch, role=tmp_path, finalizer=dataclasses.replace(watch.finalizer, role=None))
    [merged] = with_role_vars([own], {"anything": 1})
    assert merged.vars["anything"] == 1
