"""How a live Pod or Service differs from the one the role rendered, in the fields that matter
(`performer_pod_drift`, `performer_service_drift`; also the filters of the same names,
plugins/filter/performer_drift.py). The plan (performer_plan) replaces a pod that
drifted and restores a Service that drifted.

Why not only the spec-hash annotation: another client's edit (`kubectl set image`, `kubectl edit
service`, a pod recreated under the same name with the annotation copied) leaves it unchanged.

The live object carries what the API server added on the way in: defaults (probe thresholds,
termination message path, port protocol, DNS policy...), canonical quantities ("0.5" becomes
"500m", requests copied from limits), the service account token volume and mounts, tolerations of
admission plugins, allocated cluster IPs. Each compared field is normalised on both sides so that
only a real difference counts. A field the role does not render must be absent (or at its default)
in the live object, so what another client added counts as well. Node selectors and tolerations are
compared as "at least what was rendered": admission (RuntimeClass scheduling, default toleration
seconds) adds to them.

Differences are reported as short messages naming the field; env values never appear in them
(they may be credentials), only the names of the variables that differ.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    ALLOCATED,  # kept when a Service is restored
    service_needs_recreate,
)

Obj = dict[str, Any]

TOKEN_VOLUME = re.compile(r"^kube-api-access-[a-z0-9]+$")  # the ServiceAccount admission plugin's volume
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
CONTAINER_FIELDS = (
    "image", "imagePullPolicy", "command", "args", "workingDir", "env", "envFrom", "ports", "resources",
    "securityContext", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "volumeMounts",
    "volumeDevices", "restartPolicy", "stdin", "tty",
)  # fmt: skip
# Pod fields compared exactly, with the value the API server gives them when they are not set.
POD_FIELDS = {
    "securityContext": {}, "serviceAccountName": "default", "automountServiceAccountToken": None,
    "runtimeClassName": None, "priorityClassName": None, "affinity": None, "imagePullSecrets": None,
    "hostNetwork": None, "hostPID": None, "hostIPC": None, "shareProcessNamespace": None,
    "activeDeadlineSeconds": None, "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
    "dnsConfig": None, "restartPolicy": "Always", "enableServiceLinks": True, "hostAliases": None,
    "readinessGates": None, "topologySpreadConstraints": None, "resourceClaims": None, "os": None,
    "hostUsers": None, "volumes": None,
}  # fmt: skip
# Service spec fields the API server fills in, with the values that leave the Service as rendered.
SERVICE_DEFAULTS = {"sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")


def quantity(value: Any) -> Any:
    """A resource quantity as a number ("0.5" and "500m" are equal); anything else unchanged."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return value
    try:
        return (Decimal(match.group(1)) * _SUFFIXES[match.group(2)]).normalize()
    except InvalidOperation:
        return value


