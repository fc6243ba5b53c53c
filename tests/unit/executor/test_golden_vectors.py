"""The executor's signing code against golden vectors computed by the Go code the Go executor runs
(crypto-libs v0.0.4 on gnark-crypto and go-ethereum; go-ethereum's v3 keystores):
tests/unit/executor/golden/crypto-libs-v0.0.4.json, written by hack/golden (golden.sh).

Every vector must be reproduced byte for byte: BN254 keys and their Solidity views, both hash-to-G1
maps, signatures and verification results, aggregation; ECDSA signatures; the §5 layouts with the
aggregator's, the result (certificate) and the auth signatures on both curves; the double-hash
management challenge; keystores decrypted. That the generator still computes the committed file
is checked by `make lint` (golden.sh --check).
"""

from __future__ import annotations

import pytest
from hourglass_executor.auth import sign_challenge
from hourglass_executor.signing import EcdsaSigner, bn254, keccak256, recover_address
from hourglass_executor.signing.bn254 import Bn254Signer
from hourglass_executor.signing.keystore import (
    KeystoreError,
    WrongPasswordError,
    decrypt_eip2335,
    decrypt_web3_v3,
)
from hourglass_executor.signing.layouts import (
    aggregator_digest,
    aggregator_message,
    auth_digest,
    auth_message,
    bn254_certificate_digest,
    challenge_digest,
    ecdsa_certificate_digest,
    result_message_hash,
)

from tests.support.golden import VECTORS
from tests.support.paths import REPO

pytestmark = pytest.mark.unit

GENERATOR = REPO / "hack" / "golden" / "golden.sh"
BN = VECTORS["bn254"]
BN_KEYS = [bytes.fromhex(key["privateKey"]) for key in BN["keys"]]
ECDSA_KEYS = [EcdsaSigner(key["privateKey"]) for key in VECTORS["ecdsa"]["keys"]]


