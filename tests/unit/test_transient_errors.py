"""Which failures clear themselves and back off to 30 s at most (hourglass_operator/transient_errors.py)."""

from __future__ import annotations

import pytest

from hourglass_operator.transient_errors import RETRY_MAX_SECONDS, retry_max


@pytest.mark.parametrize(
    "error",
    [
        'pods "performer-a" is forbidden: Internal error occurred: failed calling webhook "x.example.org": '
        'failed to call webhook: Post "https://127.0.0.1:1/validate": dial tcp: connection refused',
        "the server is currently unable to handle the request (post pods)",
        "etcdserver: request timed out",
        "Timeout: request did not complete within requested timeout - context deadline exceeded",
    ],
)
def test_the_clusters_own_passing_failures_back_off_to_30_s(error):
    assert retry_max(error) == RETRY_MAX_SECONDS == 30.0


@pytest.mark.parametrize(
    "error",
    [
        None,
        'admission webhook "x.example.org" denied the request: no privileged pods',
        'pods "performer-a" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1',
        'spec.hardwareRequirements.gpuType: unknown GPU type "nvidia-z9"',
    ],
)
def test_other_failures_keep_the_usual_back_off(error):
    assert retry_max(error) is None
