"""How a live Pod or Service differs from the one the role rendered, in the fields that matter
(`performer_pod_drift`, `performer_service_drift`; also the filters of the same names,
plugins/filter/performer_drift.py). The plan (performer_plan) replaces a pod that
drifted and restores a Service that drifted.

Why not only the spec-hash annotation: another client's edit (`kubectl set image`, `kubectl edit
service`) leaves it unchanged.

A pod is compared only where an update can change a live pod: its containers' images, their
resources (resized in place), its active deadline and tolerations (only added to); the rest of a pod
spec is fixed when the pod is created. And not at all while the pod's `metadata.generation` is
still 1 (Kubernetes >= 1.34 counts the updates of a pod's spec there): nothing was changed since it
was created. What differs from the rendered pod then, or in a field the comparison leaves out, is
what admission made of it: a LimitRange's default resources, an injected sidecar, a pinned image
digest, the service account token volume, tolerations and node selectors of admission plugins. A
new pod would get the same again, so replacing the pod for it would never end. Where generations are
not counted (Kubernetes 1.32 and 1.33), the compared fields allow for admission: an image with the
rendered one's digest pinned is the same image, and only the resources the role renders are
compared (a LimitRange fills in the others). Resource quantities compare by value, rounded up to
thousandths as the API server stores them (1.5m of CPU is 2m in a pod).

A live Service carries what the API server added on the way in (allocated cluster IPs, defaults);
each compared field is normalised on both sides so that only a real difference counts, and a spec
field the role does not render must be absent (or at its default), so what another client added
counts as well.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.object_writer import (
    ALLOCATED,  # kept when a Service is restored
    service_needs_recreate,
)

Obj = dict[str, Any]

# Service spec fields the API server fills in, with the values that leave the Service as rendered.
SERVICE_DEFAULTS = {"sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip
THOUSANDTH = Decimal("0.001")
# Digits kept in quantity arithmetic: a quantity the CRD admits (64 characters) times 2**60, rounded
# to thousandths. Python's default of 28 would round 1.0000000000000000000000000000001 (1001m in a pod)
# to 1, a difference on every comparison.
PRECISION = 100
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")


def quantity(value: Any) -> Any:
    """A resource quantity as a number ("0.5" and "500m" are equal); anything else unchanged."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return value
    try:
        with localcontext() as context:
            context.prec = PRECISION
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


def _as_stored(value: Any) -> Any:
    """A resource quantity as the API server stores it in a pod: rounded up to thousandths (1.5m of
    CPU is 2m there)."""
    number = quantity(value)
    if not isinstance(number, Decimal):
        return number
    try:
        with localcontext() as context:
            context.prec = PRECISION
            return number.quantize(THOUSANDTH, rounding=ROUND_CEILING).normalize()
    except InvalidOperation:  # more digits than a Decimal holds: no pod has such a quantity anyway
        return number


def _resources(value: Obj | None) -> Obj:
    value = value or {}
    limits = {k: _as_stored(v) for k, v in (value.get("limits") or {}).items()}
    requests = {**limits, **{k: _as_stored(v) for k, v in (value.get("requests") or {}).items()}}
    return _pruned({**value, "limits": limits, "requests": requests})


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _includes(have: Any, want: Any) -> bool:
    return all(have.get(k) == v for k, v in want.items()) if isinstance(want, dict) else want in have


def _difference(where: str, have: Any, want: Any) -> str:
    return f"{where}: have {_short(have)}, want {_short(want)}"


def _never_updated(live: Obj) -> bool:
    """Whether the pod's spec is as it was created (its generation, where the API server counts one)."""
    return (live.get("metadata") or {}).get("generation") == 1


def _same_image(want: Any, have: Any) -> bool:
    """The same image, or the rendered one with its digest pinned (`img:1@sha256:...`)."""
    return have == want or (isinstance(have, str) and have.startswith(f"{want}@sha256:"))


def _rendered_resources(want: Obj | None, have: Obj | None) -> tuple[Obj, Obj]:
    """The requests and limits the role renders, as rendered and as the live container has them."""
    want_normal, have_normal = _resources(want), _resources(have)
    rendered = {kind: want_normal[kind] for kind in ("limits", "requests") if want_normal.get(kind)}
    live = {kind: {name: (have_normal.get(kind) or {}).get(name) for name in names}
            for kind, names in rendered.items()}  # fmt: skip
    return rendered, _pruned(live)


def _container_drift(where: str, want: list, have: list) -> list[str]:
    found = {c.get("name"): c for c in have}
    differences = []
    for wanted in want:
        live = found.get(wanted.get("name"))
        if live is None:  # containers cannot go once the pod exists
            continue
        at = f"{where}[{wanted.get('name')}]"
        if not _same_image(wanted.get("image"), live.get("image")):
            differences.append(_difference(f"{at}.image", live.get("image"), wanted.get("image")))
        a, b = _rendered_resources(wanted.get("resources"), live.get("resources"))
        if a != b:
            differences.append(_difference(f"{at}.resources", b, a))
    return differences


def performer_pod_drift(desired: Obj, live: Obj) -> list[str]:
    """What another client changed in the `live` pod, where it differs from the rendered pod `desired`
    ([] when nothing did). A live object without a pod spec (only metadata observed) has nothing to
    compare."""
    want, have = desired.get("spec") or {}, live.get("spec") or {}
    if not have.get("containers") or _never_updated(live):
        return []
    differences = []
    for where in ("containers", "initContainers"):
        differences += _container_drift(f"spec.{where}", want.get(where) or [], have.get(where) or [])
    deadline = "activeDeadlineSeconds"
    if have.get(deadline) != want.get(deadline):
        differences.append(_difference(f"spec.{deadline}", have.get(deadline), want.get(deadline)))
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
            differences.append(_difference(f"spec.{field}", b, a))
    labels = (live.get("metadata") or {}).get("labels") or {}
    wanted_labels = (desired.get("metadata") or {}).get("labels") or {}
    if not _includes(labels, wanted_labels):
        differences.append(f"metadata.labels: have {_short(labels)}, want at least {_short(wanted_labels)}")
    return differences
