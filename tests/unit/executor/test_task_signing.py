"""Checking the aggregator's TaskSubmission signature (ECDSA and BN254) and signing TaskResults on
both curves, against a static chain."""

from __future__ import annotations

import asyncio

import pytest
from hourglass_executor.chain import ChainReaderError, OperatorSetMember, StaticChainReader
from hourglass_executor.signing import BN254, ECDSA, EcdsaSigner, bn254, keccak256, recover_address
from hourglass_executor.signing.layouts import (
    aggregator_digest,
    auth_digest,
    bn254_certificate_digest,
    ecdsa_certificate_digest,
    result_message_hash,
)
from hourglass_executor.task_signing import (
    MalformedSignatureError,
    MalformedTaskError,
    SignerMissingError,
    UnknownAggregatorError,
    WrongSignerError,
    aggregator_member,
    sign_result,
    signer_for,
    verify_aggregator_signature,
)

from tests.support.aggregator import (
    AGGREGATOR_BN254_KEY,
    EXECUTOR_BN254_KEY,
    STRANGER_BN254_KEY,
    bn254_signer,
)

pytestmark = pytest.mark.unit

AGGREGATOR = EcdsaSigner("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
EXECUTOR = EcdsaSigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
STRANGER = EcdsaSigner("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
AVS = "0x" + "ab" * 20
SEPARATOR = b"\x42" * 32

TASK = dict(
    task_id="0x" + "0f" * 32,
    avs_address=AVS,
    executor_address=EXECUTOR.address,
    operator_set_id=0,
    reference_timestamp=1_700_000_000,
    task_block_number=12_345_678,
    payload=b'{"number": 4}',
)

ECDSA_AGGREGATOR = OperatorSetMember(
    AGGREGATOR.address_lower, ECDSA, "", AGGREGATOR.address_lower, None, None
)


def bn254_member(key: bytes, operator: str = AGGREGATOR.address_lower) -> OperatorSetMember:
    signer = bn254_signer(key)
    return OperatorSetMember(operator, BN254, "", None, signer.public_key_g1, signer.public_key_g2)


def chain(aggregator_curve: str = ECDSA) -> StaticChainReader:
    aggregator = {"address": AGGREGATOR.address}
    if aggregator_curve == ECDSA:
        aggregator["ecdsaAddress"] = AGGREGATOR.address
    else:
        key = bn254_signer(AGGREGATOR_BN254_KEY)
        aggregator["bn254"] = {"g1": "0x" + key.public_key_g1.hex(), "g2": "0x" + key.public_key_g2.hex()}
    return StaticChainReader.from_mapping(
        {
            "chainId": 31337,
            "ecdsaCertificateVerifier": {"domainSeparator": "0x" + SEPARATOR.hex()},
            "avss": [
                {
                    "address": AVS,
                    "aggregatorOperatorSetId": 5,
                    "executorOperatorSetIds": [0],
                    "operatorSets": [
                        {"id": 0, "curveType": ECDSA, "members": []},
                        {"id": 5, "curveType": aggregator_curve, "members": [aggregator]},
                    ],
                }
            ],
        }
    )


def aggregator_signature(signer=AGGREGATOR, **fields):
    return signer.sign_digest(aggregator_digest(**{**TASK, **fields}))


def verify(member, signature, **fields):
    asyncio.run(verify_aggregator_signature(member, aggregator_digest(**{**TASK, **fields}), signature))


def test_an_ecdsa_signed_task_verifies():
    verify(ECDSA_AGGREGATOR, aggregator_signature())


def test_v_0_or_1_is_accepted():
    signature = aggregator_signature()
    verify(ECDSA_AGGREGATOR, signature[:64] + bytes([signature[64] - 27]))


def test_a_bn254_signed_task_verifies_with_the_standard_hash_to_g1_of_the_digest():
    member = bn254_member(AGGREGATOR_BN254_KEY)
    signature = aggregator_signature(bn254_signer(AGGREGATOR_BN254_KEY))
    assert signature == bn254.sign(AGGREGATOR_BN254_KEY, aggregator_digest(**TASK))
    verify(member, signature)
    solidity = bn254.sign_solidity(AGGREGATOR_BN254_KEY, aggregator_digest(**TASK))
    with pytest.raises(WrongSignerError, match="BN254 key"):
        verify(member, solidity)  # the certificate-style hash is not what aggregators sign


TAMPERED = [
    ("task_id", "0x" + "0e" * 32),
    ("avs_address", "0x" + "ac" * 20),
    ("payload", b'{"number": 5}'),
    ("operator_set_id", 2),
    ("reference_timestamp", 1_700_000_001),
    ("task_block_number", 12_345_679),
    ("executor_address", STRANGER.address),
]


@pytest.mark.parametrize(("field", "value"), TAMPERED)
def test_any_tampered_field_is_rejected_ecdsa(field, value):
    with pytest.raises(WrongSignerError, match="not signed by the ECDSA key of aggregator"):
        verify(ECDSA_AGGREGATOR, aggregator_signature(), **{field: value})


@pytest.mark.parametrize(("field", "value"), TAMPERED)
def test_any_tampered_field_is_rejected_bn254(field, value):
    signature = aggregator_signature(bn254_signer(AGGREGATOR_BN254_KEY))
    with pytest.raises(WrongSignerError, match="not signed by the BN254 key of aggregator"):
        verify(bn254_member(AGGREGATOR_BN254_KEY), signature, **{field: value})


def test_a_signature_by_another_key_is_rejected():
    with pytest.raises(WrongSignerError):
        verify(ECDSA_AGGREGATOR, aggregator_signature(STRANGER))
    with pytest.raises(WrongSignerError):
        verify(bn254_member(AGGREGATOR_BN254_KEY), aggregator_signature(bn254_signer(STRANGER_BN254_KEY)))


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x01" * 64 + b"\x05", b"\x00" * 65])
def test_a_malformed_ecdsa_signature_is_reported_as_malformed(signature):
    with pytest.raises(MalformedSignatureError, match="malformed"):
        verify(ECDSA_AGGREGATOR, signature)


@pytest.mark.parametrize(
    ("signature", "match"), [(b"", "64 bytes"), (b"\x01" * 65, "64 bytes"), (b"\x01" * 64, "malformed")]
)
def test_a_malformed_bn254_signature_is_reported_as_malformed(signature, match):
    with pytest.raises(MalformedSignatureError, match=match):
        verify(bn254_member(AGGREGATOR_BN254_KEY), signature)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("task_id", "0x1234"),
        ("executor_address", "operator"),
        ("task_block_number", -1),
        ("avs_address", "0xab"),
    ],
)
def test_a_malformed_field_has_no_digest_to_verify(field, value):
    with pytest.raises(ValueError):
        aggregator_digest(**{**TASK, field: value})


