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
  the field: hand-written checks of the fields whose CEL rules matter here (the name, the AVS address,
  the image, environment variable names) and a few others, then the CRD's whole structural schema
  (types, enums, bounds, patterns, required and unknown fields; module_utils/performer_schema.py,
  generated from the CRD) for the fields those did not refuse. The CRD's other CEL rules are not
  checked.
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
from ansible_collections.hourglass.operator.plugins.module_utils.structural_schema import schema_errors

PULL_POLICIES = ("Always", "Never", "IfNotPresent")
# metadata.name: a DNS-1123 label of at most 53 characters, so that performer-<name> (the Pod and the
# Service) is a DNS-1035 label; the CRD refuses longer names and dots.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_IMAGE = re.compile(r"^[^\s{}]+$")
_ENV_NAME = re.compile(r"^[ -<>-~]+$")


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


def performer_errors(performer: Any) -> list[str]:
    """The fields of `performer` (a Performer document) its CRD would refuse: the hand-written checks'
    messages, then the schema's about the fields those did not refuse (one message a field)."""
    if not isinstance(performer, dict):
        return ["must be a mapping (a Performer document)"]
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
    elif not _NAME.match(name):
        errors.append(
            f"metadata.name {name!r} must be at most 53 lower-case letters, digits or '-', starting and"
            " ending with a letter or digit (the Pod and Service are named performer-<name>)"
        )
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _NAME.match(namespace)
    ):
        errors.append(f"metadata.namespace {namespace!r} must be a namespace name (DNS-1123 label)")
    spec = performer.get("spec")
    if not isinstance(spec, dict):
        return [*errors, "spec is required: a mapping with avsAddress and image"]
    address = spec.get("avsAddress")
    if address is None:
        errors.append("spec.avsAddress is required")
    elif not isinstance(address, str) or not _ADDRESS.match(address):
        errors.append(
            f"spec.avsAddress {address!r} must be an Ethereum address: 0x followed by 40 hexadecimal digits"
        )
    image = spec.get("image")
    if image is None:
        errors.append("spec.image is required")
    elif not isinstance(image, str) or len(image) > 4096 or not _IMAGE.match(image):
        errors.append(
            f"spec.image {image!r} must be a non-empty image reference without whitespace or template braces"
        )
    policy = spec.get("imagePullPolicy")
    if policy is not None and policy not in PULL_POLICIES:
        errors.append(f"spec.imagePullPolicy {policy!r} must be one of {', '.join(PULL_POLICIES)}")
    version = spec.get("version")
    if version is not None and (not isinstance(version, str) or len(version) > 128):
        errors.append("spec.version must be a string of at most 128 characters")
    hardware = spec.get("hardwareRequirements")
    if isinstance(hardware, dict):
        errors += _hardware_errors(hardware)
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
                if not isinstance(key, str) or not _ENV_NAME.match(key):
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


def _hardware_errors(hardware: dict) -> list[str]:
    """The CRD's rules on how the hardware fields go together (its CEL rules, in its words): without
    them a GPU type without a count would get the GPU's nodes but no GPU, a TEE type without
    teeRequired no TEE."""
    errors, where = [], "spec.hardwareRequirements"
    count = hardware.get("gpuCount")  # of another type: the schema's message says so
    if hardware.get("gpuType") and (count is None or (_is_int(count) and count < 1)):
        errors.append(f"{where}.gpuCount must be at least 1 when gpuType is set")
    if hardware.get("teeRequired") is True and hardware.get("teeType") is None:
        tee_types = SCHEMA["properties"]["spec"]["properties"]["hardwareRequirements"]["properties"][
            "teeType"
        ]
        errors.append(
            f"{where}.teeType is required when teeRequired is true (one of: {', '.join(tee_types['enum'])})"
        )
    required = hardware.get("teeRequired")  # of another type: the schema's message says so
    if hardware.get("teeType") is not None and (required is None or required is False):
        errors.append(f"{where}.teeRequired must be true when teeType is set")
    return errors


class FilterModule:
    def filters(self) -> dict:
        return {
            "start_dir_path": start_dir_path,
            "storage_quantity": storage_quantity,
            "performer_role_vars_errors": performer_role_vars_errors,
            "performer_errors": performer_errors,
        }
