"""How a batch of Performers is planned (`performer_plan`; also the filter of that name,
plugins/filter/performer_plan.py): decides which objects to create or apply and which
pods to delete, by comparing the rendered Pods and Services with what the cluster has.

- A missing Pod or Service is created (`create`: a plain create, which costs the API server less
  than a server-side apply; one that exists by then is applied).
- A Pod that lacks one of the rendered labels is applied (`apply`: server-side apply).
- A Pod whose spec-hash annotation differs from the rendered one is replaced: the same run deletes
  it, waits (bounded) until it is gone and creates the new one (pod names are fixed, so the two
  cannot overlap); when the old pod takes longer to go, the run after its deletion creates it.
- A Pod whose spec-hash differs although its Performer's spec did not change since the operator last
  reconciled it successfully (performer_status.spec_reconciled: listed in `spec_seen`) is
  rendered differently because the operator or its settings changed. Such replacements are a rollout:
  with `rollout_slots` given (the runner loop's, which keeps the number of Performers being replaced
  at once under its limit), at most that many of them start in this batch (`rollout: started`); the
  pods of the others stay as they are (`rollout: waiting`, their entry's `spec_hash` is their pod's)
  until the loop gives them a slot. Without `rollout_slots`, every one is replaced at once.
- A Pod whose fields that matter differ from the rendered ones although its annotation matches
  (another client changed it: `kubectl set image`) is replaced the same way; the Performer's
  entry lists the differences (`drift`), and it is not an upgrade.
- A Pod that is already terminating is left alone until it is gone, unless it is still there
  `lost_pod_after` seconds past its deletion deadline (its `deletionTimestamp`, which includes its
  grace period): then it is listed in `force_delete` with its node, and deleted without waiting for
  its kubelet if that node is not Ready (object_writer's `lost` state). Pod names are fixed, so a pod
  left on a node that died (its kubelet cannot confirm the deletion the taint manager made) would
  keep the Performer from running anywhere else, forever; a Deployment's pod would have been
  replaced by then under another name. Until then the entry says when to look again
  (`force_delete_pod_after`) and when that is (`force_delete_pod_at`), and once listed, when to look
  again if the node is still Ready.
- A Pod that ended (phase Failed or Succeeded: evicted by its node, rejected by it, or shut down
  with it) is never started again, so it is replaced the same way (the API server deletes an ended
  pod at once), and the Performer's entry says why it ended (`pod_ended`). Not before it is
  `ended_pod_min_age` seconds old, though, doubled for each pod of the Performer that ended before
  it since the Performer was last ready (its status's `endedPods`, given in `ended_pods`), up to
  `ended_pod_max_age`: a node that rejects every pod as soon as it arrives would otherwise be sent
  one again and again as fast as the runs go, forever (10 s, 20 s, 40 s ... 5 min with the role's
  defaults, as the kubelet backs off a crashing container). Until then the entry says when to look
  again (`replace_ended_pod_after`) and when the pod is replaced (`replace_ended_pod_at`).
- A Service that differs from the rendered one (performer_drift) is restored exactly (`restore`):
  server-side apply cannot do that, since it never removes what another field manager set (an
  added port, or the old entry of an edited port, which then clashes with ours). Not when an earlier
  restore showed that admission makes it so (the observation's `memo`, `service_admitted`: the API
  server left the Service as it was, at the resourceVersion it still has, with the same
  differences): restoring it again would write the same Service, for two requests each time. The
  entry carries that memo on (`service_admitted`).
- A Pod or Service that no object owns (no controller owner reference: left by a Performer deleted
  with `--cascade=orphan`, or created by another client) is adopted by the Performer of its name: the
  pod is applied with the rendered owner reference (it keeps running), the Service restored with it,
  and the entry lists them (`adopted`). One that another object controls is left as it is.
- With performer_state=absent, the Pods and Services that still exist and that the Performer owns
  are deleted (all of them for a Performer that is not in the cluster: a one-off deploy's children
  have no owner). Those it does not own are not its to delete: the garbage collector took its owner
  reference away (`kubectl delete --cascade=orphan`), and they stay (`kept`). While the `orphan`
  finalizer is still there, the garbage collector has yet to do so, and nothing is deleted.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils import performer_drift as drift
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import (
    names_owner,
    resource_version,
)
from ansible_collections.hourglass.operator.plugins.module_utils.performer_status import pod_ended

SPEC_HASH = contract.SPEC_HASH_ANNOTATION
DEFAULT_ENDED_POD_MIN_AGE = 10  # seconds (the role's performer_ended_pod_min_age_seconds)
DEFAULT_ENDED_POD_MAX_AGE = 300  # seconds (the role's performer_ended_pod_max_age_seconds)
DEFAULT_LOST_POD_AFTER = 30  # seconds (the role's performer_lost_pod_after_seconds; 0: never)
Obj = dict[str, Any]


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def performer_key(metadata: Obj) -> str:
    """`namespace/name` of an object's metadata: how batches index Performers."""
    return _key(metadata["namespace"], metadata["name"])