def _pruned(value: Any) -> Any:
    """Drops None, empty strings, lists and maps (what the API server omits) at every level."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _resources(value: Obj | None) -> Obj:
    value = value or {}
    limits = {k: quantity(v) for k, v in (value.get("limits") or {}).items()}
    requests = {**limits, **{k: quantity(v) for k, v in (value.get("requests") or {}).items()}}
    return _pruned({**value, "limits": limits, "requests": requests})


def _probe(value: Obj | None) -> Obj | None:
    if not value:
        return None
    probe = {**PROBE_DEFAULTS, **_pruned(value)}
    if "httpGet" in probe:
        probe["httpGet"] = {"path": "/", "scheme": "HTTP", **probe["httpGet"]}
    return {k: v for k, v in probe.items() if v != 0}  # 0 is "not set" for a probe's numbers


def _env(value: list | None) -> list:
    entries = []
    for entry in _pruned(value or []):
        field_ref = (entry.get("valueFrom") or {}).get("fieldRef")
        if field_ref:
            entry["valueFrom"]["fieldRef"] = {"apiVersion": "v1", **field_ref}
        entries.append(entry)
    return entries


def _volume_mounts(value: list | None) -> list:
    return [m for m in _pruned(value or []) if not TOKEN_VOLUME.match(str(m.get("name", "")))]


def _container(container: Obj) -> Obj:
    fields = {k: _pruned(container.get(k)) for k in CONTAINER_FIELDS}
    fields.update(
        resources=_resources(container.get("resources")),
        env=_env(container.get("env")),
        volumeMounts=_volume_mounts(container.get("volumeMounts")),
        ports=[{"protocol": "TCP", **p} for p in _pruned(container.get("ports") or [])],
        livenessProbe=_probe(container.get("livenessProbe")),
        readinessProbe=_probe(container.get("readinessProbe")),
        startupProbe=_probe(container.get("startupProbe")),
        terminationMessagePath=container.get("terminationMessagePath") or "/dev/termination-log",
        terminationMessagePolicy=container.get("terminationMessagePolicy") or "File",
    )
    return {k: v for k, v in fields.items() if v not in (None, "", [], {})}


def _pod_value(spec: Obj, field: str) -> Any:
    value = spec.get(field)
    if field == "volumes":
        value = [v for v in value or [] if not TOKEN_VOLUME.match(str(v.get("name", "")))]
    value = _pruned(value)
    return POD_FIELDS[field] if value in (None, "", [], {}) else value


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _env_difference(where: str, want: list, have: list) -> list[str]:
    """Names the variables that differ, never their values."""
    wanted = {e.get("name"): e for e in want}
    found = {e.get("name"): e for e in have}
    names = sorted(
        n for n in wanted.keys() | found.keys() if wanted.get(n) != found.get(n)
    ) or ["(order)"]  # fmt: skip
    return [f"{where}.env differs: {', '.join(str(n) for n in names)}"]


def _containers(where: str, want: list, have: list) -> list[str]:
    names_want = [c.get("name") for c in want]
    names_have = [c.get("name") for c in have]
    if names_want != names_have:
        return [f"{where}: have {_short(names_have)}, want {_short(names_want)}"]
    differences = []
    for wanted, found in zip(want, have, strict=True):
        a, b = _container(wanted), _container(found)
        at = f"{where}[{wanted.get('name')}]"
        for field in sorted(a.keys() | b.keys()):
            if a.get(field) == b.get(field):
                continue
            if field == "env":
                differences += _env_difference(at, a.get(field) or [], b.get(field) or [])
            else:
                differences.append(f"{at}.{field}: have {_short(b.get(field))}, want {_short(a.get(field))}")
    return differences


def _includes(have: Any, want: Any) -> bool:
    return all(have.get(k) == v for k, v in want.items()) if isinstance(want, dict) else want in have


def performer_pod_drift(desired: Obj, live: Obj) -> list[str]:
    """What differs between the rendered pod `desired` and the `live` one ([] when nothing does).
    A live object without a pod spec (only metadata observed) has nothing to compare."""
    want, have = desired.get("spec") or {}, live.get("spec") or {}
    if not have.get("containers"):
        return []
    differences = _containers("spec.containers", want.get("containers") or [], have["containers"])
    differences += _containers("spec.initContainers", want.get("initContainers") or [],
                               have.get("initContainers") or [])  # fmt: skip
    for field in POD_FIELDS:
        a, b = _pod_value(want, field), _pod_value(have, field)
        if a != b:
            differences.append(f"spec.{field}: have {_short(b)}, want {_short(a)}")
    selector, wanted_selector = have.get("nodeSelector") or {}, want.get("nodeSelector") or {}
    if not _includes(selector, wanted_selector):
        differences.append(
            f"spec.nodeSelector: have {_short(selector)}, want at least {_short(wanted_selector)}"
        )
    tolerations = [_pruned(t) for t in have.get("tolerations") or []]
    missing = [t for t in (_pruned(t) for t in want.get("tolerations") or []) if t not in tolerations]
    if missing:
        differences.append(f"spec.tolerations: missing {_short(missing)}")
    return differences


def _service_port(port: Obj) -> Obj:
    port = _pruned(port)
    return {"protocol": "TCP", "targetPort": port.get("port"), **port}


def performer_service_drift(desired: Obj, live: Obj) -> list[str]:
    """What differs between the rendered Service `desired` and the `live` one: its type, selector,
    ports (exactly: none added, none changed), our labels, and any spec field the role does not
    set that another client did (externalIPs, session affinity...)."""
    want, have = desired.get("spec") or {}, live.get("spec") or {}
    differences = []
    for field in sorted(want.keys() | have.keys()):
        if field == "ports":
            a = [_service_port(p) for p in want.get("ports") or []]
            b = [_service_port(p) for p in have.get("ports") or []]
        elif field in want:
            a, b = _pruned(want[field]), _pruned(have.get(field))
        elif field in ALLOCATED:
            if not service_needs_recreate(live):
                continue
            a, b = "an allocated cluster IP", have[field]
        elif field in SERVICE_DEFAULTS:
            a, b = SERVICE_DEFAULTS[field], _pruned(have[field])
        else:
            a, b = None, _pruned(have[field])
        if a != b:
            differences.append(f"spec.{field}: have {_short(b)}, want {_short(a)}")
    labels = (live.get("metadata") or {}).get("labels") or {}
    wanted_labels = (desired.get("metadata") or {}).get("labels") or {}
    if not _includes(labels, wanted_labels):
        differences.append(f"metadata.labels: have {_short(labels)}, want at least {_short(wanted_labels)}")
    return differences
