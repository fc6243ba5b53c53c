"""The static chain reader: loading its YAML file, answering reads, and naming the path of bad entries."""

from __future__ import annotations

import textwrap

import pytest
from hourglass_executor.chain import (
    ChainConfigError,
    ChainReader,
    ChainReaderError,
    StaticChainReader,
    UnknownOperatorSetError,
)
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.layouts import (
    bn254_certificate_digest,
    ecdsa_certificate_digest,
    eip712_domain_separator,
)

pytestmark = pytest.mark.unit

AVS = "0x" + "aa" * 20
AVS2 = "0xBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBb"
AGGREGATOR = "0x" + "a1" * 20
OPERATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
VERIFIER = "0x" + "0e" * 20

GOOD = textwrap.dedent(
    f"""\
    chainId: 31337
    ecdsaCertificateVerifier:
      name: EigenLayer
      version: v1.0.0
      verifyingContract: "{VERIFIER}"
    avss:
      - address: "{AVS}"
        operatorSets:
          - id: 0
            curveType: ECDSA
            aggregatorAddress: "{AGGREGATOR}"
            operators: ["{OPERATOR}"]
          - id: 1
            curveType: BN254
            aggregatorAddress: "{AGGREGATOR}"
            operators: []
      - address: "{AVS2}"
        operatorSets: []
    """
)


def load(tmp_path, text):
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    return StaticChainReader.from_file(path)


def test_a_good_file_loads(tmp_path):
    chain = load(tmp_path, GOOD)
    assert isinstance(chain, ChainReader)
    assert chain.chain_id == 31337
    info = chain.operator_set(AVS.upper().replace("0X", "0x"), 0)
    assert info.curve_type == "ECDSA"
    assert info.aggregator_address == AGGREGATOR
    assert info.members == (OPERATOR.lower(),)
    assert info.avs_address == AVS
    assert chain.operator_set(AVS, 1).curve_type == "BN254"
    assert len(chain.operator_sets()) == 2


def test_membership_is_case_insensitive_and_per_set(tmp_path):
    chain = load(tmp_path, GOOD)
    assert chain.is_member(AVS, 0, OPERATOR.lower())
    assert chain.is_member(AVS, 0, OPERATOR)
    assert not chain.is_member(AVS, 1, OPERATOR)
    assert not chain.is_member(AVS, 9, OPERATOR)
    assert not chain.is_member(AVS2, 0, OPERATOR)


def test_unknown_operator_sets_raise_a_lookup_error(tmp_path):
    chain = load(tmp_path, GOOD)
    with pytest.raises(UnknownOperatorSetError, match="has no operator set 7"):
        chain.operator_set(AVS, 7)
    with pytest.raises(LookupError):
        chain.operator_set("0x" + "cc" * 20, 0)


def test_certificate_digests_follow_the_curve(tmp_path):
    chain = load(tmp_path, GOOD)
    message_hash = keccak256(b"result")
    separator = eip712_domain_separator("EigenLayer", "v1.0.0", 31337, VERIFIER)
    assert chain.ecdsa_domain_separator == separator
    assert chain.certificate_digest("ECDSA", AVS, 0, 99, message_hash) == ecdsa_certificate_digest(
        separator, 99, message_hash
    )
    assert chain.certificate_digest("BN254", AVS, 1, 99, message_hash) == bn254_certificate_digest(
        99, message_hash
    )
    with pytest.raises(ChainReaderError, match="uses ECDSA, not BN254"):
        chain.certificate_digest("BN254", AVS, 0, 99, message_hash)


def test_an_explicit_domain_separator_is_used_as_is(tmp_path):
    separator = "0x" + "5e" * 32
    text = GOOD.replace(
        f'  name: EigenLayer\n  version: v1.0.0\n  verifyingContract: "{VERIFIER}"\n',
        f'  domainSeparator: "{separator}"\n',
    )
    chain = load(tmp_path, text)
    assert chain.ecdsa_domain_separator == b"\x5e" * 32
    assert chain.certificate_digest("ECDSA", AVS, 0, 1, bytes(32)) == ecdsa_certificate_digest(
        b"\x5e" * 32, 1, bytes(32)
    )


def test_the_verifier_may_be_omitted_when_no_set_uses_ecdsa(tmp_path):
    text = textwrap.dedent(
        f"""\
        chainId: 1
        avss:
          - address: "{AVS}"
            operatorSets:
              - {{id: 3, curveType: BN254, aggregatorAddress: "{AGGREGATOR}", operators: []}}
        """
    )
    chain = load(tmp_path, text)
    assert chain.ecdsa_domain_separator is None
    assert chain.operator_set(AVS, 3).curve_type == "BN254"


