"""On-chain task round trips on the devnet without an executor: a task is created on the TaskMailbox, the
test signs the result with the devnet's test keys as an executor would, builds the certificate as an
aggregator would, and the TaskMailbox verifies it through the certificate verifiers and the
transported operator tables (TaskVerified), or rejects it with the contract's error."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hourglass_executor.signing import bn254

from hack.devnet import certificates
from hack.devnet.devnet import Devnet
from hack.devnet.rpc import RevertError
from tests.support.chain import bn254_certificate, ecdsa_certificate

RESULT = b"result bytes from the performer"


def _avs(devnet: Devnet, index: int) -> str:
    return devnet.manifest["avss"][index]["address"]


def _key(hex_key: str) -> bytes:
    return bytes.fromhex(hex_key.removeprefix("0x"))


def test_ecdsa_executor_set_task_is_verified(devnet: Devnet):
    avs = _avs(devnet, 0)
    task = devnet.create_task(avs, 1, b"payload for the ECDSA set")

    assert task.avs == avs and task.executor_operator_set_id == 1
    assert task.payload == b"payload for the ECDSA set"
    verifier = devnet.contract("ecdsaCertificateVerifier")
    assert task.reference_timestamp == devnet.rpc.call(verifier.functions.latestReferenceTimestamp((avs, 1)))
    assert devnet.task_status(task.task_hash) == "CREATED"

    executor_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs]["ecdsaKey"]
    verified = devnet.submit_result(
        task.task_hash, ecdsa_certificate(devnet, task, RESULT, executor_key), RESULT
    )

    assert verified.task_hash == task.task_hash
    assert verified.result == RESULT
    assert verified.aggregator == devnet.manifest["accounts"]["aggregator"]["address"]
    assert devnet.task_status(task.task_hash) == "VERIFIED"
    mailbox = devnet.contract("taskMailbox")
    assert devnet.rpc.call(mailbox.functions.getTaskResult(task.task_hash)) == RESULT


def test_bn254_executor_set_task_is_verified(devnet: Devnet):
    avs = _avs(devnet, 0)
    task = devnet.create_task(avs, 2, b"payload for the BN254 set")
    executor_key = _key(devnet.manifest["accounts"]["executor"]["bn254Key"])

    verified = devnet.submit_result(
        task.task_hash, bn254_certificate(devnet, task, RESULT, executor_key, executor_key), RESULT
    )

    assert verified.executor_operator_set_id == 2
    assert devnet.task_status(task.task_hash) == "VERIFIED"


def test_the_second_avs_executor_set_verifies_with_its_own_executor_key(devnet: Devnet):
    avs = _avs(devnet, 1)
    task = devnet.create_task(avs, 1, b"payload for AVS 2")
    executor_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs]["ecdsaKey"]

    devnet.submit_result(task.task_hash, ecdsa_certificate(devnet, task, RESULT, executor_key), RESULT)

    assert devnet.task_status(task.task_hash) == "VERIFIED"


def test_ecdsa_certificate_of_a_non_member_key_is_rejected(devnet: Devnet):
    task = devnet.create_task(_avs(devnet, 0), 1, b"payload")
    stranger_key = devnet.manifest["accounts"]["stranger"]["ecdsaKey"]

    with pytest.raises(RevertError) as rejected:
        devnet.submit_result(task.task_hash, ecdsa_certificate(devnet, task, RESULT, stranger_key), RESULT)

    assert rejected.value.error == "VerificationFailed()"
    assert devnet.task_status(task.task_hash) == "CREATED"


def test_ecdsa_key_of_another_avs_is_rejected(devnet: Devnet):
    """Keys are per operator set: the executor's AVS 2 key is no member of AVS 1's set."""
    avs_1, avs_2 = _avs(devnet, 0), _avs(devnet, 1)
    task = devnet.create_task(avs_1, 1, b"payload")
    other_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs_2]["ecdsaKey"]

    with pytest.raises(RevertError) as rejected:
        devnet.submit_result(task.task_hash, ecdsa_certificate(devnet, task, RESULT, other_key), RESULT)

    assert rejected.value.error == "VerificationFailed()"


def test_a_result_other_than_the_signed_one_is_rejected(devnet: Devnet):
    avs = _avs(devnet, 0)
    task = devnet.create_task(avs, 1, b"payload")
    executor_key = devnet.manifest["accounts"]["executor"]["ecdsaKeysByAvs"][avs]["ecdsaKey"]
    certificate = ecdsa_certificate(devnet, task, RESULT, executor_key)

    with pytest.raises(RevertError) as rejected:
        devnet.submit_result(task.task_hash, certificate, b"another result")

    assert rejected.value.error == "InvalidMessageHash()"


def test_bn254_signature_of_a_non_member_key_is_rejected(devnet: Devnet):
    task = devnet.create_task(_avs(devnet, 0), 2, b"payload")
    stranger_key = _key(devnet.manifest["accounts"]["stranger"]["bn254Key"])
    executor_key = _key(devnet.manifest["accounts"]["executor"]["bn254Key"])

    for signing_key, apk_key in ((stranger_key, stranger_key), (stranger_key, executor_key)):
        with pytest.raises(RevertError) as rejected:
            devnet.submit_result(
                task.task_hash, bn254_certificate(devnet, task, RESULT, signing_key, apk_key), RESULT
            )
        assert rejected.value.error == "VerificationFailed()"
    assert devnet.task_status(task.task_hash) == "CREATED"


def test_ecdsa_domain_separator_has_no_chain_id_and_the_major_version(devnet: Devnet):
    """Contract §5's golden layout of the ECDSA certificate domain and digest."""
    verifier = devnet.contract("ecdsaCertificateVerifier")
    domain_type = keccak(b"EIP712Domain(string name,string version,address verifyingContract)")
    expected = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "address"],
            [domain_type, keccak(b"EigenLayer"), keccak(b"1"), verifier.address],
        )
    )
    assert devnet.rpc.call(verifier.functions.domainSeparator()) == expected
    assert devnet.rpc.call(verifier.functions.version()) == "1.8.0"

    message_hash, timestamp = keccak(b"message"), 1_234_567
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "uint32", "bytes32"],
            [
                keccak(b"ECDSACertificate(uint32 referenceTimestamp,bytes32 messageHash)"),
                timestamp,
                message_hash,
            ],
        )
    )
    digest_bytes = devnet.rpc.call(
        verifier.functions.calculateCertificateDigestBytes(timestamp, message_hash)
    )
    assert digest_bytes == b"\x19\x01" + expected + struct_hash
    assert devnet.certificate_digest("ECDSA", timestamp, message_hash) == keccak(digest_bytes)