@pytest.mark.parametrize("curve", [ECDSA, BN254])
def test_the_aggregator_is_looked_up_in_the_avs_aggregator_set(curve):
    member = asyncio.run(aggregator_member(chain(curve), AVS, AGGREGATOR.address, 7))
    assert (member.operator, member.curve_type) == (AGGREGATOR.address_lower, curve)


def test_an_aggregator_without_a_key_in_the_aggregator_set_is_unknown():
    with pytest.raises(UnknownAggregatorError, match="is not registered in aggregator operator set 5"):
        asyncio.run(aggregator_member(chain(), AVS, STRANGER.address, 7))


def test_an_avs_without_registrar_is_a_chain_answer_not_an_aggregator_problem():
    with pytest.raises(ChainReaderError, match="has no registrar"):
        asyncio.run(aggregator_member(chain(), "0x" + "cd" * 20, AGGREGATOR.address, 7))


# --- results ---

RESULT = dict(
    operator_address=EXECUTOR.address,
    task_id=TASK["task_id"],
    avs_address=AVS,
    operator_set_id=0,
    reference_timestamp=1_700_000_000,
    task_block_number=0,
)


def sign(signer, **fields):
    output = fields.pop("output", b"16")
    return asyncio.run(sign_result(chain(), signer, **{**RESULT, **fields}, output=output))


def test_ecdsa_result_and_auth_signatures_recover_to_the_signer():
    result_signature, auth_signature = sign(EXECUTOR)
    certificate = ecdsa_certificate_digest(
        SEPARATOR,
        1_700_000_000,
        keccak256(b"\x0f" * 32 + bytes(31) + b"\x40" + bytes(31) + b"\x02" + b"16" + bytes(30)),
    )
    assert recover_address(certificate, result_signature) == EXECUTOR.address
    assert result_signature[64] in (27, 28)
    auth = auth_digest(TASK["task_id"], AVS, EXECUTOR.address, 0, result_signature)
    assert recover_address(auth, auth_signature) == EXECUTOR.address


def test_bn254_result_signature_is_the_solidity_one_and_the_auth_signature_the_standard_one():
    signer = bn254_signer(EXECUTOR_BN254_KEY)
    result_signature, auth_signature = sign(signer, operator_set_id=1)
    certificate = bn254_certificate_digest(1_700_000_000, result_message_hash(TASK["task_id"], b"16"))
    assert result_signature == bn254.sign_solidity(EXECUTOR_BN254_KEY, certificate)
    assert bn254.verify_solidity(signer.public_key_g2, certificate, result_signature)
    auth = auth_digest(TASK["task_id"], AVS, EXECUTOR.address, 1, result_signature)
    assert auth_signature == bn254.sign(EXECUTOR_BN254_KEY, auth)


def test_signatures_change_when_the_output_or_the_timestamp_changes():
    first = sign(EXECUTOR)
    assert sign(EXECUTOR, output=b"17").result_signature != first.result_signature
    assert sign(EXECUTOR, output=b"17").auth_signature != first.auth_signature
    assert sign(EXECUTOR, reference_timestamp=1_700_000_001).result_signature != first.result_signature
    assert sign(EXECUTOR) == first


def test_the_auth_message_names_the_operator_address_not_the_key():
    operator = "0x" + "cd" * 20
    signatures = sign(EXECUTOR, operator_address=operator, output=b"x")
    auth = auth_digest(TASK["task_id"], AVS, operator, 0, signatures.result_signature)
    assert recover_address(auth, signatures.auth_signature) == EXECUTOR.address


def test_the_signer_for_a_curve_comes_from_the_signers_or_a_configuration_error():
    signers = {ECDSA: EXECUTOR}
    assert signer_for(signers, ECDSA, "operator set 0") is EXECUTOR
    with pytest.raises(SignerMissingError, match=r"no BN254 signing key \(operator.signingKeys.bls\)"):
        signer_for(signers, BN254, "operator set 1 of AVS x")
    with pytest.raises(SignerMissingError, match=r"operator.signingKeys.ecdsa"):
        signer_for({}, ECDSA, "operator set 0")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("task_id", "0x0f", "66 characters"),
        ("avs_address", "0xab", "avs address"),
        ("operator_address", "", "operator address"),
        ("reference_timestamp", 2**32, "reference timestamp"),
    ],
)
def test_malformed_fields_are_reported_when_signing(field, value, message):
    with pytest.raises(MalformedTaskError, match=message):
        sign(EXECUTOR, **{field: value}, output=b"x")
