"""What the Kubernetes backend writes and reads: a created Performer carries upstream's name and
labels, this executor's owner label and the pull policy (IfNotPresent unless set); `owned` asks only
for this executor's Performers and lists them oldest first with their readiness; a Performer counts
as ready (and resource-healthy) only when its status says so for its current spec and it is not
being deleted; a Failed status written for an older spec does not fail a deploy; the image in the
resource wins over its `version`; and the backend refuses settings the API server would refuse."""

from __future__ import annotations

import hashlib
import re

import pytest
from hourglass_executor.config import KubernetesConfig
from hourglass_executor.performers.base import BackendError, EnvVar, NotReadyError
from hourglass_executor.performers.kubernetes import KubernetesBackend
from hourglass_executor.performers.kubernetes.resource import (
    is_ready,
    performer_body,
    readiness,
    spec_from_resource,
)

from tests.support.fake_kubernetes import GROUP, VERSION, Stream, performer
from tests.unit.executor.test_kubernetes_performers import AVS, READY, run_with_backend, spec

pytestmark = pytest.mark.unit

OWNER_SELECTOR = "hourglass.eigenlayer.io/executor=exec-a"


def test_a_created_performer_has_upstreams_name_and_labels_the_owner_label_and_the_pull_policy():
    async def scenario(api, backend):
        created = await backend.create(spec())
        return created.performer_id, api.objects[created.performer_id]

    name, stored = run_with_backend(scenario)
    h6 = hashlib.sha256(AVS.lower().encode()).hexdigest()[:6]  # of the lower-cased address
    assert re.fullmatch(rf"performer-{h6}-[0-9a-f]{{8}}", name)
    assert stored["metadata"]["labels"] == {
        "app": "hourglass-performer",
        "hourglass.eigenlayer.io/avs": AVS,
        "hourglass.eigenlayer.io/performer": name,
        "hourglass.eigenlayer.io/executor": "exec-a",
    }
    assert stored["spec"]["imagePullPolicy"] == "IfNotPresent"


def test_owned_asks_for_this_executors_performers_and_lists_them_oldest_first_with_readiness():
    async def scenario(api, backend):
        # Names in the opposite order of their ages: the creation time decides.
        api.objects["performer-b"] = performer(
            "performer-b", status={"phase": "Pending"}, avsAddress=AVS, image="img:v1"
        )
        api.objects["performer-b"]["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
        api.objects["performer-a"] = performer("performer-a", status=READY, avsAddress=AVS, image="img:v2")
        api.objects["performer-a"]["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z"
        owned = await backend.owned()
        return [(d.performer_id, d.ready) for d in owned], api.requests

    owned, requests = run_with_backend(scenario)
    assert owned == [("performer-b", False), ("performer-a", True)]
    assert [query.get("labelSelector") for query in requests] == [OWNER_SELECTOR]


def test_resource_health_is_the_operators_readiness():
    async def scenario(api, backend):
        api.objects["ready"] = performer("ready", status=READY)
        api.objects["pending"] = performer("pending", status={"phase": "Pending", "observedGeneration": 1})
        api.streams.put_nowait(Stream(hold=True))
        return [await backend.resource_healthy(name) for name in ("ready", "pending", "gone")]

    assert run_with_backend(scenario) == [True, False, False]


def test_a_performer_being_deleted_is_not_ready():
    deleting = performer("p", status=READY)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert is_ready(performer("p", status=READY))
    assert not is_ready(deleting)


def test_a_failed_status_written_for_an_older_spec_is_waited_out():
    stale = performer("p", status={"phase": "Failed", "observedGeneration": 1})
    stale["metadata"]["generation"] = 2  # the spec changed since the operator wrote that status
    assert readiness(stale, "avs/p", needs_endpoint=False) is None
    current = performer("p", status={"phase": "Failed", "observedGeneration": 1})
    with pytest.raises(NotReadyError, match="failed"):
        readiness(current, "avs/p", needs_endpoint=False)


@pytest.mark.parametrize(
    ("image", "version", "tag", "digest"),
    [
        ("registry.example/p:v2", "v1", "v2", None),  # the image runs; `version` is only a label
        ("registry.example/p", "v1", "v1", None),
        ("registry.example/p:v2@sha256:" + "ab" * 32, "v1", "v1", "sha256:" + "ab" * 32),
    ],
)
def test_the_spec_read_back_takes_the_tag_from_the_image_and_the_version_only_beside_a_digest(
    image, version, tag, digest
):
    read = spec_from_resource(performer("p", avsAddress=AVS, image=image, version=version))
    assert (read.repository, read.tag, read.digest) == ("registry.example/p", tag, digest)


def test_an_env_var_from_both_a_secret_and_a_config_map_is_refused():
    both = spec(env=(EnvVar("TOKEN", secret_key_ref=("s", "k"), config_map_key_ref=("c", "k")),))
    with pytest.raises(BackendError, match="env TOKEN: set at most one of"):
        performer_body(
            "p", both, api_version=f"{GROUP}/{VERSION}", owner_id="exec-a", grpc_port=8080,
            pull_policy="IfNotPresent",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("owner", "settings", "message"),
    [
        ("exec a", {}, "owner_id must be a Kubernetes label value"),
        ("exec-a", {"image_pull_policy": "Sometimes"}, "image_pull_policy must be one of"),
    ],
)
def test_the_backend_refuses_an_owner_id_or_pull_policy_kubernetes_would_refuse(owner, settings, message):
    config = KubernetesConfig.model_validate({"namespace": "avs"})
    with pytest.raises(ValueError, match=message):
        KubernetesBackend(config, owner, **settings)
