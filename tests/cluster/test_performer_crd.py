"""The Performer CRD on a real API server: names and columns as upstream, defaults applied, every
field kept (nothing pruned), what upstream executors send accepted, and invalid Performers
rejected with a message that names the field and the rule."""

from __future__ import annotations

import kubernetes
import pytest
import yaml

from tests.support.paths import REPO, SAMPLES
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    create_performer,
    performer,
    rejection_causes,
    upstream_executor_performer,
    with_changes,
)
from tests.support.waiting import wait_for

FULL_SPEC = {
    "avsAddress": "0xabcdef0123456789abcdef0123456789abcdef01",
    "image": "registry.example.com/avs/performer@sha256:" + "a" * 64,
    "imagePullPolicy": "Always",
    "version": "v3.1.4",
    "config": {
        "grpcPort": 7070,
        "environment": {"LOG_LEVEL": "debug", "my.dotted-name": "ok"},
        "environmentFrom": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token", "optional": True}}},
            {"name": "RPC", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "rpc.url"}}},
        ],
        "args": ["--verbose"],
        "command": ["/performer"],
        "serviceAccountName": "performer-sa",
    },
    "resources": {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": 2, "memory": "2Gi", "nvidia.com/gpu": "1"},
    },
    "scheduling": {
        "nodeSelector": {"node.kubernetes.io/instance-type": "p4de.24xlarge"},
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": "avs",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {"operator": "Exists"},
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40000"]}
                            ]
                        },
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 50,
                        "preference": {
                            "matchExpressions": [
                                {
                                    "key": "topology.kubernetes.io/zone",
                                    "operator": "In",
                                    "values": ["us-east-1a"],
                                }
                            ]
                        },
                    },
                ],
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": "hourglass-performer"}},
                            "topologyKey": "kubernetes.io/hostname",
                            "matchLabelKeys": ["hourglass.eigenlayer.io/avs"],
                        },
                    }
                ],
            },
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                        "namespaceSelector": {},
                        "topologyKey": "topology.kubernetes.io/zone",
                    }
                ],
            },
        },
        "runtimeClass": "kata-qemu-snp",
        "priorityClassName": "avs-critical",
    },
    "hardwareRequirements": {
        "gpuType": "nvidia-a100",
        "gpuCount": 1,
        "teeRequired": True,
        "teeType": "sev-snp",
        "customLabels": {"example.com/rack": "r12"},
    },
    "imagePullSecrets": [{"name": "registry-credentials"}],
}


def test_crd_names_scope_and_subresources_match_upstream(performer_crd: dict):
    spec = performer_crd["spec"]
    assert spec["group"] == "hourglass.eigenlayer.io"
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert (names["kind"], names["list_kind"], names["plural"], names["singular"]) == (
        "Performer",
        "PerformerList",
        "performers",
        "performer",
    )
    assert names["short_names"] == ["perf"]
    assert names["categories"] == ["hourglass"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"]["status"] == {}
    assert version["subresources"].get("scale") is None
    columns = [(c["name"], c["json_path"], c["priority"] or 0) for c in version["additional_printer_columns"]]
    assert columns == [
        ("Phase", ".status.phase", 0),
        ("Ready", ".status.ready", 0),
        ("Version", ".spec.version", 0),
        ("Age", ".metadata.creationTimestamp", 0),
        ("AVS", ".spec.avsAddress", 1),
        ("Image", ".spec.image", 1),
        ("Endpoint", ".status.grpcEndpoint", 1),
        ("Message", '.status.conditions[?(@.type=="Ready")].message', 1),
    ]


def gpu_types() -> list[str]:
    return sorted(
        yaml.safe_load((REPO / "roles/performer/defaults/main.yml").read_text())["performer_gpu_products"]
    )


def test_kubectl_explain_lists_the_gpu_types(cluster, performer_crd):
    # Established is not published: the API server serves a new CRD's discovery and OpenAPI a moment
    # later, and kubectl explain fails until then ("couldn't find resource").
    def explain() -> str | None:
        out = cluster.kubectl("explain", "performers.spec.hardwareRequirements.gpuType", check=False)
        return out if "DESCRIPTION:" in out else None

    explained = wait_for(explain, timeout=60, what="kubectl explain to know the Performer CRD")
    for gpu_type in gpu_types():
        assert gpu_type in explained.split("DESCRIPTION:")[0]  # the ENUM list
        assert gpu_type in explained.split("DESCRIPTION:")[1]  # and the description


def test_defaults_port_9090_when_config_present_and_pull_policy_if_not_present(
    custom, namespace, performer_crd
):
    created = create_performer(custom, namespace, performer("with-config", config={}))
    assert created["spec"]["config"]["grpcPort"] == 9090
    assert created["spec"]["imagePullPolicy"] == "IfNotPresent"


def test_no_config_block_means_no_port_default(custom, namespace, performer_crd):
    # Upstream semantics: without `config` the port stays unset and the operator falls back to 8080.
    created = create_performer(custom, namespace, performer("no-config"))
    assert "config" not in created["spec"]
    assert created["spec"]["imagePullPolicy"] == "IfNotPresent"


def test_every_spec_field_is_kept(custom, namespace, performer_crd):
    created = create_performer(custom, namespace, {**performer("full"), "spec": FULL_SPEC})
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "full")
    for got in (created, stored):
        assert got["spec"] == FULL_SPEC


