"""The Kubernetes backend's parts without a cluster: the Performer resource mapping (body, spec read
back, readiness, the address from status.grpcEndpoint), the asyncio watch against a scripted API
server over real HTTP (resume from the last resourceVersion and bookmarks, also after a request
that broke midway, relist on 410 Gone, back-off and reporting of errors and of requests that end at
once without an event, stop), and `wait_ready` waiting for the status's endpoint."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.config import KubernetesConfig
from hourglass_executor.kubernetes_api import RETRY_AFTER_MAX, RETRY_ATTEMPTS, retry_after
from hourglass_executor.performers.base import BackendError, EnvVar, NotReadyError, PerformerSpec
from hourglass_executor.performers.kubernetes import KubernetesBackend
from hourglass_executor.performers.kubernetes import watch as watch_module
from hourglass_executor.performers.kubernetes.resource import (
    describe_status,
    performer_body,
    readiness,
    spec_from_resource,
    status_endpoint,
)
from hourglass_executor.performers.kubernetes.watch import PerformerWatch
from kubernetes_asyncio.client import ApiException, CustomObjectsApi

from tests.support.fake_kubernetes import (
    GROUP,
    VERSION,
    FakePerformerApi,
    Stream,
    bookmark,
    event,
    gone,
    performer,
    status_body,
)

pytestmark = pytest.mark.unit

AVS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
READY = {"phase": "Running", "ready": True, "observedGeneration": 1}
ENDPOINT = "performer-p.avs.svc.cluster.local"


# --- the resource --------------------------------------------------------------------------------


def test_the_body_reads_back_as_the_spec_it_was_made_from():
    spec = PerformerSpec(
        avs_address=AVS,
        repository="registry.example/avs/performer",
        tag="v1",
        digest="sha256:" + "ab" * 32,
        env=(EnvVar("LOG", "debug"), EnvVar("KEY", secret_key_ref=("s", "k"))),
        service_account_name="runner",
    )
    body = performer_body(
        "performer-abc", spec, api_version=f"{GROUP}/{VERSION}", owner_id="exec-a", grpc_port=9000,
        pull_policy="IfNotPresent",
    )  # fmt: skip
    assert body["spec"]["config"]["environment"] == {"AVS_ADDRESS": AVS, "GRPC_PORT": "9000", "LOG": "debug"}
    assert body["metadata"]["labels"]["hourglass.eigenlayer.io/executor"] == "exec-a"
    assert spec_from_resource(body) == spec


def test_the_address_is_the_status_endpoint_with_the_performers_port():
    obj = performer("p", status={**READY, "grpcEndpoint": ENDPOINT}, config={"grpcPort": 9000})
    assert status_endpoint(obj) == f"{ENDPOINT}:9000"
    assert status_endpoint(performer("p", status={**READY, "grpcEndpoint": ENDPOINT}, config=None)) == (
        f"{ENDPOINT}:8080"  # no spec.config: the operator's default port
    )
    assert status_endpoint(performer("p", status=READY)) == ""


def test_readiness_waits_for_the_endpoint_only_when_the_address_comes_from_the_status():
    without = performer("p", status=READY)
    with_endpoint = performer("p", status={**READY, "grpcEndpoint": ENDPOINT})
    assert readiness(without, "avs/p", needs_endpoint=True) is None
    assert readiness(without, "avs/p", needs_endpoint=False) is without
    assert readiness(with_endpoint, "avs/p", needs_endpoint=True) is with_endpoint
    assert describe_status(without, needs_endpoint=True) == (
        "phase Running; ready, but status.grpcEndpoint is not reported yet"
    )
    stale = performer("p", status={**READY, "grpcEndpoint": ENDPOINT, "observedGeneration": 0})
    assert readiness(stale, "avs/p", needs_endpoint=True) is None  # status of an older spec
    failed = performer("p", status={"phase": "Failed", "observedGeneration": 1})
    with pytest.raises(NotReadyError, match="failed: phase Failed"):
        readiness(failed, "avs/p", needs_endpoint=True)
    # Only its pod ended (evicted, rejected by its node): the operator replaces it, so it may still
    # become ready; a reconcile that failed too is a failure.
    ended = {"type": "Ready", "status": "False", "reason": "PodFailed", "message": "the performer pod ended"}
    reconciled = {"type": "Reconciled", "status": "True", "reason": "ReconcileSucceeded", "message": "ok"}
    replacing = performer("p", status={**failed["status"], "conditions": [ended, reconciled]})
    assert readiness(replacing, "avs/p", needs_endpoint=True) is None
    not_reconciled = {**reconciled, "status": "False", "reason": "ReconcileFailed", "message": "403"}
    broken = performer("p", status={**failed["status"], "conditions": [ended, not_reconciled]})
    with pytest.raises(NotReadyError, match="failed: phase Failed"):
        readiness(broken, "avs/p", needs_endpoint=True)
    # A quota refused its pod: the operator retries once the quota makes room, so it waits too.
    refused = {
        **not_reconciled,
        "message": 'pods "performer-p" is forbidden: exceeded quota: q, requested: pods=1',
    }
    waiting = performer("p", status={**failed["status"], "conditions": [refused]})
    assert readiness(waiting, "avs/p", needs_endpoint=True) is None
    deleting = performer("p", status=READY)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    with pytest.raises(NotReadyError, match="is being deleted"):
        readiness(deleting, "avs/p", needs_endpoint=False)
    # Its namespace is being deleted: the operator says so before the Performer's own deletion.
    message = "the Performer's namespace avs is being deleted, and the Performer with it"
    going = {"type": "Ready", "status": "False", "reason": "NamespaceTerminating", "message": message}
    status = {"phase": "Terminating", "observedGeneration": 1, "conditions": [going]}
    with pytest.raises(NotReadyError, match="being deleted: phase Terminating; Ready: NamespaceTerminating"):
        readiness(performer("p", status=status), "avs/p", needs_endpoint=False)


# --- the watch -----------------------------------------------------------------------------------


def run_with_api(scenario):
    """Runs `scenario(api, watch)` with a fake API server and a watch of its Performers."""

    async def main():
        api = FakePerformerApi()
        await api.start()
        client = api.client()
        watch = PerformerWatch(
            CustomObjectsApi(client), group=GROUP, version=VERSION, namespace="avs",
            label_selector="hourglass.eigenlayer.io/executor=exec-a", connect_timeout=5,
        )  # fmt: skip
        try:
            return await scenario(api, watch)
        finally:
            await watch.stop()
            await client.close()
            await api.stop()

    return asyncio.run(main())


def test_the_watch_follows_events_and_resumes_from_the_last_version_or_bookmark():
    async def scenario(api, watch):
        api.objects["a"] = performer("a", rv="10")
        api.list_version = "10"
        modified = performer("a", rv="16", status=READY)
        api.streams.put_nowait(Stream([event("ADDED", performer("b", rv="11")), bookmark("15")]))
        api.streams.put_nowait(Stream([event("MODIFIED", modified)], hold=True))
        watch.start()
        assert await watch.wait_synced(5)
        seen = await watch.until("a", lambda: watch.get("a") if watch.get("a")["status"] else None, 5)
        return seen, watch.get("b"), api.watch_queries(), modified

    seen, b, queries, modified = run_with_api(scenario)
    assert seen == modified and b["metadata"]["resourceVersion"] == "11"
    assert [q["resourceVersion"] for q in queries] == ["10", "15"]  # the list's, then the bookmark's
    assert all(q["allowWatchBookmarks"] in ("true", "True") for q in queries)
    assert all(q["labelSelector"] == "hourglass.eigenlayer.io/executor=exec-a" for q in queries)


@pytest.mark.parametrize("how", ["error event", "undecodable line"])
def test_a_watch_request_that_breaks_midway_resumes_after_its_last_event(monkeypatch, how):
    """Not from the version the broken request started at: its events would come again, and the
    cache would go back meanwhile (Performer a, deleted, would reappear)."""
    monkeypatch.setattr(watch_module, "BACKOFF_MIN", 0.01)

    async def scenario(api, watch):
        api.objects["a"] = performer("a", rv="10")
        api.list_version = "10"
        breaks = {"type": "ERROR", "object": status_body(500, "etcd leader changed")}
        deleted = performer("a", rv="12")
        api.streams.put_nowait(
            Stream([event("DELETED", deleted), bookmark("15"), breaks if how == "error event" else b"{no\n"])
        )
        api.streams.put_nowait(Stream(hold=True))
        watch.start()
        await asyncio.wait_for(api.until_watches(2), 5)
        return api.watch_queries(), watch.was_deleted("a", "uid-a"), watch.get("a")

    queries, a_deleted, a = run_with_api(scenario)
    assert [q["resourceVersion"] for q in queries] == ["10", "15"]
    assert a_deleted and a is None


def test_a_watch_request_that_ends_at_once_without_an_event_is_sent_again_after_a_back_off(monkeypatch):
    """A proxy that closes watch requests at once: asked again at once, the watch would send
    thousands of requests a second."""
    monkeypatch.setattr(watch_module, "BACKOFF_MIN", 0.05)

    async def scenario(api, watch):
        for _ in range(10):
            api.streams.put_nowait(Stream())  # no event, then the end of the response
        loop = asyncio.get_running_loop()
        watch.start()
        await asyncio.wait_for(api.until_watches(1), 5)
        first = loop.time()
        await asyncio.wait_for(api.until_watches(4), 5)
        return loop.time() - first, watch.last_error

    took, error = run_with_api(scenario)
    assert took >= 0.05 + 0.1 + 0.2  # three back-offs, doubling
    assert error == "the watch request ended within 1 s without an event"


@pytest.mark.parametrize("how", ["event", "http"])
def test_410_gone_lists_again_and_what_vanished_counts_as_deleted(how):
    async def scenario(api, watch):
        api.objects = {"a": performer("a", uid="uid-a"), "b": performer("b", uid="uid-b")}
        api.list_version = "10"
        watch.start()
        await asyncio.wait_for(api.watching.wait(), 5)  # listed, and watching from version 10
        del api.objects["b"]  # deleted while the watch was away, and the version is compacted
        api.list_version = "20"
        api.streams.put_nowait(Stream([gone()]) if how == "event" else Stream(status=410, message="gone"))
        api.streams.put_nowait(Stream(hold=True))
        deleted = await watch.until("b", lambda: watch.was_deleted("b", "uid-b") or None, 5)
        await asyncio.wait_for(api.until_watches(2), 5)
        return deleted, watch.was_deleted("b", "other-uid"), watch.was_deleted("a"), api.watch_queries()

    deleted, other_uid, a_deleted, queries = run_with_api(scenario)
    assert deleted is True and other_uid is False and a_deleted is False
    assert [q["resourceVersion"] for q in queries] == ["10", "20"]  # the second list's version


def test_refused_requests_are_reported_and_retried_after_a_back_off(monkeypatch):
    monkeypatch.setattr(watch_module, "BACKOFF_MIN", 0.01)

    async def scenario(api, watch):
        api.list_failures = [(500, "etcd is sad")]
        api.streams.put_nowait(Stream(status=403, message='performers is forbidden: User "x" cannot watch'))
        api.streams.put_nowait(Stream([event("ADDED", performer("c"))], hold=True))
        watch.start()
        assert await watch.wait_synced(5)
        listing_error = watch.last_error
        await watch.until("c", lambda: watch.get("c"), 5)
        return listing_error, watch.last_error, api.watch_requests

    listing_error, watch_error, watches = run_with_api(scenario)
    assert listing_error == "500 Internal Server Error: etcd is sad"
    assert watch_error == '403 Forbidden: performers is forbidden: User "x" cannot watch'
    assert watches == 2


def test_an_event_split_over_chunks_is_read_whole():
    async def scenario(api, watch):
        line = (
            b'{"type": "ADDED", "object": {"metadata": {"name": "d", "uid": "u", "resourceVersion": "5"}}}\n'
        )
        api.streams.put_nowait(Stream([line[:20], line[20:50], line[50:]], hold=True))
        watch.start()
        return await watch.until("d", lambda: watch.get("d"), 5)

    assert run_with_api(scenario)["metadata"]["uid"] == "u"


def test_until_raises_what_the_condition_raises_and_gives_none_after_its_timeout():
    async def scenario(api, watch):
        api.streams.put_nowait(Stream(hold=True))
        watch.start()
        assert await watch.wait_synced(5)

        def fails():
            raise NotReadyError("no")

        with pytest.raises(NotReadyError, match="no"):
            await watch.until("x", fails, 5)
        return await watch.until("x", lambda: None, 0.05)

    assert run_with_api(scenario) is None


def test_stop_closes_the_open_watch_request():
    async def scenario(api, watch):
        api.streams.put_nowait(Stream(hold=True))
        watch.start()
        await asyncio.wait_for(api.watching.wait(), 5)
        name = "performer watch avs"
        before = [t for t in asyncio.all_tasks() if t.get_name() == name]
        await asyncio.wait_for(watch.stop(), 2)
        return before, [t for t in asyncio.all_tasks() if t.get_name() == name]

    before, after = run_with_api(scenario)
    assert len(before) == 1 and after == []


@pytest.mark.parametrize("wait", ["wait_synced", "until"])
def test_a_cancel_that_comes_as_the_wait_ends_is_not_lost(wait):
    """What a waiter waits for happens in the same loop turn as its task's cancel. asyncio.wait_for
    (Python 3.11) then returned the result and dropped the cancel, so an executor stopped during a
    deploy's first wait kept waiting for readiness (readyTimeout) instead of stopping."""

    async def main():
        watch = PerformerWatch(
            None, group=GROUP, version=VERSION, namespace="avs", label_selector="", connect_timeout=5
        )  # never started: the test plays the watch task's part
        happened, waiting = False, asyncio.Event()

        async def waiter():
            waiting.set()  # this task runs on into the wait before the test's resumes
            if wait == "wait_synced":
                await watch.wait_synced(60)
            else:
                await watch.until("p", lambda: happened or None, 60)
            await asyncio.Event().wait()  # reached only when the cancel was lost: waits for good

        task = asyncio.create_task(waiter())
        await waiting.wait()
        assert wait == "wait_synced" or "p" in watch._waiters  # the waiter is in its wait
        happened = True
        if wait == "wait_synced":
            watch._synced.set()  # what the watch task does after its first list
        else:
            watch._notify("p")  # what the watch task does when Performer p changes
        task.cancel()
        await asyncio.wait([task], timeout=10)
        return task.cancelled()

    assert asyncio.run(main()) is True


