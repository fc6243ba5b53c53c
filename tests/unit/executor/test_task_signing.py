"""Checking the aggregator's TaskSubmission signature and signing TaskResults, against a static chain."""

from __future__ import annotations

import pytest
from hourglass_executor.chain import StaticChainReader, UnknownOperatorSetError
from hourglass_executor.signing import EcdsaSigner, keccak256, recover_address
from hourglass_executor.signing.layouts import (
    aggregator_digest,
    auth_digest,
    ecdsa_certificate_digest,
    result_message_hash,
)
from hourglass_executor.task_signing import (
    MalformedSignatureError,
    MalformedTaskError,
    SignerMismatchError,
    WrongSignerError,
    sign_result,
    verify_aggregator_signature,
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


def ecdsa_set(set_id):
    return {
        "id": set_id,
        "curveType": "ECDSA",
        "aggregatorAddress": AGGREGATOR.address,
        "operators": [EXECUTOR.address],
    }


@pytest.fixture
def chain():
    return StaticChainReader.from_mapping(
        {
            "chainId": 31337,
            "ecdsaCertificateVerifier": {"domainSeparator": "0x" + SEPARATOR.hex()},
            "avss": [
                {
                    "address": AVS,
                    "operatorSets": [
                        ecdsa_set(0),
                        {
                            "id": 1,
                            "curveType": "BN254",
                            "aggregatorAddress": AGGREGATOR.address,
                            "operators": [EXECUTOR.address],
                        },
                        ecdsa_set(2),
                    ],
                }
            ],
        }
    )


def aggregator_signature(signer=AGGREGATOR, **fields):
    return signer.sign_digest(aggregator_digest(**{**TASK, **fields}))


def test_a_signed_task_verifies(chain):
    signature = aggregator_signature()
    assert verify_aggregator_signature(chain, **TASK, signature=signature) == AGGREGATOR.address_lower
    upper = AGGREGATOR.address.upper().replace("0X", "0x")
    assert verify_aggregator_signature(chain, **TASK, signature=signature, aggregator_address=upper)


def test_v_0_or_1_is_accepted(chain):
    signature = aggregator_signature()
    raw = signature[:64] + bytes([signature[64] - 27])
    assert verify_aggregator_signature(chain, **TASK, signature=raw) == AGGREGATOR.address_lower


@pytest.mark.parametrize(
    "field,value",
    [
        ("task_id", "0x" + "0e" * 32),
        ("avs_address", "0x" + "ac" * 20),
        ("payload", b'{"number": 5}'),
        ("operator_set_id", 2),
        ("reference_timestamp", 1_700_000_001),
        ("task_block_number", 12_345_679),
        ("executor_address", STRANGER.address),
    ],
)
def test_any_tampered_field_is_rejected(chain, field, value):
    signature = aggregator_signature()
    tampered = {**TASK, field: value}
    if field == "avs_address":  # the tampered AVS must exist, so the signature is what fails
        chain = StaticChainReader.from_mapping(
            {
                "chainId": 1,
                "ecdsaCertificateVerifier": {"domainSeparator": "0x" + SEPARATOR.hex()},
                "avss": [{"address": value, "operatorSets": [ecdsa_set(0)]}],
            }
        )
    with pytest.raises(WrongSignerError, match="not signed by aggregator"):
        verify_aggregator_signature(chain, **tampered, signature=signature)


def test_a_signature_by_another_key_is_rejected(chain):
    with pytest.raises(WrongSignerError):
        verify_aggregator_signature(chain, **TASK, signature=aggregator_signature(STRANGER))


def test_a_task_naming_another_aggregator_is_rejected(chain):
    with pytest.raises(WrongSignerError, match="names aggregator"):
        verify_aggregator_signature(
            chain, **TASK, signature=aggregator_signature(), aggregator_address=STRANGER.address
        )


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x01" * 64 + b"\x05", b"\x00" * 65])
def test_a_malformed_signature_is_reported_as_malformed(chain, signature):
    with pytest.raises(MalformedSignatureError, match="malformed"):
        verify_aggregator_signature(chain, **TASK, signature=signature)


@pytest.mark.parametrize(
    "field,value",
    [
        ("task_id", "0x1234"),
        ("executor_address", "operator"),
        ("task_block_number", -1),
        ("avs_address", "0xab"),
    ],
)
def test_a_malformed_field_is_reported_as_malformed(chain, field, value):
    with pytest.raises(MalformedTaskError):
        verify_aggregator_signature(chain, **{**TASK, field: value}, signature=aggregator_signature())


def test_an_unknown_operator_set_is_a_lookup_error(chain):
    with pytest.raises(UnknownOperatorSetError):
        verify_aggregator_signature(chain, **{**TASK, "operator_set_id": 9}, signature=bytes(65))


def test_bn254_aggregator_signatures_are_not_implemented(chain):
    with pytest.raises(NotImplementedError, match=r"BN254 .*not implemented"):
        verify_aggregator_signature(chain, **{**TASK, "operator_set_id": 1}, signature=bytes(65))


# --- results ---

RESULT = dict(
    operator_address=EXECUTOR.address,
    task_id=TASK["task_id"],
    avs_address=AVS,
    operator_set_id=0,
    reference_timestamp=1_700_000_000,
)


def test_result_and_auth_signatures_recover_to_the_signer(chain):
    output = b"16"
    result_signature, auth_signature = sign_result(chain, EXECUTOR, **RESULT, output=output)
    certificate = ecdsa_certificate_digest(
        SEPARATOR,
        1_700_000_000,
        keccak256(b"\x0f" * 32 + bytes(31) + b"\x40" + bytes(31) + b"\x02" + b"16" + bytes(30)),
    )
    assert recover_address(certificate, result_signature) == EXECUTOR.address
    assert result_signature[64] in (27, 28)
    auth = auth_digest(TASK["task_id"], AVS, EXECUTOR.address, 0, result_signature)
    assert recover_address(auth, auth_signature) == EXECUTOR.address


def test_signatures_change_when_the_output_changes(chain):
    first = sign_result(chain, EXECUTOR, **RESULT, output=b"16")
    second = sign_result(chain, EXECUTOR, **RESULT, output=b"17")
    assert first.result_signature != second.result_signature
    assert first.auth_signature != second.auth_signature
    assert sign_result(chain, EXECUTOR, **RESULT, output=b"16") == first


def test_the_reference_timestamp_is_part_of_the_certificate(chain):
    first = sign_result(chain, EXECUTOR, **RESULT, output=b"16")
    later = sign_result(chain, EXECUTOR, **{**RESULT, "reference_timestamp": 1_700_000_001}, output=b"16")
    assert first.result_signature != later.result_signature


def test_the_auth_message_names_the_operator_address_not_the_key(chain):
    operator = "0x" + "cd" * 20
    signatures = sign_result(chain, EXECUTOR, **{**RESULT, "operator_address": operator}, output=b"x")
    auth = auth_digest(TASK["task_id"], AVS, operator, 0, signatures.result_signature)
    assert recover_address(auth, signatures.auth_signature) == EXECUTOR.address
    message_hash = result_message_hash(TASK["task_id"], b"x")
    certificate = chain.certificate_digest("ECDSA", AVS, 0, RESULT["reference_timestamp"], message_hash)
    assert recover_address(certificate, signatures.result_signature) == EXECUTOR.address


def test_bn254_result_signing_is_not_implemented(chain):
    with pytest.raises(NotImplementedError, match="BN254 operator sets is not implemented yet"):
        sign_result(chain, EXECUTOR, **{**RESULT, "operator_set_id": 1}, output=b"x")


class _Bn254Stub:
    curve = "BN254"
    address = "0x" + "00" * 20

    def sign_digest(self, digest):
        raise AssertionError("must not be asked to sign")


def test_a_signer_for_another_curve_is_refused(chain):
    with pytest.raises(SignerMismatchError, match="uses ECDSA, but the signer is BN254"):
        sign_result(chain, _Bn254Stub(), **RESULT, output=b"x")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("task_id", "0x0f", "66 characters"),
        ("avs_address", "0xab", "avs address"),
        ("operator_address", "", "operator address"),
        ("reference_timestamp", 2**32, "reference timestamp"),
    ],
)
def test_malformed_fields_are_reported_when_signing(chain, field, value, message):
    with pytest.raises(MalformedTaskError, match=message):
        sign_result(chain, EXECUTOR, **{**RESULT, field: value}, output=b"x")
