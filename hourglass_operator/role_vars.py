"""Role variables given at deployment (`--role-vars` / `ROLE_VARS`, the Helm chart's `roleVars`): a
YAML or JSON mapping set on every watch's runs, over the watches file's own `vars`, so that an
installation tunes the performer role (its cluster DNS domain, GPU products, back-off ages...) without
shipping a watches file of its own.

Checked at start-up against the role's `meta/argument_specs.yml`, as Ansible would check them at the
start of every run: an unknown name or a value of the wrong type stops start-up with a message naming
the variable. The variables the operator sets itself for each run cannot be given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.role_vars_check import (
    RESERVED,
    name_errors,
    unknown_names,
    validate_types,
)

from hourglass_operator.watches import Watch, role_directory

WHERE = "--role-vars (ROLE_VARS)"
__all__ = [
    "RESERVED",
    "RoleVarsError",
    "check_role_vars",
    "parse_role_vars",
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


def check_role_vars(role_vars: dict[str, Any], role: Path | str | None) -> dict[str, Any]:
    """`role_vars` as the role's argument spec converts them ("30" to 30 for an int); raises
    RoleVarsError naming an unknown variable or one of the wrong type."""
    options = role_options(role)
    if not role_vars or options is None:
        return dict(role_vars)
    unknown = unknown_names(role_vars, options)
    if unknown:
        raise RoleVarsError(
            f"{WHERE}: unknown variable(s) {', '.join(unknown)} of role {role} "
            "(its variables are in its defaults/main.yml)"
        )
    # validate_types imports Ansible's module_utils only when there is something to check: they cost
    # the operator's main process about 10 MB, which it otherwise never needs.
    validated, errors = validate_types(role_vars, options)
    if errors:
        raise RoleVarsError(f"{WHERE}: " + "; ".join(errors))
    return validated


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