# --- wait_ready and the status's endpoint --------------------------------------------------------


def run_with_backend(scenario):
    """Runs `scenario(api, backend)` with a fake API server and a backend over it."""

    async def main():
        api = FakePerformerApi()
        await api.start()
        client = api.client()
        config = KubernetesConfig.model_validate({"namespace": "avs", "connectionTimeout": "5s"})
        backend = KubernetesBackend(config, "exec-a", api_client=client)
        try:
            return await scenario(api, backend)
        finally:
            await backend.close()
            await client.close()
            await api.stop()

    return asyncio.run(main())


def spec(**fields) -> PerformerSpec:
    return PerformerSpec(avs_address=AVS, repository="registry.example/avs/performer", tag="v1", **fields)


def test_a_create_the_api_server_asks_to_retry_later_is_sent_again_after_its_wait():
    """API Priority and Fairness answers 429 with Retry-After while the API server is overloaded; the
    deploy goes on after the wait instead of failing. A refusal that names no wait is an error."""

    async def scenario(api, backend):
        api.create_refusals = [(429, "0"), (503, "0")]
        created = await backend.create(spec())
        creates_for_one = api.create_requests
        api.create_refusals = [(429, None)]
        with pytest.raises(BackendError, match="429"):
            await backend.create(spec())
        return created, creates_for_one, api.create_requests

    created, creates_for_one, creates = run_with_backend(scenario)
    assert created.performer_id and (creates_for_one, creates) == (3, 4)


