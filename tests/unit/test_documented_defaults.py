"""The defaults of `hourglass-operator run` that docs/operator.md states and the first settings tests
do not hold: where the health probes listen, the Lease (its namespace the pod's own when only
POD_NAMESPACE is set, its name the one every replica and release shares) and the runner directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_cli_settings import no_settings, parse  # noqa: F401 (an autouse fixture)

pytestmark = pytest.mark.unit

LEASE_ENV = ("LEADER_ELECTION_NAMESPACE", "LEADER_ELECTION_ID", "POD_NAMESPACE", "RUNNER_DIR")


@pytest.fixture(autouse=True)
def no_lease_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LEASE_ENV:
        monkeypatch.delenv(name, raising=False)


def test_the_defaults_are_the_documented_ones(monkeypatch):
    args = parse(monkeypatch, {})
    assert args.health_probe_bind_address == ":8081"
    assert (args.leader_election_namespace, args.leader_election_id) == ("default", "hourglass-operator")
    assert args.runner_dir == Path("/tmp/hourglass-operator")


def test_the_lease_is_in_the_pods_namespace_unless_one_is_named(monkeypatch):
    assert parse(monkeypatch, {"POD_NAMESPACE": "ops"}).leader_election_namespace == "ops"
    args = parse(monkeypatch, {"POD_NAMESPACE": "ops", "LEADER_ELECTION_NAMESPACE": "leases"})
    assert args.leader_election_namespace == "leases"
