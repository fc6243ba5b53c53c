"""Reads watches.yaml in the operator-sdk Ansible format: which kind runs which role or playbook,
with which vars and finalizer. Anything unknown or invalid stops start-up with an error naming it.

A role is a directory (relative names resolve under `roles/` next to the file) or, as operator-sdk
accepts, a collection's role by FQCN (`hourglass.operator.performer`), which must be installed where
Ansible looks for collections.

Supported keys: group, version, kind, role, playbook, vars, finalizer {name, role, playbook, vars},
reconcilePeriod, manageStatus, watchDependentResources, snakeCaseParameters, markUnsafe, selector
{matchLabels, matchExpressions}, maxRunnerArtifacts. A selector's label keys and values must be
strings (quote `true` or `1` in YAML), its `values` a list of them. The `vars` and the finalizer's
`vars` are checked against the role at start-up as `--role-vars` are (`role_vars.check_watches_vars`).

Three values are refused because this loop cannot honour them safely: `markUnsafe: false` (CR
strings must never be templated), `manageStatus: true` (the role writes status itself) and
`watchDependentResources: false` (each run gets the Pod and Service as the loop's informers hold
them: without them the role would take them for missing, and a finalizer run for gone).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ansible.config.manager import ConfigManager
from ansible_collections.hourglass.operator.plugins.module_utils.role_vars_check import (
    is_label_value,
    is_qualified_name,
)

WATCH_KEYS = {
    "group", "version", "kind", "role", "playbook", "vars", "finalizer", "reconcilePeriod",
    "manageStatus", "watchDependentResources", "snakeCaseParameters", "markUnsafe", "selector",
    "maxRunnerArtifacts", "watchClusterScopedResources",
}  # fmt: skip
FINALIZER_KEYS = {"name", "role", "playbook", "vars"}
SELECTOR_KEYS = {"matchLabels", "matchExpressions"}
FQCN_ROLE = re.compile(r"^([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)$")
DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


class WatchesError(ValueError):
    """watches.yaml is unreadable or invalid; the message names the entry and the key."""


@dataclass(frozen=True)
class Finalizer:
    name: str
    role: Path | str | None = None
    playbook: Path | None = None
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Watch:
    group: str
    version: str
    kind: str
    role: Path | str | None = None  # a directory, or a collection's role by FQCN
    playbook: Path | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    finalizer: Finalizer | None = None
    reconcile_period: float = 36000.0
    snake_case_parameters: bool = False
    label_selector: str = ""
    max_runner_artifacts: int = 20
    plural: str = ""  # not in watches.yaml: what API discovery says (`discovery.wait_for_plural`)

    @property
    def cr_var(self) -> str:
        """The extra var holding the whole CR: `_<group with . as _>_<kind lower-case>`."""
        return "_" + self.group.replace(".", "_").replace("-", "_") + "_" + self.kind.lower()


def parse_duration(text: str, where: str) -> float:
    match = DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise WatchesError(f"{where}: invalid duration {text!r} (use Go durations such as 30s, 10m, 1h)")
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _label(value: Any, where: str, *, key: bool) -> str:
    """`value` as a label key (`key`) or value, refused unless it is one: a string, quoted in YAML
    when it looks like a boolean or a number."""
    if not isinstance(value, str):
        hint = f" (quote it: '{str(value).lower()}')" if isinstance(value, (bool, int, float)) else ""
        raise WatchesError(f"{where}: must be a string, not {value!r}{hint}")
    if key and not is_qualified_name(value):
        raise WatchesError(f"{where}: {value!r} is not a label key ([prefix/]name)")
    if not key and not is_label_value(value):
        raise WatchesError(
            f"{where}: {value!r} is not a label value (at most 63 letters, digits, '-', '_' or '.')"
        )
    return value


def _match_labels(labels: Any, where: str) -> list[str]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        raise WatchesError(f"{where}: must be a mapping of label keys to values")
    return [
        f"{_label(k, f'{where} (a key)', key=True)}={_label(v, f'{where}.{k}', key=False)}"
        for k, v in labels.items()
    ]


def _match_expression(expression: Any, where: str) -> str:
    if not isinstance(expression, dict):
        raise WatchesError(f"{where}: must be a mapping with key, operator and values")
    unknown = set(expression) - {"key", "operator", "values"}
    if unknown:
        raise WatchesError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if "key" not in expression:
        raise WatchesError(f"{where}.key: required")
    key, operator = _label(expression["key"], f"{where}.key", key=True), expression.get("operator")
    values = expression.get("values")
    if operator in ("In", "NotIn"):
        if not isinstance(values, list) or not values:
            raise WatchesError(f"{where}.values: must be a non-empty list of strings for {operator}")
        labels = [_label(v, f"{where}.values[{i}]", key=False) for i, v in enumerate(values)]
        return f"{key} {operator.lower()} ({','.join(labels)})"
    if operator in ("Exists", "DoesNotExist"):
        if values:
            raise WatchesError(f"{where}.values: must be empty for {operator}")
        return key if operator == "Exists" else f"!{key}"
    raise WatchesError(f"{where}.operator: must be In, NotIn, Exists or DoesNotExist, not {operator!r}")


def _label_selector(selector: Any, where: str) -> str:
    if not isinstance(selector, dict):
        raise WatchesError(f"{where}: must be a mapping with matchLabels and/or matchExpressions")
    unknown = set(selector) - SELECTOR_KEYS
    if unknown:
        raise WatchesError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    parts = _match_labels(selector.get("matchLabels"), f"{where}.matchLabels")
    expressions = selector.get("matchExpressions")
    if expressions is None:
        expressions = []
    if not isinstance(expressions, list):
        raise WatchesError(f"{where}.matchExpressions: must be a list")
    parts += [_match_expression(e, f"{where}.matchExpressions[{i}]") for i, e in enumerate(expressions)]
    return ",".join(parts)


def _path(value: Any, base: Path, where: str, *, role: bool) -> Path:
    if not isinstance(value, str) or not value:
        raise WatchesError(f"{where}: must be a non-empty string")
    path = Path(value)
    if not path.is_absolute():
        path = base / ("roles" if role and "/" not in value else "") / value
    if not path.exists():
        raise WatchesError(f"{where}: {path} does not exist")
    return path.resolve()


def collection_paths() -> list[Path]:
    """Where Ansible looks for collections, as its own configuration says (ANSIBLE_COLLECTIONS_PATH,
    ansible.cfg, its defaults), then the Python path when Ansible scans it."""
    settings = ConfigManager()
    paths = [Path(p).expanduser() for p in settings.get_config_value("COLLECTIONS_PATHS")]
    if settings.get_config_value("COLLECTIONS_SCAN_SYS_PATH"):
        paths += [Path(p) for p in sys.path if p]
    return paths


def role_directory(role: Path | str | None) -> Path | None:
    """The directory of a role given as a path or by FQCN (None when no installed collection has it)."""
    if isinstance(role, Path):
        return role
    match = FQCN_ROLE.match(role) if isinstance(role, str) else None
    if not match:
        return None
    namespace, collection, name = match.groups()
    for path in collection_paths():
        if (directory := path / "ansible_collections" / namespace / collection / "roles" / name).is_dir():
            return directory
    return None


def _collection_role(value: str, where: str) -> str:
    if role_directory(value):
        return value
    namespace, collection, _ = FQCN_ROLE.match(value).groups()
    raise WatchesError(
        f"{where}: role {value} is not installed (no collection {namespace}.{collection} with that role "
        "on ANSIBLE_COLLECTIONS_PATH or the Python path)"
    )


def _bool(entry: dict, key: str, default: bool, where: str) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise WatchesError(f"{where}.{key}: must be true or false, not {value!r}")
    return value


def _target(entry: dict, base: Path, where: str) -> tuple[Path | str | None, Path | None]:
    if ("role" in entry) == ("playbook" in entry):
        raise WatchesError(f"{where}: set exactly one of role or playbook")
    if "role" in entry:
        if isinstance(entry["role"], str) and FQCN_ROLE.match(entry["role"]):
            return _collection_role(entry["role"], f"{where}.role"), None
        return _path(entry["role"], base, f"{where}.role", role=True), None
    return None, _path(entry["playbook"], base, f"{where}.playbook", role=False)


def _vars(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WatchesError(f"{where}: must be a mapping")
    return value


def _finalizer(value: Any, base: Path, where: str) -> Finalizer:
    if not isinstance(value, dict):
        raise WatchesError(f"{where}: must be a mapping")
    unknown = set(value) - FINALIZER_KEYS
    if unknown:
        raise WatchesError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(value.get("name"), str) or "/" not in value["name"]:
        raise WatchesError(f"{where}.name: must be a qualified name such as example.com/finalizer")
    role = playbook = None
    if "role" in value or "playbook" in value:
        role, playbook = _target(value, base, where)
    return Finalizer(value["name"], role, playbook, _vars(value.get("vars"), f"{where}.vars"))


def _watch(entry: Any, base: Path, where: str) -> Watch:
    if not isinstance(entry, dict):
        raise WatchesError(f"{where}: must be a mapping")
    unknown = set(entry) - WATCH_KEYS
    if unknown:
        raise WatchesError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("group", "version", "kind"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise WatchesError(f"{where}.{key}: required")
    role, playbook = _target(entry, base, where)
    if not _bool(entry, "markUnsafe", True, where):
        raise WatchesError(
            f"{where}.markUnsafe: false is not supported: CR strings are never evaluated as templates"
        )
    if _bool(entry, "manageStatus", False, where):
        raise WatchesError(f"{where}.manageStatus: true is not supported: the role writes the status itself")
    if not _bool(entry, "watchDependentResources", True, where):
        raise WatchesError(
            f"{where}.watchDependentResources: false is not supported: each run is given the Pod and"
            " Service the loop watches"
        )
    if _bool(entry, "watchClusterScopedResources", False, where):
        raise WatchesError(f"{where}.watchClusterScopedResources: true is not supported")
    artifacts = entry.get("maxRunnerArtifacts", 20)
    if not isinstance(artifacts, int) or isinstance(artifacts, bool) or artifacts < 1:
        raise WatchesError(f"{where}.maxRunnerArtifacts: must be a positive integer")
    return Watch(
        group=entry["group"],
        version=entry["version"],
        kind=entry["kind"],
        role=role,
        playbook=playbook,
        vars=_vars(entry.get("vars"), f"{where}.vars"),
        finalizer=_finalizer(entry["finalizer"], base, f"{where}.finalizer")
        if "finalizer" in entry
        else None,
        reconcile_period=parse_duration(entry.get("reconcilePeriod", "10h"), f"{where}.reconcilePeriod"),
        snake_case_parameters=_bool(entry, "snakeCaseParameters", False, where),
        label_selector=_label_selector(entry["selector"], f"{where}.selector") if "selector" in entry else "",
        max_runner_artifacts=artifacts,
    )


def load_watches(path: Path) -> list[Watch]:
    """The watches of `path`; roles and playbooks resolve relative to the file's directory."""
    try:
        entries = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise WatchesError(f"{path}: cannot read: {error}") from error
    if not isinstance(entries, list) or not entries:
        raise WatchesError(f"{path}: must be a non-empty list of watches")
    base = path.resolve().parent
    watches = [_watch(entry, base, f"{path.name}[{i}]") for i, entry in enumerate(entries)]
    seen = set()
    for watch in watches:
        gvk = (watch.group, watch.version, watch.kind)
        if gvk in seen:
            raise WatchesError(f"{path}: {watch.kind}.{watch.group}/{watch.version} is watched twice")
        seen.add(gvk)
    return watches
