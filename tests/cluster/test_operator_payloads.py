"""The operator with payloads at the edges of what the API server accepts: a batch of 100 Performers
whose env values make the batch megabytes large, one Performer near the object size limit, and
strings outside the Basic Multilingual Plane. Every result must reach the runner loop, every
finalizer must be released, and every string must reach the pod verbatim."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.performers import GROUP, PLURAL, VERSION, performer
from tests.support.waiting import wait_for

BATCH = 100
ENV_VALUE_BYTES = 8 * 1024
HUGE_ENV_VALUE_BYTES = 1_000_000


def list_performers(custom, namespace: str) -> list[dict]:
    return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]


def test_a_megabytes_large_batch_is_reconciled_and_deleted(core, custom, namespace, operators):
    bodies = [
        performer(f"big-{i:03d}", config={"environment": {"BLOB": f"{i:03d}" + "x" * ENV_VALUE_BYTES}})
        for i in range(BATCH)
    ]
    bodies.append(performer("huge", config={"environment": {"BLOB": "y" * HUGE_ENV_VALUE_BYTES}}))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda body: custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body), bodies))  # fmt: skip
    # Started once they all exist, the operator sees them at once: one batch of --max-batch-size.
    operator = operators("--max-batch-size", str(BATCH + 1))
    operator.wait_ready()

    def all_ready() -> list[dict] | None:
        items = list_performers(custom, namespace)
        done = [
            cr for cr in items
            if (cr.get("status") or {}).get("ready")
            and cr["status"].get("observedGeneration") == cr["metadata"]["generation"]
        ]  # fmt: skip
        return items if len(done) == len(bodies) else None

    wait_for(all_ready, timeout=240, interval=1, what=f"all {len(bodies)} Performers to be ready")
    # The statuses are written by the role; that the loop got every result shows in its metrics.
    assert operator.metric('hourglass_reconciles_total{result="error"}') == 0
    huge_pod = core.read_namespaced_pod("performer-huge", namespace)
    assert {e.name: len(e.value) for e in huge_pod.spec.containers[0].env} == {"BLOB": HUGE_ENV_VALUE_BYTES}

    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)

    def all_gone() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector="app=hourglass-performer").items
        return not list_performers(custom, namespace) and not pods

    wait_for(all_gone, timeout=240, interval=1, what="every Performer and its Pod to be gone")
    assert operator.metric('hourglass_reconciles_total{result="error"}') == 0


# Outside the Basic Multilingual Plane, and characters YAML holds only as escapes.
UNICODE = "emoji 😀🚀, CJK 𠜎, music 𝄞, nel\x85 ls\u2028 del\x7f"


def test_unicode_outside_the_bmp_reaches_the_pod_verbatim(core, custom, namespace, operator):
    image = "registry.example/🚀/performer:v1"
    config = {"environment": {"TEXT": UNICODE}, "args": [UNICODE, "😀"], "command": ["/bin/🚀", UNICODE]}
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, performer("unicode", image=image, config=config)
    )

    def ready() -> dict | None:
        cr = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "unicode")
        return cr if (cr.get("status") or {}).get("ready") else None

    wait_for(ready, timeout=60, what="the Performer to be ready")
    container = core.read_namespaced_pod("performer-unicode", namespace).spec.containers[0]
    assert container.image == image
    assert {e.name: e.value for e in container.env} == {"TEXT": UNICODE}
    assert container.args == config["args"]
    assert container.command == config["command"]
