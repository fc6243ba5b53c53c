"""The static chain reader: loading its YAML file, answering the ChainReader reads, and naming the
path and the rule of bad entries."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from hourglass_executor.chain import (
    AvsConfig,
    ChainConfigError,
    ChainReader,
    ChainReaderError,
    OperatorNotRegisteredError,
    StaticChainReader,
    UnknownOperatorSetError,
)
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.layouts import (
    bn254_certificate_digest,
    ecdsa_certificate_digest,
    result_message_hash,
)

from tests.support.aggregator import EXECUTOR_BN254_KEY, bn254_signer

pytestmark = pytest.mark.unit

AVS = "0x" + "aa" * 20
AVS2 = "0xBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBb"
AGGREGATOR = "0x" + "a1" * 20
AGGREGATOR_KEY = "0x" + "a2" * 20
OPERATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SEPARATOR = "0x" + "5e" * 32
G1 = "0x" + "11" * 64
G2 = "0x" + "22" * 128

GOOD = textwrap.dedent(
    f"""\
    chainId: 31337
    ecdsaCertificateVerifier:
      domainSeparator: "{SEPARATOR}"
    avss:
      - address: "{AVS}"
        aggregatorOperatorSetId: 0
        executorOperatorSetIds: [1]
        operatorSets:
          - id: 0
            curveType: ECDSA
            members:
              - address: "{AGGREGATOR}"
                socket: "aggregator:9000"
                ecdsaAddress: "{AGGREGATOR_KEY}"
          - id: 1
            curveType: BN254
            members:
              - address: "{OPERATOR}"
                bn254: {{g1: "{G1}", g2: "{G2}"}}
      - address: "{AVS2}"
        aggregatorOperatorSetId: 4
        executorOperatorSetIds: []
        operatorSets:
          - {{id: 4, curveType: ECDSA, members: []}}
    """
)


def load(tmp_path, text):
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    return StaticChainReader.from_file(path)


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_good_file_loads_and_answers_the_reads(tmp_path):
    chain = load(tmp_path, GOOD)
    assert isinstance(chain, ChainReader)
    assert chain.chain_id == 31337
    assert run(chain.avs_config(AVS.upper().replace("0X", "0x"), 0)) == AvsConfig(0, (1,))
    assert run(chain.avs_config(AVS2, 99)) == AvsConfig(4, ())
    aggregator = run(chain.operator_set_member(AVS, 0, AGGREGATOR.upper().replace("0X", "0x"), 12))
    assert (aggregator.operator, aggregator.curve_type, aggregator.socket) == (
        AGGREGATOR,
        "ECDSA",
        "aggregator:9000",
    )
    assert (aggregator.ecdsa_address, aggregator.bn254_g1, aggregator.bn254_g2) == (
        AGGREGATOR_KEY,
        None,
        None,
    )
    member = run(chain.operator_set_member(AVS, 1, OPERATOR, 12))
    assert (member.operator, member.curve_type, member.socket) == (OPERATOR.lower(), "BN254", "")
    assert (member.bn254_g1, member.bn254_g2, member.ecdsa_address) == (
        bytes.fromhex(G1[2:]),
        bytes.fromhex(G2[2:]),
        None,
    )


def test_unknown_sets_and_operators_are_told_apart(tmp_path):
    chain = load(tmp_path, GOOD)
    with pytest.raises(UnknownOperatorSetError, match="has no operator set 7"):
        run(chain.operator_set_member(AVS, 7, OPERATOR, 0))
    with pytest.raises(UnknownOperatorSetError, match="has no registrar"):
        run(chain.operator_set_member("0x" + "cc" * 20, 0, OPERATOR, 0))
    with pytest.raises(UnknownOperatorSetError, match="has no registrar"):
        run(chain.avs_config("0x" + "cc" * 20, 0))
    with pytest.raises(OperatorNotRegisteredError, match="has no ECDSA key in operator set 0"):
        run(chain.operator_set_member(AVS, 0, OPERATOR, 0))
    with pytest.raises(ValueError, match="avs address"):
        run(chain.avs_config("0x12", 0))


def test_message_hash_and_certificate_digests_follow_the_curve(tmp_path):
    chain = load(tmp_path, GOOD)
    task_id = "0x" + "0f" * 32
    message_hash = run(chain.message_hash(task_id, b"16"))
    assert message_hash == result_message_hash(task_id, b"16")
    assert run(chain.certificate_digest("ECDSA", 99, message_hash)) == ecdsa_certificate_digest(
        bytes.fromhex(SEPARATOR[2:]), 99, message_hash
    )
    assert run(chain.certificate_digest("BN254", 99, message_hash)) == bn254_certificate_digest(
        99, message_hash
    )


def test_without_ecdsa_sets_the_verifier_may_be_left_out():
    chain = StaticChainReader.from_mapping(
        {
            "chainId": 5,
            "avss": [
                {
                    "address": AVS,
                    "aggregatorOperatorSetId": 0,
                    "executorOperatorSetIds": [0],
                    "operatorSets": [{"id": 0, "curveType": "BN254", "members": []}],
                }
            ],
        }
    )
    assert chain.ecdsa_domain_separator is None
    with pytest.raises(ChainReaderError, match=r"no ecdsaCertificateVerifier\.domainSeparator"):
        run(chain.certificate_digest("ECDSA", 1, keccak256(b"m")))


def test_real_bn254_keys_round_trip_through_the_file():
    signer = bn254_signer(EXECUTOR_BN254_KEY)
    chain = StaticChainReader.from_mapping(
        {
            "chainId": 5,
            "avss": [
                {
                    "address": AVS,
                    "aggregatorOperatorSetId": 0,
                    "executorOperatorSetIds": [],
                    "operatorSets": [
                        {
                            "id": 0,
                            "curveType": "BN254",
                            "members": [
                                {
                                    "address": OPERATOR,
                                    "bn254": {
                                        "g1": "0x" + signer.public_key_g1.hex(),
                                        "g2": "0x" + signer.public_key_g2.hex(),
                                    },
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )
    assert chain.lookup_member(AVS, 0, OPERATOR).bn254_g2 == signer.public_key_g2


def _replace(old, new):
    assert old in GOOD
    return GOOD.replace(old, new, 1)


SET0 = "avss[0].operatorSets[0]"
SET1 = "avss[0].operatorSets[1]"
MEMBER0 = f"{SET0}.members[0]"
INVALID = [
    (_replace("curveType: BN254", "curveType: bls"), f"{SET1}.curveType: must be ECDSA or BN254"),
    (_replace("chainId: 31337", "chainId: 0"), "chainId: must be an integer in [1, 2^256)"),
    (_replace("chainId: 31337\n", ""), "chainId: is required"),
    (_replace("- id: 0", "- id: -1"), f"{SET0}.id: must be an integer in [0, 2^32)"),
    (_replace("- id: 1", "- id: 0"), f"{SET1}.id: operator set 0 is listed twice"),
    (
        _replace("aggregatorOperatorSetId: 0", "aggregatorOperatorSetId: 9"),
        "avss[0].aggregatorOperatorSetId: operator set 9 is not in avss[0].operatorSets",
    ),
    (
        _replace("executorOperatorSetIds: [1]", "executorOperatorSetIds: [1, 8]"),
        "avss[0].executorOperatorSetIds[1]: operator set 8 is not in avss[0].operatorSets",
    ),
    (_replace("    executorOperatorSetIds: [1]\n", ""), "avss[0].executorOperatorSetIds: is required"),
    (
        _replace(f'ecdsaAddress: "{AGGREGATOR_KEY}"', 'ecdsaAddress: "0x12"'),
        f"{MEMBER0}.ecdsaAddress: must be '0x' followed by 40 hex digits",
    ),
    (
        _replace(f'ecdsaAddress: "{AGGREGATOR_KEY}"', f'ecdsaAddress: "0x{"00" * 20}"'),
        f"{MEMBER0}.ecdsaAddress: must not be the zero address",
    ),
    (_replace(f'ecdsaAddress: "{AGGREGATOR_KEY}"', "socket2: x"), f"{MEMBER0}.socket2: unknown key"),
    (
        _replace(f'ecdsaAddress: "{AGGREGATOR_KEY}"', f'bn254: {{g1: "{G1}", g2: "{G2}"}}'),
        f"{MEMBER0}.bn254: not used in a ECDSA operator set (give ecdsaAddress)",
    ),
    (_replace('socket: "aggregator:9000"', "socket: 9000"), f"{MEMBER0}.socket: must be a string"),
    (
        _replace(f'g1: "{G1}"', 'g1: "0x1234"'),
        f"{SET1}.members[0].bn254.g1: must be '0x' followed by 128 hex digits",
    ),
    (_replace(f'g1: "{G1}"', f'g1: "0x{"00" * 64}"'), f"{SET1}.members[0].bn254.g1: must not be zero"),
    (
        _replace(f'g2: "{G2}"', 'g2: "0x22"'),
        f"{SET1}.members[0].bn254.g2: must be '0x' followed by 256 hex digits",
    ),
    (
        _replace(
            f'ecdsaAddress: "{AGGREGATOR_KEY}"\n',
            f'ecdsaAddress: "{AGGREGATOR_KEY}"\n'
            f'          - {{address: "{AGGREGATOR}", ecdsaAddress: "{AGGREGATOR}"}}\n',
        ),
        f"{SET0}.members[1].address: operator {AGGREGATOR} is listed twice",
    ),
    (
        _replace(f'- address: "{AGGREGATOR}"', "- address: 0x1234"),
        f"{MEMBER0}.address: must be a quoted string",
    ),
    (_replace("      - id: 0\n", "      - id: 0\n        m: 1\n"), f"{SET0}.m: unknown key"),
    (
        _replace(f'- address: "{AVS2}"', f'- address: "{AVS.upper().replace("0X", "0x")}"'),
        f"avss[1].address: AVS {AVS} is listed twice",
    ),
    (
        _replace(f'  domainSeparator: "{SEPARATOR}"', "  name: EigenLayer\n  version: v1.0.0"),
        "ecdsaCertificateVerifier.name: not accepted: the verifier's EIP-712 domain has no chain id",
    ),
    (
        _replace(f'domainSeparator: "{SEPARATOR}"', 'domainSeparator: "0x12"'),
        "ecdsaCertificateVerifier.domainSeparator: must be",
    ),
    ("avss: []\n", "chainId: is required"),
    ("- 1\n", "must be a mapping"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_validation_errors_name_the_yaml_path_and_the_rule(tmp_path, text, message):
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


def test_invalid_yaml_is_reported_with_the_file_name_and_its_place(tmp_path):
    with pytest.raises(ChainConfigError, match=r"chain\.yaml: line 2, column 1: invalid YAML"):
        load(tmp_path, "avss: [\n")


def test_an_integer_too_long_to_read_is_refused_at_its_key(tmp_path):
    """More than 4300 digits: int() refuses them, which was a ValueError traceback at start-up."""
    with pytest.raises(ChainConfigError) as excinfo:
        load(tmp_path, GOOD.replace("chainId: 31337", "chainId: " + "9" * 5000, 1))
    assert (excinfo.value.path, excinfo.value.problem) == ("chainId", "must be an integer in [1, 2^256)")


def test_a_key_given_twice_is_refused_at_its_line(tmp_path):
    """PyYAML keeps the last of two keys: a second chainId would silently win."""
    with pytest.raises(ChainConfigError, match=r'chain\.yaml: line 2, column 1: duplicate key "chainId"'):
        load(tmp_path, "chainId: 1\nchainId: 2\navss: []\n")


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_bytes(b"chainId: 1\navss: []\n# \xff\n")
    with pytest.raises(ChainConfigError, match=r"chain\.yaml: cannot be read: not UTF-8 text"):
        StaticChainReader.from_file(path)


def test_the_example_file_loads():
    from tests.support.paths import REPO

    chain = StaticChainReader.from_file(REPO / "executor" / "examples" / "chain-static.yaml")
    assert chain.chain_id == 31337 and chain.ecdsa_domain_separator is not None
