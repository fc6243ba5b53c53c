"""Checks of the performer role's variables given at deployment: the operator's `--role-vars`
(`hourglass_operator.role_vars`) and the operator role's `operator_role_vars` (the filter
`performer_role_vars_errors`) refuse the same input with the same rules.

A name must be a variable name, not one the operator sets itself for each run (RESERVED), and one the
role's `meta/argument_specs.yml` declares; a value must have the type it declares (converted as
Ansible converts role arguments: "30" is 30 for an int), must not be null, and must be one the role
can render (`value_errors`: ports, durations, resource and label names, GPU products). Plain Python
and ansible-core only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

# Set by the operator for each run (its state, how deletions are waited for, the status it writes).
RESERVED = frozenset({"performer_state", "performer_wait_for_deleted_children",
                      "performer_manage_status", "performer_render_to"})  # fmt: skip
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Kubernetes names: a label value (also a label key's name part) and a DNS subdomain (a key's prefix).
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# The role's durations in seconds: at most 100 years, as more overflows the dates the role computes.
SECONDS_VARS = ("performer_delete_wait_seconds", "performer_unschedulable_timeout",
                "performer_ended_pod_min_age_seconds", "performer_ended_pod_max_age_seconds",
                "performer_lost_pod_after_seconds")  # fmt: skip
MAX_SECONDS = 3_155_760_000  # 100 years of 365.25 days


def is_label_value(value: Any) -> bool:
    """Whether `value` is a valid Kubernetes label value (at most 63 characters, may be empty)."""
    return isinstance(value, str) and len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def is_qualified_name(value: Any) -> bool:
    """Whether `value` is a Kubernetes qualified name (a label key): `[prefix/]name`, the prefix a DNS
    subdomain of at most 253 characters, the name a non-empty label value."""
    if not isinstance(value, str):
        return False
    prefix, slash, name = value.rpartition("/")
    if slash and not (0 < len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(name) and is_label_value(name)


def name_errors(role_vars: dict[str, Any], where: str, allowed: Collection[str] = ()) -> list[str]:
    """One message per name that is not a variable name or is reserved (other than those `allowed`)."""
    errors = []
    for name in role_vars:
        if not isinstance(name, str) or not NAME.match(name):
            errors.append(f"{where}: {name!r} is not a variable name")
        elif name in RESERVED and name not in allowed:
            errors.append(f"{where}.{name}: set by the operator for each run, it cannot be given")
    return errors


def unknown_names(role_vars: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The names `options` (an argument spec's options) does not declare, sorted."""
    return sorted(str(name) for name in set(role_vars) - set(options))


def validate_types(role_vars: dict[str, Any], options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`role_vars` (declared names only) converted by their type, elements and choices, and the
    messages of the values that do not fit or are null (each names the variable)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = {name: {k: v for k, v in options[name].items() if k in ("type", "elements", "choices")}
            for name in role_vars}  # fmt: skip
    result = ArgumentSpecValidator(spec).validate(dict(role_vars))
    nulls = [f"{name}: must not be null (an empty value); leave it out for the role's default"
             for name in role_vars if role_vars[name] is None]  # fmt: skip
    return result.validated_parameters, [*result.error_messages, *nulls]


def _port(value: Any) -> str | None:
    return None if 1 <= value <= 65535 else "must be a port number from 1 to 65535"


def _seconds(value: Any) -> str | None:
    return None if 0 <= value <= MAX_SECONDS else f"must be from 0 to {MAX_SECONDS} seconds (100 years)"


def _resource_name(value: Any) -> str | None:
    if "/" in value and is_qualified_name(value):
        return None
    return "must be an extended resource name such as nvidia.com/gpu (a domain, a slash and a name)"


def _label_key(value: Any) -> str | None:
    return None if is_qualified_name(value) else "must be a label key such as nvidia.com/gpu.product"


def _field_manager(value: Any) -> str | None:
    if value and is_label_value(value):
        return None
    return ("must be a non-empty label value (at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit): it is the app.kubernetes.io/managed-by label")  # fmt: skip


def _gpu_products(value: Any) -> str | None:
    for gpu_type, products in value.items():
        if not isinstance(gpu_type, str) or not gpu_type:
            return f"{gpu_type!r}: a GPU type must be a non-empty string"
        if not isinstance(products, list) or not products:
            return f"{gpu_type}: must be a non-empty list of GPU products, not {products!r}"
        if not all(is_label_value(product) and product for product in products):
            return f"{gpu_type}: every GPU product must be a non-empty label value (a string)"
    return None


VALUE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "performer_default_grpc_port": _port,
    "performer_gpu_resource": _resource_name,
    "performer_gpu_product_label": _label_key,
    "performer_field_manager": _field_manager,
    "performer_gpu_products": _gpu_products,
    **{name: _seconds for name in SECONDS_VARS},
}


def value_errors(role_vars: dict[str, Any]) -> list[str]:
    """One message per value, already of its declared type and not null, the role could not render
    (each names the variable and the rule)."""
    errors = []
    for name, value in role_vars.items():
        check = VALUE_CHECKS.get(name)
        problem = check(value) if check is not None and value is not None else None
        if problem:
            errors.append(f"{name}: {problem}")
    return errors


def checked_values(role_vars: dict[str, Any], options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`role_vars` (declared names only) converted by their declared types, and the messages of the
    values of a wrong type, null, or that the role could not render."""
    validated, errors = validate_types(role_vars, options)
    return validated, errors or value_errors(validated)


def role_vars_errors(
    role_vars: Any, options: dict[str, Any] | None, where: str, allowed: Collection[str] = ()
) -> list[str]:
    """Every reason to refuse `role_vars` for a role with argument spec `options` (None: any
    variable), each message starting with `where` and naming the variable; `allowed` are reserved
    names that may be given there."""
    if not isinstance(role_vars, dict):
        return [f"{where}: must be a mapping of variable names to values"]
    errors = name_errors(role_vars, where, allowed)
    if errors or not role_vars or options is None:
        return errors
    unknown = unknown_names(role_vars, options)
    if unknown:
        return [f"{where}: unknown variable(s) {', '.join(unknown)} of the performer role "
                "(its variables are in its defaults/main.yml)"]  # fmt: skip
    return [f"{where}: {message}" for message in checked_values(role_vars, options)[1]]