def test_performer_as_an_upstream_executor_creates_it_is_accepted_unchanged(custom, namespace, performer_crd):
    body = upstream_executor_performer(
        "0x5FbDB2315678afecb367f032d93F642f64180aa3", "hello-performer", "v0.0.3"
    )
    created = create_performer(custom, namespace, body)
    assert len(body["metadata"]["name"]) == 25
    assert created["spec"] == body["spec"]  # environmentFrom and serviceAccountName are not pruned
    assert created["metadata"]["labels"] == body["metadata"]["labels"]


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("performer-*.yaml")))
def test_samples_are_valid(custom, namespace, performer_crd, sample: str):
    body = yaml.safe_load((SAMPLES / sample).read_text())
    created = create_performer(custom, namespace, body)
    assert created["spec"]["avsAddress"] == body["spec"]["avsAddress"]


def test_kubectl_get_perf_shows_the_columns(cluster, custom, namespace, performer_crd):
    create_performer(custom, namespace, performer("columns", version="v1.0.0", config={}))
    table = cluster.kubectl("get", "perf", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "PHASE", "READY", "VERSION", "AGE"]
    assert row.split()[:2] == ["columns", "v1.0.0"]  # no status: PHASE and READY are empty
    header, row = cluster.kubectl("get", "perf", "-n", namespace, "-o", "wide").splitlines()[:2]
    wide = ["NAME", "PHASE", "READY", "VERSION", "AGE", "AVS", "IMAGE", "ENDPOINT", "MESSAGE"]
    assert header.split() == wide
    spec = performer("x")["spec"]
    assert row.split()[:2] == ["columns", "v1.0.0"] and row.split()[-2:] == [
        spec["avsAddress"],
        spec["image"],
    ]
    # The `hourglass` category lists Performers too.
    assert "performer.hourglass.eigenlayer.io/columns" in cluster.kubectl(
        "get", "hourglass", "-n", namespace, "-o", "name"
    )


def test_status_is_written_only_through_the_status_subresource(custom, namespace, performer_crd):
    create_performer(custom, namespace, performer("status", config={}))
    status = {
        "phase": "Running",
        "ready": True,
        "podName": "performer-status",
        "serviceName": "performer-status",
        "grpcEndpoint": f"performer-status.{namespace}.svc.cluster.local",
        "observedGeneration": 1,
        "readyTime": "2026-11-22T10:00:00Z",
        "lastUpgrade": "2026-11-22T09:59:00Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "PodReady",
                "message": "pod is ready",
                "lastTransitionTime": "2026-11-22T10:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "status", {"status": status}
    )
    assert patched["status"] == status

    # A write to the main resource does not change status.
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "status", {"status": {"phase": "Failed"}}
    )
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "status")
    assert stored["status"]["phase"] == "Running"


