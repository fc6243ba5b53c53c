"""The performer pool's timings and limits as a running executor gets them from its configuration:
a new performer gets `kubernetes.readyTimeout` (Docker: one minute, as upstream) to become ready and
a minute to answer its first health check SERVING; a replaced performer's tasks get `taskTimeout`
plus five seconds to finish; health checks every 15 s with a 1 s limit (as upstream); five failures
in a row open a performer's circuit for 30 s; and a Docker performer is restarted after three
failed health checks in a row."""

from __future__ import annotations

import dataclasses

import pytest
from hourglass_executor.config import validate_config
from hourglass_executor.server.components import pool_settings

from tests.support.executor_harness import config_data, executor_config

pytestmark = pytest.mark.unit

# What does not depend on the configuration.
FIXED = {
    "health_timeout": 60.0,
    "health_interval": 15.0,
    "health_check_timeout": 1.0,
    "breaker_failures": 5,
    "breaker_reset": 30.0,
    "restart_after": 3,
}


def test_docker_mode_gives_a_new_performer_a_minute_and_drains_for_the_task_timeout_plus_slack():
    settings = pool_settings(executor_config(taskTimeout="45s"))
    assert dataclasses.asdict(settings) == {**FIXED, "ready_timeout": 60.0, "drain_timeout": 50.0}


def test_kubernetes_mode_gives_a_new_performer_the_configured_ready_timeout():
    data = config_data(taskTimeout="10s", kubernetes={"namespace": "avs", "readyTimeout": "7m"})
    for performer in data["avsPerformers"]:
        performer["deploymentMode"] = "kubernetes"
    settings = pool_settings(validate_config(data))
    assert dataclasses.asdict(settings) == {**FIXED, "ready_timeout": 420.0, "drain_timeout": 15.0}