def _replace(old, new):
    assert old in GOOD
    return GOOD.replace(old, new, 1)


SET0 = "avss[0].operatorSets[0]"
SET1 = "avss[0].operatorSets[1]"
OPERATORS = f'operators: ["{OPERATOR}"]'
INVALID = [
    (_replace("curveType: BN254", "curveType: bls"), f"{SET1}.curveType: must be ECDSA or BN254"),
    (_replace("chainId: 31337", "chainId: 0"), "chainId: must be an integer in [1, 2^256)"),
    (_replace("chainId: 31337\n", ""), "chainId: is required"),
    (_replace("- id: 0", "- id: -1"), f"{SET0}.id: must be an integer in [0, 2^32)"),
    (_replace("- id: 1", "- id: 0"), f"{SET1}.id: operator set 0 is listed twice"),
    (
        _replace(f'aggregatorAddress: "{AGGREGATOR}"', 'aggregatorAddress: "0x12"'),
        f"{SET0}.aggregatorAddress: must be '0x' followed by 40 hex digits",
    ),
    (
        _replace(OPERATORS, f'operators: ["{OPERATOR}", "{OPERATOR.lower()}"]'),
        f"{SET0}.operators[1]: operator {OPERATOR.lower()} is listed twice",
    ),
    (_replace(OPERATORS, "operators: [0x1234]"), f"{SET0}.operators[0]: must be a quoted string"),
    (_replace(OPERATORS, "operators: x"), f"{SET0}.operators: must be a list"),
    (
        _replace(f'- address: "{AVS2}"', f'- address: "{AVS.upper().replace("0X", "0x")}"'),
        f"avss[1].address: AVS {AVS} is listed twice",
    ),
    (_replace("    operatorSets: []", "    operatorSets: []\n    extra: 1"), "avss[1].extra: unknown key"),
    (_replace("  name: EigenLayer\n", ""), "ecdsaCertificateVerifier.name: is required"),
    (
        _replace("  name: EigenLayer\n", f'  name: EigenLayer\n  domainSeparator: "0x{"00" * 32}"\n'),
        "ecdsaCertificateVerifier.name: give either domainSeparator",
    ),
    ("avss: []\n", "chainId: is required"),
    ("- 1\n", "must be a mapping"),
]


@pytest.mark.parametrize("text,message", INVALID)
def test_validation_errors_name_the_yaml_path(tmp_path, text, message):
    with pytest.raises(ChainConfigError) as excinfo:
        load(tmp_path, text)
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith(str(tmp_path / "chain.yaml"))


def test_the_error_keeps_path_and_problem_apart(tmp_path):
    with pytest.raises(ChainConfigError) as excinfo:
        load(tmp_path, _replace("curveType: BN254", "curveType: bls"))
    assert excinfo.value.path == "avss[0].operatorSets[1].curveType"
    assert excinfo.value.problem == "must be ECDSA or BN254"


def test_an_ecdsa_set_requires_the_verifier(tmp_path):
    text = GOOD.split("avss:")[1]
    with pytest.raises(ChainConfigError, match=r"ecdsaCertificateVerifier: is required because avss\[0\]"):
        load(tmp_path, "chainId: 5\navss:" + text)


def test_invalid_yaml_is_reported_with_the_file_name(tmp_path):
    with pytest.raises(ChainConfigError, match=r"chain\.yaml: not valid YAML"):
        load(tmp_path, "avss: [\n")


def test_the_reader_can_be_built_from_a_mapping():
    chain = StaticChainReader.from_mapping(
        {
            "chainId": 1,
            "ecdsaCertificateVerifier": {"domainSeparator": "0x" + "01" * 32},
            "avss": [
                {
                    "address": AVS,
                    "operatorSets": [
                        {"id": 2, "curveType": "ECDSA", "aggregatorAddress": AGGREGATOR, "operators": []}
                    ],
                }
            ],
        }
    )
    assert chain.operator_set(AVS, 2).members == ()
    with pytest.raises(ChainConfigError, match=r"^avss\[0\]\.operatorSets\[0\]\.id: must be"):
        StaticChainReader.from_mapping(
            {
                "chainId": 1,
                "avss": [
                    {
                        "address": AVS,
                        "operatorSets": [
                            {
                                "id": "2",
                                "curveType": "BN254",
                                "aggregatorAddress": AGGREGATOR,
                                "operators": [],
                            }
                        ],
                    }
                ],
            }
        )