@pytest.mark.parametrize(
    ("status", "field", "message"),
    [
        ({"phase": "Succeeded"}, "status.phase", "Unsupported value"),
        (
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "A",
                        "message": "",
                        "lastTransitionTime": "2026-11-22T10:00:00Z",
                    },
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "B",
                        "message": "",
                        "lastTransitionTime": "2026-11-22T10:00:00Z",
                    },
                ]
            },
            "status.conditions[1]",
            "Duplicate value",
        ),
        (
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "Yes",
                        "reason": "A",
                        "message": "",
                        "lastTransitionTime": "2026-11-22T10:00:00Z",
                    }
                ]
            },
            "status.conditions[0].status",
            "Unsupported value",
        ),
    ],
)
def test_invalid_status_is_rejected(custom, namespace, performer_crd, status: dict, field: str, message: str):
    create_performer(custom, namespace, performer("bad-status"))
    with pytest.raises(kubernetes.client.ApiException) as raised:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "bad-status", {"status": status}
        )
    assert any(c["field"] == field and message in c["message"] for c in rejection_causes(raised.value)), (
        raised.value.body
    )


# (id, changes to a valid Performer, the field the error must name, a fragment of the rule's message)
INVALID = [
    ("avs-too-short", {"spec": {"avsAddress": "0x1234"}}, "spec.avsAddress", "0x followed by 40 hexadecimal"),
    ("avs-without-0x", {"spec": {"avsAddress": "ab" + "1" * 40}}, "spec.avsAddress", "Ethereum address"),
    ("avs-not-hex", {"spec": {"avsAddress": "0x" + "g" * 40}}, "spec.avsAddress", "Ethereum address"),
    ("avs-missing", {"spec": {"avsAddress": None}}, "spec.avsAddress", "Required value"),
    ("image-missing", {"spec": {"image": None}}, "spec.image", "Required value"),
    ("image-empty", {"spec": {"image": ""}}, "spec.image", "non-empty image reference"),
    (
        "image-whitespace",
        {"spec": {"image": "ghcr.io/x/y:v1 --privileged"}},
        "spec.image",
        "without whitespace",
    ),
    ("image-template", {"spec": {"image": "{{ lookup('pipe','id') }}"}}, "spec.image", "template braces"),
    ("pull-policy", {"spec": {"imagePullPolicy": "Sometimes"}}, "spec.imagePullPolicy", "Unsupported value"),
    ("version-too-long", {"spec": {"version": "v" * 129}}, "spec.version", "Too long"),
    (
        "port-zero",
        {"spec": {"config": {"grpcPort": 0}}},
        "spec.config.grpcPort",
        "greater than or equal to 1",
    ),
    (
        "port-too-big",
        {"spec": {"config": {"grpcPort": 65536}}},
        "spec.config.grpcPort",
        "less than or equal to 65535",
    ),
    (
        "env-name-with-equals",
        {"spec": {"config": {"environment": {"A=B": "x"}}}},
        "spec.config.environment",
        "without '='",
    ),
    (
        "env-from-two-sources",
        {
            "spec": {
                "config": {
                    "environmentFrom": [
                        {
                            "name": "X",
                            "valueFrom": {
                                "secretKeyRef": {"name": "s", "key": "k"},
                                "configMapKeyRef": {"name": "c", "key": "k"},
                            },
                        }
                    ]
                }
            }
        },
        "spec.config.environmentFrom[0].valueFrom",
        "exactly one of secretKeyRef or configMapKeyRef",
    ),
    (
        "env-from-no-source",
        {"spec": {"config": {"environmentFrom": [{"name": "X", "valueFrom": {}}]}}},
        "spec.config.environmentFrom[0].valueFrom",
        "exactly one of secretKeyRef or configMapKeyRef",
    ),
    (
        "env-from-no-value-from",
        {"spec": {"config": {"environmentFrom": [{"name": "X"}]}}},
        "spec.config.environmentFrom[0].valueFrom",
        "Required value",
    ),
    (
        "env-from-bad-secret-name",
        {
            "spec": {
                "config": {
                    "environmentFrom": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "Not_A_Name", "key": "k"}}}
                    ]
                }
            }
        },
        "spec.config.environmentFrom[0].valueFrom.secretKeyRef.name",
        "Kubernetes object name",
    ),
    (
        "env-from-duplicate-name",
        {
            "spec": {
                "config": {
                    "environmentFrom": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a"}}},
                        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "b"}}},
                    ]
                }
            }
        },
        "spec.config.environmentFrom[1]",
        "Duplicate value",
    ),
    (
        "env-from-repeats-environment",
        {
            "spec": {
                "config": {
                    "environment": {"X": "1"},
                    "environmentFrom": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a"}}}
                    ],
                }
            }
        },
        "spec.config.environmentFrom",
        "must not repeat a name of environment",
    ),
    (
        "service-account-name",
        {"spec": {"config": {"serviceAccountName": "Bad_SA"}}},
        "spec.config.serviceAccountName",
        "Kubernetes object name",
    ),
    ("name-too-long", {"metadata": {"name": "p" * 54}}, "metadata.name", "at most 53 characters"),
    ("name-with-dots", {"metadata": {"name": "my.performer"}}, "metadata.name", "must not contain dots"),
    (
        "gpu-count-negative",
        {"spec": {"hardwareRequirements": {"gpuCount": -1}}},
        "spec.hardwareRequirements.gpuCount",
        "greater than or equal to 0",
    ),
    (
        "gpu-count-huge",
        {"spec": {"hardwareRequirements": {"gpuCount": 64}}},
        "spec.hardwareRequirements.gpuCount",
        "less than or equal to 16",
    ),
    (
        "gpu-type-without-count",
        {"spec": {"hardwareRequirements": {"gpuType": "nvidia-h100"}}},
        "spec.hardwareRequirements.gpuCount",
        "at least 1 when gpuType is set",
    ),
    (
        "gpu-type-format",
        {"spec": {"hardwareRequirements": {"gpuType": "NVIDIA A100", "gpuCount": 1}}},
        "spec.hardwareRequirements.gpuType",
        "Unsupported value",
    ),
    (
        "gpu-type-unknown",
        {"spec": {"hardwareRequirements": {"gpuType": "acme-x1", "gpuCount": 1}}},
        "spec.hardwareRequirements.gpuType",
        'supported values: "nvidia-a100", "nvidia-a10g", "nvidia-h100"',
    ),
    (
        "tee-type-unknown",
        {"spec": {"hardwareRequirements": {"teeRequired": True, "teeType": "trustzone"}}},
        "spec.hardwareRequirements.teeType",
        "Unsupported value",
    ),
    (
        "tee-required-without-type",
        {"spec": {"hardwareRequirements": {"teeRequired": True}}},
        "spec.hardwareRequirements.teeType",
        "teeType is required when teeRequired is true",
    ),
    (
        "tee-type-without-required",
        {"spec": {"hardwareRequirements": {"teeType": "sgx"}}},
        "spec.hardwareRequirements.teeRequired",
        "teeRequired must be true when teeType is set",
    ),
    (
        "custom-label-key",
        {"spec": {"hardwareRequirements": {"customLabels": {"bad key!": "x"}}}},
        "spec.hardwareRequirements.customLabels",
        "keys must be valid label keys",
    ),
    (
        "custom-label-value",
        {"spec": {"hardwareRequirements": {"customLabels": {"example.com/rack": "no spaces"}}}},
        "spec.hardwareRequirements.customLabels[example.com/rack]",
        "valid label value",
    ),
    (
        "node-selector-key",
        {"spec": {"scheduling": {"nodeSelector": {"-leading-dash": "x"}}}},
        "spec.scheduling.nodeSelector",
        "keys must be valid label keys",
    ),
    (
        "toleration-exists-with-value",
        {"spec": {"scheduling": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}},
        "spec.scheduling.tolerations[0].value",
        "value must be empty when operator is Exists",
    ),
    (
        "toleration-no-key-equal",
        {"spec": {"scheduling": {"tolerations": [{"operator": "Equal", "value": "v"}]}}},
        "spec.scheduling.tolerations[0].operator",
        "operator must be Exists when key is empty",
    ),
    (
        "toleration-seconds-without-noexecute",
        {
            "spec": {
                "scheduling": {
                    "tolerations": [
                        {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}
                    ]
                }
            }
        },
        "spec.scheduling.tolerations[0].tolerationSeconds",
        "only be set when effect is NoExecute",
    ),
    (
        "toleration-effect",
        {"spec": {"scheduling": {"tolerations": [{"key": "k", "effect": "NoWay"}]}}},
        "spec.scheduling.tolerations[0].effect",
        "Unsupported value",
    ),
    (
        "toleration-key",
        {"spec": {"scheduling": {"tolerations": [{"key": "bad key", "operator": "Exists"}]}}},
        "spec.scheduling.tolerations[0].key",
        "key must be a valid label key",
    ),
    (
        "runtime-class",
        {"spec": {"scheduling": {"runtimeClass": "Kata_QEMU"}}},
        "spec.scheduling.runtimeClass",
        "RuntimeClass name",
    ),
    (
        "priority-class",
        {"spec": {"scheduling": {"priorityClassName": "High Priority"}}},
        "spec.scheduling.priorityClassName",
        "Kubernetes object name",
    ),
    (
        "affinity-weight",
        {
            "spec": {
                "scheduling": {
                    "affinity": {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {"weight": 0, "preference": {}}
                            ]
                        }
                    }
                }
            }
        },
        "spec.scheduling.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "greater than or equal to 1",
    ),
    (
        "affinity-in-without-values",
        {
            "spec": {
                "scheduling": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {"matchExpressions": [{"key": "zone", "operator": "In"}]}
                                ]
                            }
                        }
                    }
                }
            }
        },
        "spec.scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].values",
        "values must be non-empty when operator is In or NotIn",
    ),
    (
        "affinity-operator",
        {
            "spec": {
                "scheduling": {
                    "affinity": {
                        "podAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "topologyKey": "zone",
                                    "labelSelector": {
                                        "matchExpressions": [
                                            {"key": "app", "operator": "Gt", "values": ["1"]}
                                        ]
                                    },
                                }
                            ]
                        }
                    }
                }
            }
        },
        "spec.scheduling.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector"
        ".matchExpressions[0].operator",
        "Unsupported value",
    ),
    (
        "requests-above-limits",
        {"spec": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}},
        "spec.resources.requests",
        "less than or equal to the limit",
    ),
    (
        "quantity-negative",
        {"spec": {"resources": {"requests": {"cpu": "-1"}}}},
        "spec.resources.requests[cpu]",
        "greater than or equal to 0",
    ),
    (
        "quantity-out-of-range",
        {"spec": {"resources": {"limits": {"memory": "1e400"}}}},
        "spec.resources.limits[memory]",
        "at most 9223372036854775807",
    ),
    (
        "gpu-fraction",
        {"spec": {"resources": {"limits": {"nvidia.com/gpu": "0.5"}}}},
        "spec.resources.limits",
        "must be whole numbers",
    ),
    (
        "gpu-request-without-limit",
        {"spec": {"resources": {"requests": {"nvidia.com/gpu": "1"}}}},
        "spec.resources.requests",
        "cannot be overcommitted",
    ),
    (
        "gpu-request-below-limit",
        {"spec": {"resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "2"}}}},
        "spec.resources.requests",
        "a request needs a limit of the same amount",
    ),
    (
        "quantity-format",
        {"spec": {"resources": {"limits": {"memory": "lots"}}}},
        "spec.resources.limits.memory",
        "should match",
    ),
    (
        "pull-secret-without-name",
        {"spec": {"imagePullSecrets": [{}]}},
        "spec.imagePullSecrets[0].name",
        "Required value",
    ),
]


# What the CRD admitted while the API server then refused every pod rendered from it (the Performer
# never converged, and the error named the pod's field): each is now refused naming the Performer's.
NODE_AFFINITY = "spec.scheduling.affinity.nodeAffinity"
NODE_TERMS = f"{NODE_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
POD_AFFINITY = "spec.scheduling.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution"
POD_ANTI_AFFINITY = "spec.scheduling.affinity.podAntiAffinity"


def node_terms(*terms: dict) -> dict:
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    }
    return {"spec": {"scheduling": {"affinity": affinity}}}