def x(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def ids(items, name=lambda item: item.get("case") or item.get("name")):
    return [f"{i}-{name(item)}" if name(item) else str(i) for i, item in enumerate(items)]


def test_the_file_has_every_kind_of_vector():
    assert BN["dst"] == bn254.DST.decode()
    counts = {
        "bn254 keys": len(BN["keys"]),
        "signatures": len(BN["signatures"]),
        "solidity signatures": len(BN["soliditySignatures"]),
        "verify cases": len(BN["verify"]),
        "layouts": len(VECTORS["layouts"]),
        "challenges": len(VECTORS["challenges"]),
        "eip2335 keystores": len(VECTORS["keystores"]["eip2335"]),
        "v3 keystores": len(VECTORS["keystores"]["web3v3"]),
    }
    assert all(counts.values()), counts
    assert {case["valid"] for case in BN["verify"]} == {True, False}


# --- BN254 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", BN["keys"], ids=ids(BN["keys"], lambda k: k["privateKey"][:8]))
def test_bn254_public_keys_and_their_solidity_views(vector):
    secret = x(vector["privateKey"])
    g1, g2 = bn254.public_key_g1(secret), bn254.public_key_g2(secret)
    assert g1.hex() == vector["g1"]
    assert g2.hex() == vector["g2"]
    solidity_g1 = tuple(int(v) for v in (vector["solidityG1"]["x"], vector["solidityG1"]["y"]))
    solidity_g2 = tuple(tuple(int(v) for v in vector["solidityG2"][axis]) for axis in ("x", "y"))
    assert bn254.g1_to_solidity(g1) == solidity_g1
    assert bn254.g2_to_solidity(g2) == solidity_g2
    assert bn254.g1_from_solidity(*solidity_g1) == g1
    assert bn254.g2_from_solidity(*solidity_g2) == g2


@pytest.mark.parametrize("vector", BN["hashToG1"], ids=ids(BN["hashToG1"], lambda v: v["message"][:16]))
def test_bn254_standard_hash_to_g1(vector):
    assert bn254.hash_to_g1(x(vector["message"])).hex() == vector["point"]


@pytest.mark.parametrize(
    "vector", BN["solidityHashToG1"], ids=ids(BN["solidityHashToG1"], lambda v: v["message"][:16])
)
def test_bn254_solidity_hash_to_g1(vector):
    assert bn254.hash_to_g1_solidity(x(vector["message"])).hex() == vector["point"]


def test_bn254_signatures():
    for vector in BN["signatures"]:
        key, message = BN_KEYS[vector["key"]], x(vector["message"])
        assert bn254.sign(key, message).hex() == vector["signature"], vector
        assert bn254.verify(bn254.public_key_g2(key), message, x(vector["signature"]))


def test_bn254_solidity_signatures():
    for vector in BN["soliditySignatures"]:
        key, message_hash = BN_KEYS[vector["key"]], x(vector["message"])
        assert bn254.sign_solidity(key, message_hash).hex() == vector["signature"], vector
        assert bn254.verify_solidity(bn254.public_key_g2(key), message_hash, x(vector["signature"]))


@pytest.mark.parametrize("case", BN["verify"], ids=ids(BN["verify"], lambda c: f"{c['scheme']}-{c['case']}"))
def test_bn254_verification_results(case):
    verify = bn254.verify if case["scheme"] == "standard" else bn254.verify_solidity
    assert verify(x(case["publicKeyG2"]), x(case["message"]), x(case["signature"])) is case["valid"]


def test_bn254_aggregation():
    vector = BN["aggregation"]
    keys = [BN_KEYS[i] for i in vector["keys"]]
    message_hash = x(vector["messageHash"])
    signatures = [bn254.sign_solidity(key, message_hash) for key in keys]
    assert [s.hex() for s in signatures] == vector["signatures"]
    aggregate = bn254.aggregate_g1(signatures)
    aggregate_g2 = bn254.aggregate_g2([bn254.public_key_g2(key) for key in keys])
    assert aggregate.hex() == vector["aggregateSignature"]
    assert (
        bn254.aggregate_g1([bn254.public_key_g1(key) for key in keys]).hex() == vector["aggregatePublicKeyG1"]
    )
    assert aggregate_g2.hex() == vector["aggregatePublicKeyG2"]
    assert bn254.verify_solidity(aggregate_g2, message_hash, aggregate) is vector["batchVerified"] is True


# --- ECDSA --------------------------------------------------------------------------------------------


def test_ecdsa_addresses_and_signatures():
    for signer, vector in zip(ECDSA_KEYS, VECTORS["ecdsa"]["keys"], strict=True):
        assert signer.address == vector["address"]
    for vector in VECTORS["ecdsa"]["signatures"]:
        signer, digest = ECDSA_KEYS[vector["key"]], x(vector["digest"])
        assert signer.sign_digest(digest).hex() == vector["signature"]
        assert recover_address(digest, x(vector["signature"])) == signer.address


# --- the §5 layouts on both curves ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector", VECTORS["layouts"], ids=ids(VECTORS["layouts"], lambda v: v["taskId"][:10])
)
def test_task_layouts_and_signatures(vector):
    fields = dict(
        task_id=vector["taskId"],
        avs_address=vector["avs"],
        executor_address=vector["executor"],
        operator_set_id=vector["operatorSetId"],
        reference_timestamp=vector["referenceTimestamp"],
        task_block_number=vector["taskBlockNumber"],
        payload=x(vector["payload"]),
    )
    # The aggregator's TaskSubmission signature (Go SignMessage of the 224 bytes), on both curves.
    assert aggregator_message(**fields).hex() == vector["submissionMessage"]
    digest = aggregator_digest(**fields)
    assert digest.hex() == vector["submissionDigest"]
    ecdsa_aggregator = ECDSA_KEYS[vector["aggregatorEcdsaKey"]]
    bn254_aggregator = Bn254Signer(BN_KEYS[vector["aggregatorBn254Key"]])
    assert ecdsa_aggregator.sign_digest(digest).hex() == vector["submissionSignatureEcdsa"]
    assert bn254_aggregator.sign_digest(digest).hex() == vector["submissionSignatureBn254"]
    assert bn254.verify(bn254_aggregator.public_key_g2, digest, x(vector["submissionSignatureBn254"]))

    # The result: message hash, certificate digests, certificate signatures (SignMessageForSolidity).
    message_hash = result_message_hash(vector["taskId"], x(vector["output"]))
    assert message_hash.hex() == vector["messageHash"]
    ecdsa_digest_bytes = x(vector["ecdsaCertificateDigestBytes"])
    assert (
        ecdsa_digest_bytes[:2] == b"\x19\x01" and ecdsa_digest_bytes[2:34].hex() == vector["domainSeparator"]
    )
    ecdsa_digest = ecdsa_certificate_digest(
        x(vector["domainSeparator"]), vector["referenceTimestamp"], message_hash
    )
    assert ecdsa_digest == keccak256(ecdsa_digest_bytes)
    assert ecdsa_digest.hex() == vector["ecdsaCertificateDigest"]
    bn254_digest = bn254_certificate_digest(vector["referenceTimestamp"], message_hash)
    assert bn254_digest.hex() == vector["bn254CertificateDigest"]
    ecdsa_executor = ECDSA_KEYS[vector["executorEcdsaKey"]]
    bn254_executor = Bn254Signer(BN_KEYS[vector["executorBn254Key"]])
    ecdsa_result = ecdsa_executor.sign_certificate_digest(ecdsa_digest)
    bn254_result = bn254_executor.sign_certificate_digest(bn254_digest)
    assert ecdsa_result.hex() == vector["ecdsaResultSignature"]
    assert bn254_result.hex() == vector["bn254ResultSignature"]

    # The auth signatures (SignMessage of the 160 bytes).
    for curve, signer, result in (
        ("ecdsa", ecdsa_executor, ecdsa_result),
        ("bn254", bn254_executor, bn254_result),
    ):
        auth = (vector["taskId"], vector["avs"], vector["executor"], vector["operatorSetId"], result)
        assert auth_message(*auth).hex() == vector[f"{curve}AuthMessage"]
        assert signer.sign_digest(auth_digest(*auth)).hex() == vector[f"{curve}AuthSignature"]
        assert signer.verify_digest(auth_digest(*auth), x(vector[f"{curve}AuthSignature"]))