def test_bn254_certificate_digest_layout(devnet: Devnet):
    message_hash, timestamp = keccak(b"message"), 1_234_567
    type_hash = keccak(b"BN254Certificate(uint32 referenceTimestamp,bytes32 messageHash)")
    expected = keccak(abi_encode(["bytes32", "uint32", "bytes32"], [type_hash, timestamp, message_hash]))
    assert devnet.certificate_digest("BN254", timestamp, message_hash) == expected


def test_message_hash_layout(devnet: Devnet):
    task_hash = keccak(b"task")
    expected = keccak(abi_encode(["bytes32", "bytes"], [task_hash, RESULT]))
    assert devnet.message_hash(task_hash, RESULT) == expected


def test_certificate_encodings_equal_the_task_mailbox_ones(devnet: Devnet):
    mailbox = devnet.contract("taskMailbox")
    message_hash = keccak(b"message")
    signatures = {
        "0x00000000000000000000000000000000000000b2": b"\x02" * 65,
        "0x00000000000000000000000000000000000000a1": b"\x01" * 65,
    }
    ours = certificates.ecdsa_certificate(42, message_hash, signatures)
    theirs = devnet.rpc.call(
        mailbox.functions.getECDSACertificateBytes((42, message_hash, b"\x01" * 65 + b"\x02" * 65))
    )
    assert ours == theirs

    key = _key(devnet.manifest["accounts"]["executor"]["bn254Key"])
    signature, apk, g1 = (
        bn254.sign_solidity(key, message_hash),
        bn254.public_key_g2(key),
        bn254.public_key_g1(key),
    )
    witness = certificates.NonSignerWitness(3, g1, (1, 2), b"\x07" * 64)
    ours = certificates.bn254_certificate(42, message_hash, signature, apk, [witness])
    theirs = devnet.rpc.call(
        mailbox.functions.getBN254CertificateBytes(
            (
                42,
                message_hash,
                bn254.g1_to_solidity(signature),
                bn254.g2_to_solidity(apk),
                [(3, b"\x07" * 64, (bn254.g1_to_solidity(g1), [1, 2]))],
            )
        )
    )
    assert ours == theirs
