"""A namespace deleted with its Performers: the namespace controller deletes the performer pods and
Services, possibly before the Performers, and no pod can be created in a terminating namespace. The
operator does not fight that with failures retried under back-off: the Performer says it goes with
its namespace, and the run that deletes it comes with the Performer's own deletion.

The window between the children's deletion and the Performers' is held open by a
ValidatingAdmissionPolicy that denies the Performers' deletion in the test's namespace (as a
cluster's deletion-protection policy would), so the namespace stays Terminating with its Performers."""

from __future__ import annotations

import re

import kubernetes

from tests.support.admission import namespace_policy
from tests.support.performers import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    create_performer,
    delete_performers,
    get_performer,
    performer,
    wait_performer_ready,
)
from tests.support.waiting import wait_for

NAMES = ("a", "b")


def deletion_refused(custom, namespace: str, *, dry_run: bool) -> bool:
    """Whether the API server refuses to delete the Performers of `namespace`; when it does not, they
    are deleted, unless `dry_run`. A policy is enforced, and no longer once removed, a moment later."""
    options = {"dry_run": "All"} if dry_run else {}
    try:
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **options)
    except kubernetes.client.ApiException as error:
        if error.status != 422:  # what a denying policy answers
            raise
        return True
    return False


def test_performers_of_a_deleted_namespace_wait_for_their_deletion(core, custom, namespace, operator):
    for name in NAMES:
        create_performer(custom, namespace, performer(name))
    for name in NAMES:
        wait_performer_ready(custom, namespace, name)
    rules = [
        {"apiGroups": [GROUP], "apiVersions": [VERSION], "operations": ["DELETE"], "resources": [PLURAL]}
    ]
    protected = [{"expression": "false", "message": "Performers here are protected"}]
    try:
        with namespace_policy(core.api_client, namespace, rules, protected):
            wait_for(lambda: deletion_refused(custom, namespace, dry_run=True), timeout=30,
                     what="the admission policy to be enforced")  # fmt: skip
            core.delete_namespace(namespace)
            wait_for(lambda: not core.list_namespaced_pod(namespace).items
                     and not core.list_namespaced_service(namespace).items,
                     timeout=60, what="the namespace controller to delete the pods and Services")  # fmt: skip

            def going_with_namespace(name: str) -> dict | None:
                cr = get_performer(custom, namespace, name)
                ready = condition(cr, "Ready")
                return cr if ready.get("reason") == "NamespaceTerminating" else None

            for name in NAMES:
                cr = wait_for(lambda name=name: going_with_namespace(name), timeout=30,
                              what=f"Performer {name} to say its namespace is being deleted")  # fmt: skip
                assert "deletionTimestamp" not in cr["metadata"]  # the policy holds it
                assert cr["status"]["phase"] == "Terminating"
                assert cr["status"]["ready"] is False
                assert re.search(f"namespace {namespace} is being deleted", condition(cr, "Ready")["message"])
                assert condition(cr, "Reconciled")["status"] == "True"
                assert condition(cr, "Stalled")["status"] == "False"
            operator.wait_until(operator.queue_idle, "the operator to be idle", timeout=30)
            # Nothing failed, so nothing is retried: the next run comes with the Performers' deletion.
            assert operator.metric('hourglass_reconciles_total{result="error"}') == 0
            assert not [line for line in operator.log_lines() if "reconcile failed" in line]
    finally:  # also after a failure, so that the Performers go while the operator runs
        wait_for(lambda: not deletion_refused(custom, namespace, dry_run=False), timeout=30,
                 what="the API server to drop the policy")  # fmt: skip
    delete_performers(custom, namespace, timeout=60, what="the Performers to go with their namespace")