def node_requirement(key: str, operator: str, *values: str, fields: bool = False) -> dict:
    requirement = {"key": key, "operator": operator} | ({"values": list(values)} if values else {})
    return node_terms({"matchFields" if fields else "matchExpressions": [requirement]})


def pod_affinity_term(term: dict, *, kind: str = "podAffinity", preferred: bool = False) -> dict:
    terms = (
        {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "podAffinityTerm": term}]}
        if preferred
        else {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    )
    return {"spec": {"scheduling": {"affinity": {kind: terms}}}}


SELECTOR = {"matchLabels": {"app": "avs"}}
POD_INVALID = [
    (
        "claims",
        {"spec": {"resources": {"claims": [{"name": "gpu"}]}}},
        "spec.resources.claims",
        "must be empty: a claim names an entry of the pod's resourceClaims",
    ),
    ("node-terms-empty", node_terms(), NODE_TERMS, "should have at least 1 item"),
    (
        "node-terms-too-many",
        node_terms(*[{}] * 9),
        NODE_TERMS,
        "must have at most 8 items",
    ),
    (
        "node-expression-key",
        node_requirement("bad key!", "Exists"),
        f"{NODE_TERMS}[0].matchExpressions[0].key",
        "must be a valid label key",
    ),
    (
        "node-expression-value",
        node_requirement("zone", "In", "bad value!"),
        f"{NODE_TERMS}[0].matchExpressions[0].values[0]",
        "must be a valid label value",
    ),
    (
        "node-preference-key",
        {
            "spec": {
                "scheduling": {
                    "affinity": {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 1,
                                    "preference": {
                                        "matchExpressions": [{"key": "bad key!", "operator": "Exists"}]
                                    },
                                }
                            ]
                        }
                    }
                }
            }
        },
        f"{NODE_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key",
        "must be a valid label key",
    ),
    (
        "node-field-key",
        node_requirement("metadata.labels", "In", "a", fields=True),
        f"{NODE_TERMS}[0].matchFields[0].key",
        "must be metadata.name, the only node field a selector matches",
    ),
    (
        "node-field-two-values",
        node_requirement("metadata.name", "In", "a", "b", fields=True),
        f"{NODE_TERMS}[0].matchFields[0].values",
        "must have at most 1 item",
    ),
    (
        "node-field-no-value",
        node_requirement("metadata.name", "NotIn", fields=True),
        f"{NODE_TERMS}[0].matchFields[0].values",
        "values must hold exactly one node name",
    ),
    (
        "node-field-operator",
        node_requirement("metadata.name", "Exists", fields=True),
        f"{NODE_TERMS}[0].matchFields[0].operator",
        'supported values: "In", "NotIn"',
    ),
    (
        "node-field-node-name",
        node_requirement("metadata.name", "In", "Bad_Node", fields=True),
        f"{NODE_TERMS}[0].matchFields[0].values[0]",
        "Kubernetes object name",
    ),
    (
        "anti-affinity-topology-key",
        pod_affinity_term({"topologyKey": "bad key!", "labelSelector": SELECTOR}, kind="podAntiAffinity"),
        f"{POD_ANTI_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
        "must be a valid label key",
    ),
    (
        "anti-affinity-preferred-topology-key",
        pod_affinity_term(
            {"topologyKey": "bad key!", "labelSelector": SELECTOR}, kind="podAntiAffinity", preferred=True
        ),
        f"{POD_ANTI_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey",
        "must be a valid label key",
    ),
    (
        "pod-affinity-namespace",
        pod_affinity_term({"topologyKey": "zone", "namespaces": ["Bad_NS"], "labelSelector": SELECTOR}),
        f"{POD_AFFINITY}[0].namespaces[0]",
        "must be a valid namespace name (DNS-1123 label)",
    ),
    (
        "pod-affinity-selector-key",
        pod_affinity_term(
            {
                "topologyKey": "zone",
                "labelSelector": {"matchExpressions": [{"key": "bad key!", "operator": "Exists"}]},
            }
        ),
        f"{POD_AFFINITY}[0].labelSelector.matchExpressions[0].key",
        "must be a valid label key",
    ),
    (
        "pod-affinity-selector-value",
        pod_affinity_term(
            {
                "topologyKey": "zone",
                "labelSelector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["bad value!"]}]
                },
            }
        ),
        f"{POD_AFFINITY}[0].labelSelector.matchExpressions[0].values[0]",
        "must be a valid label value",
    ),
    (
        "pod-affinity-namespace-selector-key",
        pod_affinity_term(
            {
                "topologyKey": "zone",
                "labelSelector": SELECTOR,
                "namespaceSelector": {"matchExpressions": [{"key": "bad key!", "operator": "Exists"}]},
            }
        ),
        f"{POD_AFFINITY}[0].namespaceSelector.matchExpressions[0].key",
        "must be a valid label key",
    ),
    (
        "match-label-keys-without-selector",
        pod_affinity_term({"topologyKey": "zone", "matchLabelKeys": ["app"]}),
        f"{POD_AFFINITY}[0].matchLabelKeys",
        "matchLabelKeys must be empty when labelSelector is not set",
    ),
    (
        "mismatch-label-keys-without-selector",
        pod_affinity_term({"topologyKey": "zone", "mismatchLabelKeys": ["app"]}),
        f"{POD_AFFINITY}[0].mismatchLabelKeys",
        "mismatchLabelKeys must be empty when labelSelector is not set",
    ),
    (
        "match-label-key",
        pod_affinity_term({"topologyKey": "zone", "labelSelector": SELECTOR, "matchLabelKeys": ["bad key!"]}),
        f"{POD_AFFINITY}[0].matchLabelKeys[0]",
        "must be a valid label key",
    ),
    (
        "match-and-mismatch-label-key",
        pod_affinity_term(
            {
                "topologyKey": "zone",
                "labelSelector": SELECTOR,
                "matchLabelKeys": ["x"],
                "mismatchLabelKeys": ["x"],
            }
        ),
        f"{POD_AFFINITY}[0].matchLabelKeys",
        "must not be in both matchLabelKeys and mismatchLabelKeys",
    ),
    (
        "match-label-key-in-selector",
        pod_affinity_term({"topologyKey": "zone", "labelSelector": SELECTOR, "matchLabelKeys": ["app"]}),
        f"{POD_AFFINITY}[0].matchLabelKeys",
        "a key of matchLabelKeys must not be a key of labelSelector",
    ),
    (
        "match-label-key-in-selector-expression",
        pod_affinity_term(
            {
                "topologyKey": "zone",
                "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                "matchLabelKeys": ["app"],
            },
            kind="podAntiAffinity",
            preferred=True,
        ),
        f"{POD_ANTI_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys",
        "a key of matchLabelKeys must not be a key of labelSelector",
    ),
    (
        "resource-name-not-standard",
        {"spec": {"resources": {"limits": {"foo": "1"}}}},
        "spec.resources.limits",
        "must be cpu, memory, ephemeral-storage, hugepages-<page size> or a name with a domain",
    ),
    (
        "resource-name-not-for-containers",
        {"spec": {"resources": {"requests": {"pods": "1"}}}},
        "spec.resources.requests",
        "resource names must be cpu, memory, ephemeral-storage",
    ),
    (
        "resource-name-requests-prefix",
        {"spec": {"resources": {"limits": {"requests.example.com/fpga": "1"}}}},
        "spec.resources.limits",
        "not beginning with requests.",
    ),
    (
        "huge-pages-without-cpu-or-memory",
        {"spec": {"resources": {"limits": {"hugepages-2Mi": "2Mi"}, "requests": {"hugepages-2Mi": "2Mi"}}}},
        "spec.resources",
        "huge pages (hugepages-<page size>) need a cpu or memory request or limit",
    ),
    (
        "huge-pages-not-page-multiple",
        {"spec": {"resources": {"limits": {"hugepages-2Mi": "1Mi", "memory": "1Gi"}}}},
        "spec.resources.limits",
        "a whole multiple of the page size",
    ),
    (
        "huge-pages-page-size",
        {"spec": {"resources": {"limits": {"hugepages-big": "2Mi", "memory": "1Gi"}}}},
        "spec.resources.limits",
        "must be named hugepages-<page size>",
    ),
    (
        "resource-name-not-qualified",
        {"spec": {"resources": {"limits": {"example.com/bad key": "1"}}}},
        "spec.resources.limits",
        "resource names must be qualified names",
    ),
    (
        "node-expression-exists-with-values",
        node_requirement("zone", "Exists", "a"),
        f"{NODE_TERMS}[0].matchExpressions[0].values",
        "values must be empty when operator is Exists or DoesNotExist",
    ),
    (
        "node-expression-gt-not-integer",
        node_requirement("generation", "Gt", "3a"),
        f"{NODE_TERMS}[0].matchExpressions[0].values",
        "values must hold exactly one integer when operator is Gt or Lt",
    ),
    (
        "environment-secret-key",
        {
            "spec": {
                "config": {
                    "environmentFrom": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "bad key"}}}
                    ]
                }
            }
        },
        "spec.config.environmentFrom[0].valueFrom.secretKeyRef.key",
        "must consist of alphanumeric characters, '-', '_' or '.'",
    ),
]
INVALID += POD_INVALID


