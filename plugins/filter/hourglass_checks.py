"""Filters that check input before the roles and playbooks of this collection write or apply
anything, and resolve the paths a user gives:

- `start_dir_path`: a relative path made absolute against the directory ansible-playbook was started
  from (Ansible runs local modules in the playbook's directory, so a relative `dest` would land
  there); an absolute path unchanged.
- `storage_quantity`: a resource quantity as a canonical number string ("1024Mi" and "1Gi" are
  equal, as the API server stores them), anything else as its string.
- `performer_role_vars_errors`: why variables for the performer role (`operator_role_vars`) are
  refused, by the operator's own rules (plugins/module_utils/role_vars_check.py).
- `performer_errors`: why a Performer from a file would be refused by its CRD, each message naming
  the field: hand-written checks where their message says more than the CRD's (the name, which
  becomes the Pod's and Service's; environment variable names, naming the one refused; the port) and
  a few others, then the CRD's whole schema (module_utils/performer_schema.py, generated from the
  CRD): its structure (types, enums, bounds, patterns, required and unknown fields) and every one of
  its CEL rules, evaluated as the API server evaluates them (module_utils/cel_rules.py), for the
  fields the hand-written checks did not refuse.
- `performer_normalized`: a Performer with the whole numbers written as floats (`grpcPort: 8080.0`)
  where its CRD takes integers turned into integers, as the API server stores them; the one-off
  deploy checks and renders from it (a pod's `tolerationSeconds: 300.0` would be refused).
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.performer_drift import quantity
from ansible_collections.hourglass.operator.plugins.module_utils.performer_schema import PATTERN_WORDS, SCHEMA
from ansible_collections.hourglass.operator.plugins.module_utils.role_vars_check import role_vars_errors
from ansible_collections.hourglass.operator.plugins.module_utils.structural_schema import kind_of as _kind_of
from ansible_collections.hourglass.operator.plugins.module_utils.structural_schema import (
    normalized,
    schema_errors,
)

PULL_POLICIES = ("Always", "Never", "IfNotPresent")
# metadata.name: a DNS-1123 label of at most 53 characters, so that performer-<name> (the Pod and the
# Service) is a DNS-1035 label; the CRD refuses longer names and dots.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV_NAME = re.compile(r"[ -<>-~]+")


def start_dir_path(path: Any) -> str:
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(os.getcwd(), path))


def storage_quantity(value: Any) -> str:
    number = quantity(value)
    return str(number) if isinstance(number, Decimal) else str(value)


def performer_role_vars_errors(role_vars: Any, options: Any, where: str = "operator_role_vars") -> list[str]:
    return role_vars_errors(role_vars, options if isinstance(options, dict) else None, where)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def performer_normalized(performer: Any) -> Any:
    """`performer` with whole floats where its CRD takes integers as ints (anything else unchanged)."""
    return normalized(performer, SCHEMA)


def performer_errors(performer: Any) -> list[str]:
    """The fields of `performer` (a Performer document) its CRD would refuse: the hand-written checks'
    messages, then the schema's and its rules' about the fields those did not refuse."""
    if not isinstance(performer, dict):
        return ["must be a mapping (a Performer document)"]
    performer = performer_normalized(performer)
    checked = _checked_errors(performer)
    # Each hand-written message begins with the field it refuses.
    refused = [message.split(" ", 1)[0].rstrip(":") for message in checked]
    # The API server drops the status of a Performer it creates (the status subresource).
    document = {k: v for k, v in performer.items() if k != "status"}
    secret = ("spec.config.environment",)  # values never shown
    return checked + [
        message
        for path, message in schema_errors(document, SCHEMA, secret=secret, pattern_words=PATTERN_WORDS)
        if not any(path == r or path.startswith((r + ".", r + "[")) for r in refused)
    ]


def _checked_errors(performer: dict) -> list[str]:
    """The hand-written checks, each message beginning with the field it refuses."""
    errors = []
    metadata = performer.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        errors.append("metadata.name is required")
    elif len(name) > 53:  # the renderer's own words (roles/performer/templates/performers.yaml.j2)
        errors.append(
            f'metadata.name: the Pod and Service name "performer-{name}" is {len(name) + 10} characters; it'
            " must be at most 63 (a DNS-1035 label): use a name of at most 53 characters"
        )
    elif not _NAME.fullmatch(name):
        errors.append(
            f"metadata.name {name!r} must be at most 53 lower-case letters, digits or '-', starting and"
            " ending with a letter or digit (the Pod and Service are named performer-<name>)"
        )
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _NAME.fullmatch(namespace)
    ):
        errors.append(f"metadata.namespace {namespace!r} must be a namespace name (DNS-1123 label)")
    spec = performer.get("spec")
    if not isinstance(spec, dict):
        return [*errors, "spec is required: a mapping with avsAddress and image"]
    policy = spec.get("imagePullPolicy")
    if policy is not None and policy not in PULL_POLICIES:
        errors.append(f"spec.imagePullPolicy {policy!r} must be one of {', '.join(PULL_POLICIES)}")
    version = spec.get("version")
    if version is not None and (not isinstance(version, str) or len(version) > 128):
        errors.append("spec.version must be a string of at most 128 characters")
    config = spec.get("config")
    if config is None:
        return errors
    if not isinstance(config, dict):
        return [*errors, "spec.config must be a mapping"]
    port = config.get("grpcPort")
    if port is not None and (not _is_int(port) or not 1 <= port <= 65535):
        errors.append(f"spec.config.grpcPort {port!r} must be a port number (an integer 1-65535)")
    environment = config.get("environment")
    if environment is not None:
        if not isinstance(environment, dict):
            errors.append("spec.config.environment must be a mapping of variable names to string values")
        else:
            for key, value in environment.items():
                if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                    errors.append(
                        f"spec.config.environment: {key!r} must be non-empty printable ASCII without '='"
                    )
                elif not isinstance(value, str):
                    # The type, never the value: an unquoted secret (a PIN, a numeric token) would
                    # land in the job log.
                    errors.append(
                        f"spec.config.environment.{key} must be a string (quote it in YAML),"
                        f" got {_kind_of(value)}"
                    )
    for field in ("args", "command"):
        value = config.get(field)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            errors.append(f"spec.config.{field} must be a list of strings")
    return errors


class FilterModule:
    def filters(self) -> dict:
        return {
            "start_dir_path": start_dir_path,
            "storage_quantity": storage_quantity,
            "performer_role_vars_errors": performer_role_vars_errors,
            "performer_errors": performer_errors,
            "performer_normalized": performer_normalized,
        }
