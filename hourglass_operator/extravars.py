"""Serializes a batch's extra vars for ansible-playbook so that every string taken from the cluster
is marked unsafe (`{"__ansible_unsafe": ...}` in JSON, the operator-sdk `markUnsafe` behaviour):
Ansible then treats Performer contents as data and never renders Jinja in them, so a CR author
cannot run code in the operator. (YAML `!unsafe` tags are not used: ansible-core 2.19 re-resolves
tagged scalars, turning a quoted "0x11..." address into an integer.)"""

from __future__ import annotations

import json
from typing import Any


def mark_unsafe(value: Any) -> Any:
    """A copy of `value` with every string value wrapped as unsafe (mapping keys stay plain)."""
    if isinstance(value, str):
        return {"__ansible_unsafe": value}
    if isinstance(value, dict):
        return {key: mark_unsafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mark_unsafe(item) for item in value]
    return value


def dump_unsafe(extravars: dict[str, Any]) -> str:
    """JSON for `ansible-playbook -e @file` with every string value marked unsafe."""
    return json.dumps(mark_unsafe(extravars), separators=(",", ":"))
