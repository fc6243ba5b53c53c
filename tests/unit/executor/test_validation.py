"""The shared value rules (`hourglass_executor.validation`): what each accepts and refuses, and that the
configuration, the gRPC services and the signing code use the same rule."""

from __future__ import annotations

import pytest
from hourglass_executor import validation
from hourglass_executor.config import ConfigError, validate_config
from hourglass_executor.signing.address import parse_address
from hourglass_executor.signing.layouts import task_id_bytes

from tests.support.executor_harness import config_data

pytestmark = pytest.mark.unit

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NOT_ADDRESSES = [
    "",
    "0x",
    ADDRESS[:-1],
    ADDRESS + "0",
    "0X" + ADDRESS[2:],
    ADDRESS[2:] + "00",
    "0x" + "g" * 40,
]


@pytest.mark.parametrize("value", [*NOT_ADDRESSES, 0x70997970C51812DC3A010C7D01B50E0D17DC79C8])
def test_addresses_everywhere_refuse_the_same_values(value):
    assert not validation.is_address(value)
    with pytest.raises(ValueError):
        parse_address(value)
    data = config_data()
    data["operator"]["address"] = value
    with pytest.raises(ConfigError, match=r"operator\.address: must be"):
        validate_config(data)


def test_addresses_and_task_ids():
    assert validation.is_address(ADDRESS) and validation.is_address(ADDRESS.lower())
    task_id = "0x" + "ab" * 32
    assert validation.is_task_id(task_id) and task_id_bytes(task_id) == bytes.fromhex("ab" * 32)
    for value in (task_id[:-1], task_id + "0", ADDRESS, " " + task_id[1:]):
        assert not validation.is_task_id(value)
    assert validation.is_hex_bytes("0x", 0) and not validation.is_hex_bytes("0x0", 0)
    assert validation.is_private_key_hex("ab" * 32) and validation.is_private_key_hex("0x" + "AB" * 32)
    assert not validation.is_private_key_hex("0x" + "ab" * 31)


def test_kubernetes_names_and_label_values():
    assert validation.is_dns1123_label("avs-1") and validation.is_dns1123_label("a" * 63)
    for bad in ("", "A", "-a", "a-", "a.b", "a" * 64):
        assert not validation.is_dns1123_label(bad)
    assert validation.is_dns1123_subdomain("tokens.v1-2")
    for bad in ("", "a..b", ".a", "a_b", "Tokens"):
        assert not validation.is_dns1123_subdomain(bad)
    assert validation.is_label_value("executor-1a2b3c4d") and validation.is_label_value("A_b.c")
    for bad in ("", "-a", "a_", "a" * 64, "a b", "a/b"):
        assert not validation.is_label_value(bad)
    assert validation.is_config_key("tls.crt") and not validation.is_config_key("a/b")
    assert validation.is_env_name("LOG LEVEL") and not validation.is_env_name("A=B")


def test_image_references():
    assert validation.is_image_tag("v1.0.0_rc-1") and not validation.is_image_tag(".v1")
    assert not validation.is_image_tag("a" * 129)
    assert validation.is_image_digest("sha256:" + "0" * 64) and not validation.is_image_digest("sha256:abc")
    assert validation.image_repository_problem("registry:5000/avs/performer") is None
    assert validation.image_repository_problem("avs/performer:v1") == "must not include a tag or digest"
    assert validation.image_repository_problem("avs/performer:v1", tag_allowed=True) is None
    assert (
        validation.image_repository_problem("avs@sha256:00", tag_allowed=True) == "must not include a digest"
    )
    assert validation.image_repository_problem("avs/{name}") == "must not contain whitespace or braces"
    assert validation.image_repository_problem(" ") == "must not be empty"
    assert validation.split_image_reference("registry:5000/avs/performer") == (
        "registry:5000/avs/performer",
        None,
    )
    assert validation.split_image_reference("registry:5000/avs/performer:v2") == (
        "registry:5000/avs/performer",
        "v2",
    )
