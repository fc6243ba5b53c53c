"""Role variables given at deployment (`--role-vars` / `ROLE_VARS`, the Helm chart's `roleVars`): a
YAML or JSON mapping set on every watch's runs, over the watches file's own `vars`, so that an
installation tunes the performer role (its cluster DNS domain, GPU products, back-off ages...) without
shipping a watches file of its own.

Checked at start-up against the role's `meta/argument_specs.yml`, as Ansible would check them at the
start of every run, and by the values the role can render (plugins/module_utils/role_vars_check.py):
an unknown name, a null value, a value of the wrong type or out of range stops start-up with a
message naming the variable. The watches file's own `vars` and its finalizers' `vars` are checked
the same way (`check_watches_vars`). The variables the operator sets itself for each run cannot be
given, except the finalizer's `performer_state: absent` (the shipped watches.yaml's deletion run).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.role_vars_check import (
    RESERVED,
    checked_values,
    name_errors,
    unknown_names,
)

from hourglass_operator.watches import Finalizer, Watch, WatchesError, role_directory

WHERE = "--role-vars (ROLE_VARS)"
# What a finalizer's vars may set of what the operator sets itself: the state of its run, absent.
FINALIZER_STATE = ("performer_state", "absent")
__all__ = [
    "RESERVED",
    "RoleVarsError",
    "check_role_vars",
    "check_watches_vars",
    "parse_role_vars",
    "role_default",
    "role_options",
    "with_role_vars",
]


class RoleVarsError(ValueError):
    """The role variables are not a mapping, or name or set a variable wrongly; the message says which."""


def parse_role_vars(text: str) -> dict[str, Any]:
    """The mapping `text` holds (YAML or JSON); {} for an empty text."""
    if not text.strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RoleVarsError(f"{WHERE}: not YAML or JSON: {error}") from None
    if not isinstance(value, dict):
        raise RoleVarsError(f"{WHERE}: must be a mapping of variable names to values")
    errors = name_errors(value, WHERE)
    if errors:
        raise RoleVarsError(errors[0])
    return value


def role_options(role: Path | str | None) -> dict[str, Any] | None:
    """The options the role's `meta/argument_specs.yml` declares for its main entry point (None when it
    declares none: then any variable is accepted)."""
    directory = role_directory(role)
    specs = directory / "meta" / "argument_specs.yml" if directory else None
    if specs is None or not specs.is_file():
        return None
    document = yaml.safe_load(specs.read_text()) or {}
    return ((document.get("argument_specs") or {}).get("main") or {}).get("options") or None


def role_default(role: Path | str | None, name: str) -> Any:
    """The value the role's `defaults/main.yml` gives variable `name` (None when it gives none)."""
    directory = role_directory(role)
    defaults = directory / "defaults" / "main.yml" if directory else None
    if defaults is None or not defaults.is_file():
        return None
    document = yaml.safe_load(defaults.read_text())
    return document.get(name) if isinstance(document, dict) else None


def check_role_vars(role_vars: dict[str, Any], role: Path | str | None, where: str = WHERE) -> dict[str, Any]:
    """`role_vars` as the role's argument spec converts them ("30" to 30 for an int); raises
    RoleVarsError, its message starting with `where`, naming an unknown variable or one whose value
    is null, of the wrong type or one the role cannot render."""
    options = role_options(role)
    if not role_vars or options is None:
        return dict(role_vars)
    unknown = unknown_names(role_vars, options)
    if unknown:
        raise RoleVarsError(
            f"{where}: unknown variable(s) {', '.join(unknown)} of role {role} "
            "(its variables are in its defaults/main.yml)"
        )
    # validate_types imports Ansible's module_utils only when there is something to check: they cost
    # the operator's main process about 10 MB, which it otherwise never needs.
    validated, errors = checked_values(role_vars, options)
    if errors:
        raise RoleVarsError(f"{where}: " + "; ".join(errors))
    return validated


def _checked_vars(
    values: dict[str, Any], role: Path | str | None, where: str, allowed: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`values` (a watch's or a finalizer's vars) checked as --role-vars are; a WatchesError naming
    the watches file's key otherwise."""
    errors = name_errors(values, where, allowed)
    if errors:
        raise WatchesError(errors[0])
    try:
        return check_role_vars(values, role, where)
    except RoleVarsError as error:
        raise WatchesError(str(error)) from None


def _checked_finalizer(finalizer: Finalizer, role: Path | str | None, where: str) -> Finalizer:
    name, state = FINALIZER_STATE
    if finalizer.vars.get(name, state) != state:
        raise WatchesError(f"{where}.{name}: must be {state}: a finalizer run deletes what the watch made")
    role = finalizer.role if finalizer.role or finalizer.playbook else role
    return dataclasses.replace(finalizer, vars=_checked_vars(finalizer.vars, role, where, (name,)))


def check_watches_vars(watches: list[Watch], file_name: str) -> list[Watch]:
    """Each watch with its `vars`, and its finalizer's, checked against the role they are given to
    as --role-vars are (converted by their declared types); raises WatchesError naming the key of
    the watches file `file_name` (`watches.yaml[0].vars`) and the rule. Of the variables the operator
    sets for each run, only a finalizer's `performer_state: absent` may be given."""
    result = []
    for i, watch in enumerate(watches):
        where = f"{file_name}[{i}]"
        checked = _checked_vars(watch.vars, watch.role, f"{where}.vars")
        finalizer = watch.finalizer
        if finalizer is not None:
            finalizer = _checked_finalizer(finalizer, watch.role, f"{where}.finalizer.vars")
        result.append(dataclasses.replace(watch, vars=checked, finalizer=finalizer))
    return result


def with_role_vars(watches: list[Watch], role_vars: dict[str, Any]) -> list[Watch]:
    """Each watch with `role_vars` checked against its role (and its finalizer's, when another) and
    set over its own vars; the finalizer's vars (such as the deletion's state) still win in its runs."""
    if not role_vars:
        return watches
    result = []
    for watch in watches:
        checked = check_role_vars(role_vars, watch.role)
        if watch.finalizer is not None and watch.finalizer.role not in (None, watch.role):
            check_role_vars(role_vars, watch.finalizer.role)
        result.append(dataclasses.replace(watch, vars={**watch.vars, **checked}))
    return result
