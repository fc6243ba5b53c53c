"""Tampering with what the operator manages, as another client would, and telling when the operator
has repaired it. Shared by the drift cluster tests and the operator benchmark's drift scenario.

Each case takes a snapshot of the ready Performer's children and status (`Snapshot`), tampers with
one of them (`tamper`) and answers whether the damage is repaired (`repaired`): the Service exactly
as the operator wrote it, a pod running the Performer's image with its labels, or the status the
operator wrote, restored field for field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract

from tests.support.api import read_or_none
from tests.support.performers import GROUP, PLURAL, VERSION

TAMPERER = "tamperer"  # the field manager of the other client
OWNER_LABEL = contract.OWNER_LABEL
# The labels the operator sets (kwok adds topology labels of the node, which a new pod may not share).
OPERATOR_LABELS = tuple(contract.child_labels("p", "0x0"))


@dataclass
class Snapshot:
    """What a ready Performer looks like before the tampering."""

    namespace: str
    name: str
    pod_uid: str
    pod_image: str
    pod_labels: dict  # the operator's
    service_uid: str
    service_spec: dict  # type, selector, ports
    status: dict

    @property
    def child(self) -> str:
        return contract.child_name(self.name)


def service_shape(service: kubernetes.client.V1Service) -> dict:
    spec = service.spec
    return {
        "type": spec.type,
        "selector": spec.selector,
        "ports": [(p.name, p.port, p.target_port, p.protocol, p.node_port) for p in spec.ports or []],
        "external_ips": spec.external_ips,
    }


def snapshot(core, custom, namespace: str, name: str) -> Snapshot:
    pod = core.read_namespaced_pod(contract.child_name(name), namespace)
    service = core.read_namespaced_service(contract.child_name(name), namespace)
    cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return Snapshot(
        namespace=namespace,
        name=name,
        pod_uid=pod.metadata.uid,
        pod_image=pod.spec.containers[0].image,
        pod_labels={k: v for k, v in pod.metadata.labels.items() if k in OPERATOR_LABELS},
        service_uid=service.metadata.uid,
        service_spec=service_shape(service),
        status=copy.deepcopy(cr["status"]),
    )


def _json_patch_service(core, snap: Snapshot, operations: list[dict]) -> None:
    response = core.api_client.call_api(*core.api_client.param_serialize(
        "PATCH", f"/api/v1/namespaces/{snap.namespace}/services/{snap.child}",
        query_params=[("fieldManager", TAMPERER)], body=operations,
        header_params={"Content-Type": "application/json-patch+json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    ))  # fmt: skip
    body = response.read()
    if response.status >= 300:  # a tampering refused would leave nothing to repair
        raise kubernetes.client.ApiException(status=response.status, reason=response.reason, body=body)


def edit_service_port(core, custom, snap: Snapshot) -> None:
    """`kubectl edit service`: the gRPC port becomes 9999."""
    _json_patch_service(core, snap, [{"op": "replace", "path": "/spec/ports/0/port", "value": 9999}])


def add_service_port(core, custom, snap: Snapshot) -> None:
    """Another client adds a port of its own."""
    port = {"name": "metrics", "port": 9100, "targetPort": 9100, "protocol": "TCP"}
    _json_patch_service(core, snap, [{"op": "add", "path": "/spec/ports/-", "value": port}])


def set_pod_image(core, custom, snap: Snapshot) -> None:
    """`kubectl set image`: the pod runs another image; its spec-hash annotation is unchanged."""
    core.patch_namespaced_pod(
        snap.child,
        snap.namespace,
        {"spec": {"containers": [{"name": "performer", "image": "ghcr.io/example/intruder:latest"}]}},
        field_manager=TAMPERER,
    )


def change_pod_owner_label(core, custom, snap: Snapshot) -> None:
    """The pod's owner label names a Performer that does not exist."""
    core.patch_namespaced_pod(
        snap.child, snap.namespace, {"metadata": {"labels": {OWNER_LABEL: "someone-else"}}},
        field_manager=TAMPERER,
    )  # fmt: skip


def forge_status(core, custom, snap: Snapshot) -> None:
    """Another client writes the Performer's status."""
    forged = {"phase": "Failed", "ready": False, "observedGeneration": 0, "readyTime": "2000-01-01T00:00:00Z"}
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, snap.namespace, PLURAL, snap.name, {"status": forged}
    )


def _service_repaired(core, custom, snap: Snapshot) -> bool:
    service = read_or_none(core.read_namespaced_service, snap.child, snap.namespace)
    return bool(service) and service_shape(service) == snap.service_spec


def _pod_repaired(core, custom, snap: Snapshot) -> bool:
    pod = read_or_none(core.read_namespaced_pod, snap.child, snap.namespace)
    if not pod or pod.metadata.deletion_timestamp:
        return False
    conditions = {c.type: c.status for c in pod.status.conditions or []}
    return (
        pod.spec.containers[0].image == snap.pod_image
        and all(pod.metadata.labels.get(k) == v for k, v in snap.pod_labels.items())
        and conditions.get("Ready") == "True"
        and _status(custom, snap).get("ready") is True
    )


def _status(custom, snap: Snapshot) -> dict:
    cr = custom.get_namespaced_custom_object(GROUP, VERSION, snap.namespace, PLURAL, snap.name)
    return cr.get("status") or {}


def _status_restored(core, custom, snap: Snapshot) -> bool:
    return _status(custom, snap) == snap.status


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[..., None]
    repaired: Callable[..., bool]


CASES = (
    Case("service-port-edited", edit_service_port, _service_repaired),
    Case("service-port-added", add_service_port, _service_repaired),
    Case("pod-image-set", set_pod_image, _pod_repaired),
    Case("pod-owner-label-changed", change_pod_owner_label, _pod_repaired),
    Case("status-forged", forge_status, _status_restored),
)
