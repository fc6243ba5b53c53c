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
import re
from pathlib import Path
from typing import Any

import yaml

from hourglass_operator.watches import Watch, role_directory

WHERE = "--role-vars (ROLE_VARS)"
# Set by the operator for each run (its state, how deletions are waited for, the status it writes).
RESERVED = frozenset({"performer_state", "performer_wait_for_deleted_children",
                      "performer_manage_status", "performer_render_to"})  # fmt: skip
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    for name in value:
        if not isinstance(name, str) or not NAME.match(name):
            raise RoleVarsError(f"{WHERE}: {name!r} is not a variable name")
        if name in RESERVED:
            raise RoleVarsError(f"{WHERE}.{name}: set by the operator for each run, it cannot be given")
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
    unknown = sorted(set(role_vars) - set(options))
    if unknown:
        raise RoleVarsError(
            f"{WHERE}: unknown variable(s) {', '.join(unknown)} of role {role} "
            "(its variables are in its defaults/main.yml)"
        )
    # Imported only when there is something to check: Ansible's module_utils cost the operator's main
    # process about 10 MB, which it otherwise never needs.
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = {name: {k: v for k, v in options[name].items() if k in ("type", "elements", "choices")}
            for name in role_vars}  # fmt: skip
    result = ArgumentSpecValidator(spec).validate(role_vars)
    if result.error_messages:
        raise RoleVarsError(f"{WHERE}: " + "; ".join(result.error_messages))
    return result.validated_parameters


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
