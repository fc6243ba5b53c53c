"""Checks of the performer role's variables given at deployment: the operator's `--role-vars`
(`hourglass_operator.role_vars`) and the operator role's `operator_role_vars` (the filter
`performer_role_vars_errors`) refuse the same input with the same rules.

A name must be a variable name, not one the operator sets itself for each run (RESERVED), and one the
role's `meta/argument_specs.yml` declares; a value must have the type it declares (converted as
Ansible converts role arguments: "30" is 30 for an int). Plain Python and ansible-core only.
"""

from __future__ import annotations

import re
from typing import Any

# Set by the operator for each run (its state, how deletions are waited for, the status it writes).
RESERVED = frozenset({"performer_state", "performer_wait_for_deleted_children",
                      "performer_manage_status", "performer_render_to"})  # fmt: skip
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def name_errors(role_vars: dict[str, Any], where: str) -> list[str]:
    """One message per name that is not a variable name or is reserved."""
    errors = []
    for name in role_vars:
        if not isinstance(name, str) or not NAME.match(name):
            errors.append(f"{where}: {name!r} is not a variable name")
        elif name in RESERVED:
            errors.append(f"{where}.{name}: set by the operator for each run, it cannot be given")
    return errors


def unknown_names(role_vars: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The names `options` (an argument spec's options) does not declare, sorted."""
    return sorted(str(name) for name in set(role_vars) - set(options))


def validate_types(role_vars: dict[str, Any], options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`role_vars` (declared names only) converted by their type, elements and choices, and the
    messages of the values that do not fit (each names the variable)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = {name: {k: v for k, v in options[name].items() if k in ("type", "elements", "choices")}
            for name in role_vars}  # fmt: skip
    result = ArgumentSpecValidator(spec).validate(dict(role_vars))
    return result.validated_parameters, list(result.error_messages)


def role_vars_errors(role_vars: Any, options: dict[str, Any] | None, where: str) -> list[str]:
    """Every reason to refuse `role_vars` for a role with argument spec `options` (None: any
    variable), each message starting with `where` and naming the variable."""
    if not isinstance(role_vars, dict):
        return [f"{where}: must be a mapping of variable names to values"]
    errors = name_errors(role_vars, where)
    if errors or not role_vars or options is None:
        return errors
    unknown = unknown_names(role_vars, options)
    if unknown:
        return [f"{where}: unknown variable(s) {', '.join(unknown)} of the performer role "
                "(its variables are in its defaults/main.yml)"]  # fmt: skip
    return [f"{where}: {message}" for message in validate_types(role_vars, options)[1]]