@pytest.mark.parametrize(
    ("changes", "field", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_performer_is_rejected_naming_the_field(
    custom, namespace, performer_crd, changes: dict, field: str, message: str
):
    body = with_changes(performer("invalid", config={}), changes)
    with pytest.raises(kubernetes.client.ApiException) as raised:
        create_performer(custom, namespace, body)
    causes = rejection_causes(raised.value)
    assert any(c.get("field") == field and message in c["message"] for c in causes), (
        f"no cause names {field!r} with {message!r}; causes: {causes}"
    )
    # Nothing half-created: the rejected object does not exist.
    assert not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]


# Specs core/v1 takes in a pod, next to the rules above, which the CRD must take too (the one-off
# deploy's unit tests check that its own check takes them as well).
ACCEPTED_QUANTITIES = {
    "requests": {"cpu": "0", "memory": "9e18", "hugepages-2Mi": "1Gi", "example.com/fpga": 2},
    "limits": {"cpu": "+1.5", "hugepages-2Mi": "1Gi", "example.com/fpga": "2", "nvidia.com/gpu": "1k"},
}
CORE_V1_TERM = {
    "labelSelector": {
        "matchLabels": {"app": "avs"},
        "matchExpressions": [{"key": "example.com/tier", "operator": "In", "values": ["", "gold_1.a-b"]}],
    },
    "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
    "namespaces": ["n" * 63, "avs-1"],
    "topologyKey": "topology.kubernetes.io/zone",
    "matchLabelKeys": ["hourglass.eigenlayer.io/avs", "example.com/absent"],
    "mismatchLabelKeys": ["app"],  # a key of labelSelector too: core/v1 takes it
}
CORE_V1_SCHEDULING = {
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {},
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "NotIn", "values": ["node-1.example"]}
                        ]
                    },
                    {"matchExpressions": [{"key": "example.com/gen", "operator": "Lt", "values": ["3"]}]},
                ]
            },
        },
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [CORE_V1_TERM]},
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": CORE_V1_TERM}
            ]
        },
    }
}
CORE_V1_RESOURCES = {
    "requests": {"cpu": "1", "hugepages-1Gi": "2Gi", "ephemeral-storage": "1Gi"},
    "limits": {"hugepages-1Gi": "2Gi", "hugepages-2Mi": 4194304, "kubernetes.io/example": "1"},
    "claims": [],
}
# The bounds that keep the CEL cost in budget (docs/performer-crd.md): 8 terms of 16 requirements of
# 64 values each.
BOUND_REQUIREMENT = {"key": "example.com/rack", "operator": "In", "values": [f"r{i}" for i in range(64)]}
AFFINITY_AT_ITS_BOUNDS = node_terms(*[{"matchExpressions": [BOUND_REQUIREMENT] * 16} for _ in range(8)])


def test_quantities_core_v1_accepts_are_accepted(custom, namespace, performer_crd):
    created = create_performer(custom, namespace, performer("quantities", resources=ACCEPTED_QUANTITIES))
    assert created["spec"]["resources"] == ACCEPTED_QUANTITIES


def test_affinity_and_resources_core_v1_accepts_are_accepted(custom, namespace, performer_crd):
    body = performer("core-v1", scheduling=CORE_V1_SCHEDULING, resources=CORE_V1_RESOURCES)
    created = create_performer(custom, namespace, body)
    assert created["spec"]["scheduling"] == CORE_V1_SCHEDULING
    assert created["spec"]["resources"] == CORE_V1_RESOURCES


def test_affinity_at_its_bounds_is_accepted(custom, namespace, performer_crd):
    body = with_changes(performer("bounds"), AFFINITY_AT_ITS_BOUNDS)
    created = create_performer(custom, namespace, body)
    assert created["spec"]["scheduling"] == body["spec"]["scheduling"]