def test_the_wait_asked_for_is_bounded_and_so_are_the_calls():
    def refusal(status: int, header: str | None) -> ApiException:
        error = ApiException(status=status, reason="refused")
        error.headers = {"Retry-After": header} if header is not None else {}
        return error

    assert retry_after(refusal(429, "2"), attempt=1) == 2.0
    assert retry_after(refusal(500, "3600"), attempt=1) == RETRY_AFTER_MAX
    assert retry_after(refusal(429, "2"), attempt=RETRY_ATTEMPTS) is None
    assert retry_after(refusal(429, "Wed, 21 Oct 2026 07:28:00 GMT"), attempt=1) is None
    assert retry_after(refusal(409, "1"), attempt=1) is None
    assert retry_after(refusal(500, None), attempt=1) is None


def test_wait_ready_waits_for_the_status_endpoint_and_dials_it():
    async def scenario(api, backend):
        created = await backend.create(spec())
        endpoint_at_create, name = created.endpoint, created.performer_id
        api.objects[name] = performer(name, rv="2", status=READY)  # no endpoint written yet
        waiting = asyncio.create_task(backend.wait_ready(created, timeout=10))
        await asyncio.wait_for(api.watching.wait(), 5)
        await asyncio.wait_for(api.read.wait(), 5)  # wait_ready read the status without endpoint
        with_endpoint = performer(name, rv="3", status={**READY, "grpcEndpoint": ENDPOINT})
        api.objects[name] = with_endpoint
        api.streams.put_nowait(Stream([event("MODIFIED", with_endpoint)], hold=True))
        return endpoint_at_create, await waiting

    endpoint_at_create, ready = run_with_backend(scenario)
    assert endpoint_at_create == ""  # nothing to dial before the operator reports it
    assert ready.ready and ready.endpoint == f"{ENDPOINT}:8080"


def test_wait_ready_without_an_endpoint_times_out_naming_it():
    async def scenario(api, backend):
        created = await backend.create(spec())
        api.objects[created.performer_id] = performer(created.performer_id, status=READY)
        api.streams.put_nowait(Stream(hold=True))
        with pytest.raises(NotReadyError) as raised:
            await backend.wait_ready(created, timeout=0.3)
        overridden = await backend.create(spec(endpoint_override="127.0.0.1:5000"))
        api.objects[overridden.performer_id] = performer(overridden.performer_id, status=READY)
        return str(raised.value), await backend.wait_ready(overridden, timeout=5)

    message, overridden = run_with_backend(scenario)
    assert message.endswith(
        "not ready after 0.3 s (phase Running; ready, but status.grpcEndpoint is not reported yet)"
    )
    assert overridden.ready and overridden.endpoint == "127.0.0.1:5000"  # the override needs no status
