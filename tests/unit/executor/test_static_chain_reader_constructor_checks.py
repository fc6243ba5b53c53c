"""StaticChainReader refuses a separator not of 32 bytes, an AVS given twice, and EIP-712 domain fields."""

from __future__ import annotations

import pytest
from hourglass_executor.chain import AvsConfig
from hourglass_executor.chain.static import ChainConfigError, StaticAvs, StaticChainReader

pytestmark = pytest.mark.unit

AVS = "0x" + "ab" * 20


def avs(address: str) -> StaticAvs:
    return StaticAvs(address, AvsConfig(0, ()), {})


@pytest.mark.parametrize("size", [0, 31, 33])
def test_an_ecdsa_domain_separator_is_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="the ECDSA domain separator is 32 bytes"):
        StaticChainReader(31337, [], bytes(size))
    assert StaticChainReader(31337, [], bytes(32)).ecdsa_domain_separator == bytes(32)


def test_an_avs_given_twice_is_refused_whatever_its_case() -> None:
    with pytest.raises(ValueError, match=f"AVS {AVS} is given twice"):
        StaticChainReader(31337, [avs(AVS), avs(AVS.upper().replace("0X", "0x"))])
    assert [entry.address for entry in StaticChainReader(31337, [avs(AVS)]).avss()] == [AVS]


@pytest.mark.parametrize("key", ["name", "version", "verifyingContract"])
def test_an_eip712_domain_field_for_the_ecdsa_verifier_is_refused_with_the_reason(key: str) -> None:
    document = {
        "chainId": 31337,
        "avss": [],
        "ecdsaCertificateVerifier": {"domainSeparator": "0x" + "42" * 32, key: "0x" + "11" * 20},
    }
    with pytest.raises(ChainConfigError) as failed:
        StaticChainReader.from_mapping(document)
    assert failed.value.path == f"ecdsaCertificateVerifier.{key}"
    assert failed.value.problem.startswith("not accepted: the verifier's EIP-712 domain has no chain id")
