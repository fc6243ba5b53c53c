"""A Performer whose pod an admission webhook kept out while the API server could not call it (the
webhook's pods restarting, its Service without endpoints) comes up within 30 s of the webhook being
back: such failures back off to 30 s at most, not to 5 minutes."""

from __future__ import annotations

from tests.support.admission import webhook_outage
from tests.support.performers import (
    condition,
    create_performer,
    get_performer,
    performer,
    wait_performer_ready,
)
from tests.support.waiting import wait_for


def retried_in(operator, seconds: int, key: str) -> bool:
    return any(
        line["msg"].startswith(f"reconcile failed, retrying in {seconds} s") and line.get("key") == key
        for line in operator.log_entries()
    )


def test_a_pod_a_webhook_could_not_admit_is_retried_within_30_s_and_comes_up_once_it_is_back(
    cluster, custom, namespace, operator
):
    with webhook_outage(cluster.api, namespace):
        create_performer(custom, namespace, performer("guarded", config={}))
        key = f"{namespace}/guarded"
        # Five failures, 1, 2, 4, 8 and 16 s apart; the sixth waits 30 s, not 32.
        wait_for(lambda: retried_in(operator, 30, key), timeout=90, what="the 6th failure's retry")
        cr = get_performer(custom, namespace, "guarded")
        assert "failed calling webhook" in condition(cr, "Reconciled")["message"]
        assert not retried_in(operator, 32, key)
    wait_performer_ready(custom, namespace, "guarded", timeout=45)