def _reference(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }


def _controller(obj: Obj) -> Obj | None:
    """The owner reference of `obj` that says which object controls it, if any."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), None)


def owned_by(obj: Obj, uid: str | None) -> bool:
    """Whether `obj` names the object of `uid` among its owners (anything is, without a uid)."""
    return not uid or names_owner(obj, uid)


def _to_adopt(observed: Obj | None, desired: Obj) -> bool:
    """Whether a live child should be given the rendered owner reference: it has none that controls
    it, and the rendered one has one (a one-off deploy's children have no owner)."""
    wanted = desired["metadata"].get("ownerReferences")
    return bool(observed and wanted and _controller(observed) is None)


def _admission_made(service: Obj, differences: list[str], admitted: Obj | None) -> bool:
    """Whether the live Service is the one an earlier restore left as it was (same resourceVersion)
    with the same differences from the rendered one: what admission makes of it."""
    if not admitted:
        return False
    return (admitted.get("resourceVersion"), admitted.get("drift")) == (
        resource_version(service),
        differences,
    )


def _labels_missing(observed: Obj, desired: Obj) -> bool:
    have = (observed.get("metadata") or {}).get("labels") or {}
    return any(have.get(k) != v for k, v in desired["metadata"]["labels"].items())


def _pod_action(observed: Obj | None, desired: Obj) -> tuple[str, list[str]]:
    """What to do with the pod, and how the live one drifted from the rendered one."""
    if not observed:
        return "create", []
    meta = observed.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "wait", []
    if (meta.get("annotations") or {}).get(SPEC_HASH) != desired["metadata"]["annotations"][SPEC_HASH]:
        return "replace", []
    differences = drift.performer_pod_drift(desired, observed)
    if differences:
        return "replace", differences
    if _to_adopt(observed, desired):
        return "adopt", []
    return ("relabel" if _labels_missing(observed, desired) else "keep"), []


def ended_pod_age(ended_before: int, min_age: float, max_age: float) -> float:
    """How old an ended pod must be to be replaced, after `ended_before` pods of its Performer ended
    since it was last ready: `min_age` doubled that many times, at most `max_age` (never below
    `min_age`)."""
    return min(min_age * 2.0 ** min(max(ended_before, 0), 32), max(max_age, min_age))


def _replaceable(pod: Obj, now: str, age: float) -> tuple[float, str | None]:
    """How long an ended pod must still wait until it is `age` seconds old (0: not at all), and when
    that is."""
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return 0.0, None
    return max(age - contract.seconds_between(created, now), 0.0), contract.seconds_after(created, age)


def _lost_pod(pod: Obj | None, now: str, lost_after: float) -> tuple[Obj | None, Obj]:
    """Whether a terminating pod has been there `lost_after` seconds past its deletion deadline: its
    reference for `force_delete` (with its uid and node), and what its Performer's entry says: in how
    many seconds to look again and, until then, when that is (nothing when it is not terminating, was
    never scheduled, or `lost_after` is 0)."""
    meta = (pod or {}).get("metadata") or {}
    node = ((pod or {}).get("spec") or {}).get("nodeName")
    if not meta.get("deletionTimestamp") or not node or lost_after <= 0:
        return None, {}
    overdue = contract.seconds_between(meta["deletionTimestamp"], now) - lost_after
    if overdue < 0:  # looked at again one second later: timestamps are whole seconds
        at = contract.seconds_after(meta["deletionTimestamp"], lost_after)
        return None, {"force_delete_pod_after": -overdue + 1.0, "force_delete_pod_at": at}
    reference = _reference(pod)  # type: ignore[arg-type]
    reference["metadata"]["uid"] = meta.get("uid")
    reference["spec"] = {"nodeName": node}
    # Looked at again while its node stays Ready.
    return reference, {"force_delete_pod_after": lost_after, "lost_pod_node": node}


def performer_plan(
    desired: list[Obj],
    observed: dict[str, Obj],
    state: str = "present",
    ended_pod_min_age: float = DEFAULT_ENDED_POD_MIN_AGE,
    ended_pod_max_age: float = DEFAULT_ENDED_POD_MAX_AGE,
    ended_pods: dict[str, int] | None = None,
    lost_pod_after: float = DEFAULT_LOST_POD_AFTER,
    spec_seen: set[str] | None = None,
    rollout_slots: int | None = None,
) -> Obj:
    """The plan for a batch: objects to create, apply, restore, replace, delete and force-delete, and
    per Performer what happens. `ended_pods` holds, by Performer key, how many of its pods ended since
    it was last ready (none when absent); `spec_seen` the keys of the Performers whose spec the operator
    reconciled already, and `rollout_slots` how many of their pods may be replaced because they are
    rendered differently (None: all)."""
    now = contract.now()
    ended_pods = ended_pods or {}
    spec_seen = spec_seen or set()
    plan: Obj = {"create": [], "apply": [], "delete": [], "replace": [], "restore": [], "force_delete": [],
                 "performers": {}}  # fmt: skip
    for doc in desired:
        key = _key(doc["namespace"], doc["name"])
        seen = observed.get(key) or {}
        pod, service = seen.get("pod"), seen.get("service")
        entry: Obj = {"error": None, "upgrading": False, "upgraded_at": None}
        orphaning = state == "absent" and contract.ORPHAN_FINALIZER in (doc.get("finalizers") or [])
        # A deletion force-deletes only a lost pod it deletes anyway.
        ours = state != "absent" or (not orphaning and owned_by(pod or {}, doc.get("uid")))
        # The ages may come as text (the filter's arguments are templated).
        lost, said = _lost_pod(pod if ours else None, now, float(lost_pod_after))
        plan["force_delete"] += [lost] if lost else []
        entry.update(said)
        if orphaning:  # the garbage collector takes the owner references off them first
            entry.update(children_gone=False, children_deleted=0, orphaning=True)
        elif state == "absent":  # deleting needs no rendering, so a render error does not block it
            present = [o for o in (pod, service) if o]
            owned = [o for o in present if owned_by(o, doc.get("uid"))]
            plan["delete"] += [_reference(o) for o in owned]
            entry.update(children_gone=not owned, children_deleted=len(owned))
            if len(owned) < len(present):
                entry["kept"] = [o["kind"] for o in present if o not in owned]
        elif doc.get("error"):
            entry["error"] = doc["error"]
        else:
            action, pod_drift = _pod_action(pod, doc["pod"])
            spec_hash = doc["pod"]["metadata"]["annotations"][SPEC_HASH]
            if action == "replace" and not pod_drift and key in spec_seen and rollout_slots is not None:
                if rollout_slots > 0:
                    rollout_slots -= 1
                    entry["rollout"] = contract.ROLLOUT_STARTED
                else:  # not applied either: the rendered pod's spec is not the live one's
                    action, entry["rollout"] = "keep", contract.ROLLOUT_WAITING
                    spec_hash = (pod["metadata"].get("annotations") or {}).get(SPEC_HASH) or ""
            ended = pod_ended(pod) if action in ("keep", "relabel", "adopt") else None
            if ended:
                before = ended_pods.get(key, 0)
                age = ended_pod_age(before, float(ended_pod_min_age), float(ended_pod_max_age))
                wait, replace_at = _replaceable(pod, now, age)
                if wait:  # looked at again one second later: timestamps are whole seconds
                    entry.update(replace_ended_pod_after=wait + 1.0, replace_ended_pod_at=replace_at)
                else:
                    action, entry["pod_ended"] = "replace", ended
                    entry["ended_pods"] = before + 1  # the status counts this one too
                    entry.pop("rollout", None)
                    spec_hash = doc["pod"]["metadata"]["annotations"][SPEC_HASH]
            if action == "create":
                plan["create"].append(doc["pod"])
            elif action in ("relabel", "adopt"):
                plan["apply"].append(doc["pod"])
            elif action == "replace":
                plan["replace"].append(doc["pod"])
                if not pod_drift and not ended:
                    entry.update(upgrading=True, upgraded_at=now)
            elif action == "wait":
                hash_now = ((pod.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH)
                entry["upgrading"] = hash_now != doc["pod"]["metadata"]["annotations"][SPEC_HASH]
            service_drift = drift.performer_service_drift(doc["service"], service) if service else []
            admitted = (seen.get("memo") or {}).get("service_admitted")
            if service_drift and _admission_made(service, service_drift, admitted):
                entry["service_admitted"], service_drift = admitted, []
            service_adopted = _to_adopt(service, doc["service"])
            if not service:
                plan["create"].append(doc["service"])
            elif service_drift or service_adopted:
                plan["restore"].append(doc["service"])
            adopted = (["Pod"] if action == "adopt" else []) + (["Service"] if service_adopted else [])
            if adopted:
                entry["adopted"] = adopted
            entry.update(
                pod_action=action,
                spec_hash=spec_hash,
                pod_labels=doc["pod"]["metadata"]["labels"],
            )
            if pod_drift or service_drift:
                entry["drift"] = {"pod": pod_drift, "service": service_drift}
        plan["performers"][key] = entry
    return plan