@pytest.mark.parametrize(
    "vector", VECTORS["layouts"], ids=ids(VECTORS["layouts"], lambda v: v["taskId"][:10])
)
def test_the_ecdsa_certificate_domain_has_no_chain_id_and_the_major_version(vector):
    """The layout vectors' domain: EIP712Domain(name "EigenLayer", version = major version character,
    verifyingContract), no chainId (contract §5). The deployed verifier's value is the devnet's vector."""
    typehash = keccak256(b"EIP712Domain(string name,string version,address verifyingContract)")
    expected = keccak256(
        typehash
        + keccak256(b"EigenLayer")
        + keccak256(vector["domainMajorVersion"].encode())
        + x(vector["domainVerifier"]).rjust(32, b"\x00")
    )
    assert expected.hex() == vector["domainSeparator"]


@pytest.mark.parametrize(
    "vector", VECTORS["challenges"], ids=ids(VECTORS["challenges"], lambda v: v["token"][:8])
)
def test_management_challenges_are_signed_over_the_double_hash(vector):
    token = vector["token"]
    assert keccak256(token.encode()).hex() == vector["message"]
    assert challenge_digest(token).hex() == vector["digest"]
    ecdsa_signer = ECDSA_KEYS[vector["ecdsaKey"]]
    bn254_signer = Bn254Signer(BN_KEYS[vector["bn254Key"]])
    assert sign_challenge(ecdsa_signer, token).hex() == vector["ecdsaSignature"]
    assert sign_challenge(bn254_signer, token).hex() == vector["bn254Signature"]
    assert ecdsa_signer.verify_digest(challenge_digest(token), x(vector["ecdsaSignature"]))
    assert bn254_signer.verify_digest(challenge_digest(token), x(vector["bn254Signature"]))
    # The single hash, which this executor used to sign, is not what the Go peers sign.
    assert not ecdsa_signer.verify_digest(keccak256(token.encode()), x(vector["ecdsaSignature"]))


# --- keystores ----------------------------------------------------------------------------------------

EIP2335 = VECTORS["keystores"]["eip2335"]
WEB3V3 = VECTORS["keystores"]["web3v3"]


@pytest.mark.parametrize("vector", EIP2335, ids=ids(EIP2335))
def test_eip2335_keystores_written_by_crypto_libs(vector):
    keystore = vector["keystore"]
    if vector["curve"] == "bls381":
        with pytest.raises(KeystoreError, match="for curve 'bls381', not bn254"):
            decrypt_eip2335(keystore, vector["password"])
        assert decrypt_eip2335(keystore, vector["password"], curve="bls381").hex() == vector["privateKey"]
        return
    secret = decrypt_eip2335(keystore, vector["password"])
    assert secret.hex() == vector["privateKey"]
    assert Bn254Signer(secret).public_key_g2.hex() == vector["public"]
    with pytest.raises(WrongPasswordError, match="wrong password"):
        decrypt_eip2335(keystore, vector["password"] + "x")


@pytest.mark.parametrize("vector", WEB3V3, ids=ids(WEB3V3))
def test_v3_keystores_written_by_go_ethereum(vector):
    secret = decrypt_web3_v3(vector["keystore"], vector["password"])
    assert secret.hex() == vector["privateKey"]
    assert EcdsaSigner(secret).address == vector["public"]
    with pytest.raises(WrongPasswordError, match="wrong password"):
        decrypt_web3_v3(vector["keystore"], vector["password"] + "x")
