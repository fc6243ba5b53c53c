"""The value rules the executor checks in more than one place, written once: Ethereum addresses and
task ids (`0x` + hex of a fixed size), secp256k1 private keys in hex, Kubernetes names (DNS-1123 label
and subdomain), label values, ConfigMap/Secret keys, environment variable names and image references
(repository, tag, digest).

The configuration (`config/types.py`), the gRPC services (`server/`), the signing code (`signing/`)
and the static chain file (`chain/static.py`) all use these predicates, so that each accepts and
refuses the same values. A predicate takes a value of any type and is False for a non-string; the
error messages stay with the callers, which know the field they name.
"""

from __future__ import annotations

import re
from typing import TypeGuard

ADDRESS_SIZE = 20  # bytes
TASK_ID_SIZE = 32  # bytes
# Limits of the Performer CRD (crds/hourglass.eigenlayer.io_performers.yaml), which the API server
# enforces: a value beyond them makes every deploy of the performer fail.
DNS1123_SUBDOMAIN_MAX_LENGTH = 253  # object names (Kubernetes' IsDNS1123Subdomain; no per-label limit)
IMAGE_REFERENCE_MAX_LENGTH = 4096  # spec.image: repository:tag or repository@digest
ENV_NAME_MAX_LENGTH = 253  # spec.config.environmentFrom[].name

_HEX = "[0-9a-fA-F]"
_PRIVATE_KEY_RE = re.compile(rf"(?:0x)?{_HEX}{{64}}")
_DNS1123_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_CONFIG_KEY_RE = re.compile(r"[-._a-zA-Z0-9]{1,253}")
_ENV_NAME_RE = re.compile(r"[\x20-\x3c\x3e-\x7e]+")  # printable ASCII without '='
_IMAGE_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IMAGE_DIGEST_RE = re.compile(rf"[a-z0-9]+([+._-][a-z0-9]+)*:{_HEX}{{32,}}")
_IMAGE_FORBIDDEN_RE = re.compile(r"[\s{}]")


def _full(pattern: re.Pattern[str], value: object) -> TypeGuard[str]:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_hex_bytes(value: object, size: int) -> TypeGuard[str]:
    """`0x` followed by exactly 2 * `size` hexadecimal digits (either case)."""
    return (
        isinstance(value, str)
        and len(value) == 2 + 2 * size
        and value.startswith("0x")
        and re.fullmatch(f"{_HEX}*", value[2:]) is not None
    )


def is_address(value: object) -> TypeGuard[str]:
    """An Ethereum address: `0x` + 40 hexadecimal digits (the EIP-55 checksum is not checked)."""
    return is_hex_bytes(value, ADDRESS_SIZE)


def is_task_id(value: object) -> TypeGuard[str]:
    """A task id: `0x` + 64 hexadecimal digits."""
    return is_hex_bytes(value, TASK_ID_SIZE)


def is_private_key_hex(value: object) -> TypeGuard[str]:
    """A secp256k1 private key as text: 64 hexadecimal digits, optionally `0x`-prefixed."""
    return _full(_PRIVATE_KEY_RE, value)


def is_dns1123_label(value: object) -> TypeGuard[str]:
    """A DNS-1123 label (a namespace): 1-63 lower-case alphanumerics or '-', alphanumeric at both ends."""
    return _full(_DNS1123_LABEL_RE, value)


def is_dns1123_subdomain(value: object) -> TypeGuard[str]:
    """A DNS-1123 subdomain (most object names): DNS-1123 labels joined by '.', at most 253
    characters in all (as Kubernetes checks it: no limit per label)."""
    return (
        isinstance(value, str)
        and len(value) <= DNS1123_SUBDOMAIN_MAX_LENGTH
        and _full(_DNS1123_SUBDOMAIN_RE, value)
    )


def is_label_value(value: object) -> TypeGuard[str]:
    """A non-empty Kubernetes label value: 1-63 of [A-Za-z0-9-_.], alphanumeric at both ends."""
    return _full(_LABEL_VALUE_RE, value)


def is_config_key(value: object) -> TypeGuard[str]:
    """A key of a ConfigMap or Secret: 1-253 alphanumerics, '-', '_' or '.'."""
    return _full(_CONFIG_KEY_RE, value)


def is_env_name(value: object) -> TypeGuard[str]:
    """An environment variable name as containers accept it: printable ASCII without '='."""
    return _full(_ENV_NAME_RE, value)


def is_image_tag(value: object) -> TypeGuard[str]:
    """An image tag: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'."""
    return _full(_IMAGE_TAG_RE, value)


def is_image_digest(value: object) -> TypeGuard[str]:
    """An image digest such as `sha256:` + 64 hexadecimal digits."""
    return _full(_IMAGE_DIGEST_RE, value)


def image_repository_problem(value: str, *, tag_allowed: bool = False) -> str | None:
    """Why `value` is not an image repository (with an optional `:tag` when `tag_allowed`), or None."""
    if not value.strip():
        return "must not be empty"
    if len(value) > IMAGE_REFERENCE_MAX_LENGTH:
        return f"must be at most {IMAGE_REFERENCE_MAX_LENGTH} characters (the Performer CRD's limit)"
    if _IMAGE_FORBIDDEN_RE.search(value):
        return "must not contain whitespace or braces"
    if "@" in value or (not tag_allowed and ":" in value.rsplit("/", 1)[-1]):
        return "must not include a digest" if tag_allowed else "must not include a tag or digest"
    return None


def split_image_reference(value: str) -> tuple[str, str | None]:
    """(repository, tag or None) of `repository[:tag]`; a ':' before the last '/' is a registry port."""
    head, _, last = value.rpartition("/")
    if ":" not in last:
        return value, None
    name, tag = last.rsplit(":", 1)
    return (f"{head}/{name}" if head else name), tag
