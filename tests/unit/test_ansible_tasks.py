"""Checks of the project's Ansible tasks (roles/, playbooks/, molecule/) for mistakes no linter
catches: kubernetes.core.k8s ignores `server_side_apply` unless `apply` is set as well, and then
creates or merge-patches instead (the install role did so until this test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO

pytestmark = pytest.mark.unit

TASK_FILES = sorted(
    path
    for top in ("roles", "playbooks", "molecule")
    for path in (REPO / top).rglob("*.yml")
    if "templates" not in path.parts
)


def k8s_calls(node: Any) -> Iterator[dict]:
    """The arguments of every kubernetes.core.k8s call in a parsed YAML document (blocks included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "kubernetes.core.k8s" and isinstance(value, dict):
                yield value
            else:
                yield from k8s_calls(value)
    elif isinstance(node, list):
        for item in node:
            yield from k8s_calls(item)


def test_server_side_apply_is_always_asked_with_apply():
    offenders = [
        f"{path.relative_to(REPO)}: {call}"
        for path in TASK_FILES
        for document in yaml.safe_load_all(path.read_text())
        for call in k8s_calls(document)
        if "server_side_apply" in call and call.get("apply") in (None, False)
    ]
    assert REPO / "roles" / "operator" / "tasks" / "present.yml" in TASK_FILES
    assert not offenders, "server_side_apply without apply (the module then ignores it):\n" + "\n".join(
        offenders
    )
