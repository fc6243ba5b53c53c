"""What the executor builds from its configuration for its performers: the AVSs it serves by their
lower-cased address, each performer's Kubernetes service account and endpoint override, the Docker
network `performerNetworkName` names, and the key management challenges are signed with (ECDSA when
both curves are configured, as the Go executor chooses)."""

from __future__ import annotations

import pytest
from hourglass_executor.config import validate_config
from hourglass_executor.server.components import auth_signer, build_backend, configured_specs
from hourglass_executor.signing.signer import BN254, ECDSA

from tests.support.aggregator import AVS
from tests.support.executor_harness import config_data, executor_config

pytestmark = pytest.mark.unit


def test_served_avss_are_keyed_by_lower_cased_address_with_their_kubernetes_settings():
    data = config_data(kubernetes={"namespace": "avs"})
    performer = data["avsPerformers"][0]
    performer["deploymentMode"] = "kubernetes"
    performer["kubernetes"] = {"serviceAccountName": "performer-sa", "endpointOverride": "10.0.0.7:8080"}
    specs = configured_specs(validate_config(data), environ={})
    assert AVS.lower() != AVS and list(specs) == [AVS.lower()]
    spec = specs[AVS.lower()]
    assert (spec.service_account_name, spec.endpoint_override) == ("performer-sa", "10.0.0.7:8080")


def test_docker_performers_join_the_configured_network():
    backend = build_backend(executor_config(performerNetworkName="hourglass"))
    assert backend.network_name == "hourglass"


def test_management_challenges_are_signed_with_the_ecdsa_key_when_both_curves_are_configured():
    ecdsa, bn254 = object(), object()
    assert auth_signer({BN254: bn254, ECDSA: ecdsa}) is ecdsa
    assert auth_signer({BN254: bn254}) is bn254
