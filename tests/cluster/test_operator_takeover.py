"""Taking over from the Go operator: a cluster whose Performers the upstream (kubebuilder) operator
ran is handed to this one (docs/install.md, "Replacing the Go operator"). Its Pods and Services are
what the upstream controller writes (labels, controller owner reference, gRPC probes, no spec-hash
annotation), its Performers carry the finalizer of the same name and the status it writes. This
operator adopts them: each pod is replaced once by the role's (restricted, with its spec hash), the
Service is restored in place (its cluster IP, and so its clients, kept), the finalizer stays one, and
nothing is replaced again afterwards."""

from __future__ import annotations

import datetime

import kubernetes

from tests.support.api import read_or_none
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    create_performer,
    get_performer,
    upstream_executor_performer,
    wait_performer_ready,
)
from tests.support.waiting import wait_for

FINALIZER = f"{GROUP}/performer-finalizer"
AVS = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def _controller_reference(cr: dict) -> dict:
    meta = cr["metadata"]
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Performer", "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def upstream_children(
    core, custom, namespace: str, cr: dict
) -> tuple[kubernetes.client.V1Pod, kubernetes.client.V1Service]:
    """What the upstream operator writes for `cr` (upstream contract §2): its finalizer, a Pod and a
    Service, and its status once the pod is ready. Returns the Pod and the Service."""
    name, spec = cr["metadata"]["name"], cr["spec"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                          {"metadata": {"finalizers": [FINALIZER]}})  # fmt: skip
    labels = {
        "app": "hourglass-performer",
        f"{GROUP}/performer": name,
        f"{GROUP}/avs": spec["avsAddress"].lower(),
    }
    port = spec["config"]["grpcPort"]
    probe = {"grpc": {"port": port}, "timeoutSeconds": 5, "periodSeconds": 10}
    env = [{"name": k, "value": v} for k, v in spec["config"]["environment"].items()]
    owner = [_controller_reference(cr)]
    pod = core.create_namespaced_pod(namespace, {
        "metadata": {"name": f"performer-{name}", "labels": labels, "ownerReferences": owner},
        "spec": {"restartPolicy": "Always", "containers": [{
            "name": "performer", "image": spec["image"], "imagePullPolicy": spec["imagePullPolicy"],
            "env": env,
            "ports": [{"name": "grpc", "containerPort": port, "protocol": "TCP"}],
            "livenessProbe": {**probe, "initialDelaySeconds": 30},
            "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 15, "timeoutSeconds": 1},
        }]},
    })  # fmt: skip
    service = core.create_namespaced_service(namespace, {
        "metadata": {"name": f"performer-{name}", "ownerReferences": owner},
        "spec": {"type": "ClusterIP", "selector": {f"{GROUP}/performer": name},
                 "ports": [{"name": "grpc", "port": port, "targetPort": "grpc", "protocol": "TCP"}]},
    })  # fmt: skip

    def running() -> bool:
        status = core.read_namespaced_pod(pod.metadata.name, namespace).status
        return any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])

    wait_for(running, timeout=30, what="the upstream pod to be Ready")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"phase": "Running", "ready": True, "podName": pod.metadata.name, "readyTime": now,
              "serviceName": service.metadata.name,
              "grpcEndpoint": f"{service.metadata.name}.{namespace}.svc.cluster.local"}  # fmt: skip
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, {"status": status})
    return pod, service


def test_performers_the_go_operator_ran_are_adopted_with_one_restart(core, custom, namespace, operators):
    body = upstream_executor_performer(AVS, "registry.example/avs/performer", "v1.2.3")
    for removed in ("environmentFrom", "serviceAccountName"):  # objects this cluster does not have
        del body["spec"]["config"][removed]
    cr = create_performer(custom, namespace, body)
    name = cr["metadata"]["name"]
    old_pod, old_service = upstream_children(core, custom, namespace, cr)

    operator = operators()  # started once the Go operator's work is there
    operator.wait_ready()

    def replaced() -> kubernetes.client.V1Pod | None:
        pod = read_or_none(core.read_namespaced_pod, f"performer-{name}", namespace)
        return pod if pod and pod.metadata.uid != old_pod.metadata.uid else None

    wait_for(replaced, timeout=60, what="the upstream pod to be replaced")
    cr = wait_performer_ready(custom, namespace, name)
    operator.wait_until(operator.queue_idle, "the operator to be idle", timeout=30)
    pod = core.read_namespaced_pod(f"performer-{name}", namespace)
    assert pod.metadata.uid != old_pod.metadata.uid
    assert f"{GROUP}/spec-hash" in pod.metadata.annotations
    assert pod.spec.security_context.run_as_non_root is True
    [owner] = pod.metadata.owner_references
    assert (owner.uid, owner.controller) == (cr["metadata"]["uid"], True)

    service = core.read_namespaced_service(f"performer-{name}", namespace)
    assert (service.metadata.uid, service.spec.cluster_ip) == (
        old_service.metadata.uid,
        old_service.spec.cluster_ip,
    )
    [port] = service.spec.ports
    assert (port.name, port.port, port.target_port) == ("grpc", 8080, "grpc")
    [owner] = service.metadata.owner_references
    assert (owner.uid, owner.controller) == (cr["metadata"]["uid"], True)

    assert cr["metadata"]["finalizers"] == [FINALIZER]
    status = cr["status"]
    assert (status["phase"], status["grpcEndpoint"]) == (
        "Running",
        f"performer-{name}.{namespace}.svc.cluster.local",
    )
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "True", "Scheduled": "True", "Reconciled": "True",
                          "Reconciling": "False", "Stalled": "False"}  # fmt: skip
    # Adopted once: nothing found drifted since, nothing replaced again.
    assert operator.metric('hourglass_repairs_total{reason="PodDrifted"}') == 0
    assert core.read_namespaced_pod(f"performer-{name}", namespace).metadata.uid == pod.metadata.uid
    assert get_performer(custom, namespace, name)["metadata"]["finalizers"] == [FINALIZER]
