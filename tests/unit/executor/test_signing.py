"""keccak256, addresses, ECDSA signing and recovery, and the exact §5 byte layouts."""

from __future__ import annotations

import os

import pytest
from hourglass_executor.signing import (
    EcdsaSigner,
    SignatureError,
    Signer,
    addresses_equal,
    keccak256,
    parse_address,
    recover_address,
    signed_by,
    to_checksum_address,
)
from hourglass_executor.signing.layouts import (
    BN254_CERTIFICATE_TYPEHASH,
    ECDSA_CERTIFICATE_TYPEHASH,
    EIP712_DOMAIN_TYPEHASH,
    abi_encode_bytes32_bytes,
    aggregator_digest,
    aggregator_message,
    auth_digest,
    auth_message,
    bn254_certificate_digest,
    challenge_digest,
    ecdsa_certificate_digest,
    eip712_domain_separator,
    result_message_hash,
    task_id_bytes,
)

from tests.support import curve_math

pytestmark = pytest.mark.unit

# The first two well-known development keys (anvil / hardhat) and their addresses.
KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
KEY1 = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

# The worked example of the EIP-712 specification ("Ether Mail"): domain, digest, key and signature.
MAIL_DOMAIN_SEPARATOR = "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
MAIL_DIGEST = bytes.fromhex("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
MAIL_SIGNER = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"
MAIL_R = "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
MAIL_S = "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = 2**256 - 2**32 - 977
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)


# --- an independent, slow secp256k1 recovery to check coincurve's output and our V convention ---


def _add(a, b):
    return curve_math.add(a, b, P)


def _mul(k, point):
    return curve_math.multiply(point, k, P)


def _lift_x(x, odd):
    y = pow((x**3 + 7) % P, (P + 1) // 4, P)
    if y * y % P != (x**3 + 7) % P:
        return None
    return x, y if y % 2 == odd else P - y


def _slow_recover(digest, signature):
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    big_r = _lift_x(r, signature[64] - 27)
    z = int.from_bytes(digest, "big")
    r_inv = pow(r, -1, N)
    q = _add(_mul(s * r_inv % N, big_r), _mul((-z * r_inv) % N, G))
    return to_checksum_address(keccak256(q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big"))[-20:])


# --- keccak, addresses, keys ---


def test_keccak256_matches_known_vectors():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


@pytest.mark.parametrize("size", [0, 1, 31, 32, 135, 136, 137, 272, 1000, 70_000])
def test_keccak256_of_any_buffer_agrees_with_the_hash_fed_in_pieces_for_every_length(size):
    from Crypto.Hash import keccak

    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    pieces = keccak.new(digest_bits=256)
    for start in range(0, size, 7):  # absorbed in partial blocks, across the 136-byte rate
        pieces.update(data[start : start + 7])
    expected = pieces.digest()
    assert keccak256(data) == keccak256(bytearray(data)) == keccak256(memoryview(data)) == expected


@pytest.mark.parametrize(
    "address",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_checksum_addresses_match_the_eip55_examples(address):
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address(bytes.fromhex(address[2:])) == address


@pytest.mark.parametrize(
    "bad", ["", "0x", "f39fd6e51aad88f6f4ce6ab8827279cfffb92266", "0x" + "g" * 40, "0x" + "a" * 39]
)
def test_malformed_addresses_are_rejected(bad):
    with pytest.raises(ValueError, match="'0x' followed by 40 hex digits"):
        parse_address(bad)
    assert not addresses_equal(bad, ADDRESS0)


def test_addresses_compare_case_insensitively():
    assert addresses_equal(ADDRESS0.lower(), ADDRESS0.upper().replace("0X", "0x"))
    assert not addresses_equal(ADDRESS0, ADDRESS1)


@pytest.mark.parametrize("key", [KEY0, KEY0[2:], KEY0.upper().replace("0X", "0x"), KEY0 + "\n"])
def test_address_is_derived_from_the_private_key(key):
    signer = EcdsaSigner(key)
    assert signer.address == ADDRESS0
    assert signer.address_lower == ADDRESS0.lower()
    assert signer.curve == "ECDSA"


def test_address_from_raw_key_bytes():
    assert EcdsaSigner(bytes.fromhex(KEY1)).address == ADDRESS1


@pytest.mark.parametrize(
    "key",
    ["", "0x1234", KEY0 + "00", "zz" * 32, "00" * 32, f"{N:064x}", f"{N + 1:064x}", b"\x01" * 31, 12345],
)
def test_invalid_private_keys_are_rejected_without_echoing_them(key):
    with pytest.raises(ValueError) as excinfo:
        EcdsaSigner(key)
    text = str(excinfo.value)
    if isinstance(key, str) and len(key) > 8:
        assert key not in text and key[2:] not in text


def test_repr_does_not_reveal_the_private_key():
    signer = EcdsaSigner(KEY0)
    assert KEY0[2:] not in repr(signer)
    assert ADDRESS0 in repr(signer)


def test_ecdsa_signer_satisfies_the_signer_protocol():
    assert isinstance(EcdsaSigner(KEY0), Signer)


# --- signing and recovery ---


def test_signature_matches_the_eip712_specification_example():
    signer = EcdsaSigner(keccak256(b"cow"))
    assert signer.address == MAIL_SIGNER
    assert signer.sign_digest(MAIL_DIGEST).hex() == MAIL_R + MAIL_S + "1c"
    assert recover_address(MAIL_DIGEST, bytes.fromhex(MAIL_R + MAIL_S + "1c")) == MAIL_SIGNER


@pytest.mark.parametrize("key,address", [(KEY0, ADDRESS0), (KEY1, ADDRESS1)])
def test_sign_and_recover_round_trip(key, address):
    signer = EcdsaSigner(key)
    for _ in range(8):
        digest = os.urandom(32)
        signature = signer.sign_digest(digest)
        assert len(signature) == 65
        assert signature[64] in (27, 28)
        assert int.from_bytes(signature[32:64], "big") <= N // 2
        assert recover_address(digest, signature) == address
        assert _slow_recover(digest, signature) == address
        assert signed_by(digest, signature, address.lower())
        assert not signed_by(os.urandom(32), signature, address)


def test_signing_is_deterministic():
    digest = keccak256(b"deterministic")
    assert EcdsaSigner(KEY0).sign_digest(digest) == EcdsaSigner(KEY0).sign_digest(digest)


def test_v_may_be_0_1_or_27_28():
    signer = EcdsaSigner(KEY0)
    for _ in range(6):
        digest = os.urandom(32)
        signature = signer.sign_digest(digest)
        raw_v = bytes([signature[64] - 27])
        assert recover_address(digest, signature[:64] + raw_v) == ADDRESS0


def test_flipping_v_recovers_another_address():
    digest = keccak256(b"flip")
    signature = EcdsaSigner(KEY0).sign_digest(digest)
    flipped = signature[:64] + bytes([55 - signature[64]])
    assert recover_address(digest, flipped) != ADDRESS0


def _non_curve_x():
    x = 1
    while _lift_x(x, 0) is not None:
        x += 1
    return x


def _malformed_signatures():
    good = EcdsaSigner(KEY0).sign_digest(keccak256(b"m"))
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64:]
    return {
        "empty": (b"", "65 bytes"),
        "64 bytes": (good[:64], "65 bytes"),
        "66 bytes": (good + b"\x00", "65 bytes"),
        "V 2": (good[:64] + b"\x02", "V must be"),
        "V 26": (good[:64] + b"\x1a", "V must be"),
        "V 29": (good[:64] + b"\x1d", "V must be"),
        "R zero": (bytes(32) + good[32:], "R is out of range"),
        "R = n": (N.to_bytes(32, "big") + good[32:], "R is out of range"),
        "S zero": (r + bytes(32) + v, "S is out of range"),
        "S high": (r + (N - s).to_bytes(32, "big") + bytes([55 - v[0]]), "low half"),
        "R not on curve": (_non_curve_x().to_bytes(32, "big") + good[32:], "does not recover"),
        "not bytes": ("0x" + good.hex(), "must be bytes"),
    }


@pytest.mark.parametrize("case", sorted(_malformed_signatures()))
def test_malformed_signatures_are_rejected(case):
    signature, message = _malformed_signatures()[case]
    with pytest.raises(SignatureError, match=message):
        recover_address(keccak256(b"m"), signature)


def test_digests_must_be_32_bytes():
    signer = EcdsaSigner(KEY0)
    with pytest.raises(ValueError, match="32 bytes"):
        signer.sign_digest(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        recover_address(b"\x00" * 33, signer.sign_digest(bytes(32)))


# --- layouts ---

TASK_ID = "0x" + "11" * 32
AVS = "0x" + "22" * 20
EXECUTOR = "0x" + "33" * 20


def test_task_id_is_66_characters_of_hex():
    assert task_id_bytes(TASK_ID) == b"\x11" * 32
    assert task_id_bytes("0x" + "AB" * 32) == b"\xab" * 32


@pytest.mark.parametrize(
    "bad", ["", "0x", "11" * 32, "0x" + "11" * 31, "0x" + "11" * 33, "0x" + "zz" * 32, b"0x11"]
)
def test_malformed_task_ids_name_the_rule(bad):
    with pytest.raises(ValueError, match=r"'0x' followed by 64 hex digits \(66 characters\)"):
        task_id_bytes(bad)


def test_aggregator_message_is_the_documented_224_bytes():
    message = aggregator_message(TASK_ID, AVS, EXECUTOR, 7, 0x01020304, 0x0102030405060708, b"")
    expected = bytes.fromhex(
        "11" * 32
        + "00" * 12 + "22" * 20
        + "00" * 12 + "33" * 20
        + "00" * 31 + "07"
        + "00" * 28 + "01020304"
        + "00" * 24 + "0102030405060708"
        + "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )  # fmt: skip
    assert len(message) == 224
    assert message == expected
    assert aggregator_digest(TASK_ID, AVS, EXECUTOR, 7, 0x01020304, 0x0102030405060708, b"") == keccak256(
        expected
    )


def test_aggregator_message_hashes_the_payload_and_pads_mixed_case_addresses():
    message = aggregator_message(TASK_ID, ADDRESS0, ADDRESS1, 0, 0, 0, b"abc")
    assert message[32:64] == bytes(12) + bytes.fromhex(ADDRESS0[2:])
    assert message[64:96] == bytes(12) + bytes.fromhex(ADDRESS1[2:])
    assert message[192:] == keccak256(b"abc")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("operator_set_id", 2**32, "operator set id"),
        ("operator_set_id", -1, "operator set id"),
        ("operator_set_id", True, "operator set id"),
        ("reference_timestamp", 2**32, "reference timestamp"),
        ("task_block_number", 2**64, "task block number"),
        ("avs_address", "0x22", "avs address"),
        ("executor_address", "", "executor address"),
    ],
)
def test_aggregator_message_rejects_out_of_range_fields(field, value, message):
    fields = dict(
        task_id=TASK_ID,
        avs_address=AVS,
        executor_address=EXECUTOR,
        operator_set_id=1,
        reference_timestamp=2,
        task_block_number=3,
        payload=b"",
    )
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        aggregator_message(**fields)


def test_aggregator_message_accepts_the_largest_values():
    message = aggregator_message(TASK_ID, AVS, EXECUTOR, 2**32 - 1, 2**32 - 1, 2**64 - 1, b"")
    assert message[96:128] == bytes(28) + b"\xff" * 4
    assert message[160:192] == bytes(24) + b"\xff" * 8


WORD_0X40 = bytes(31) + b"\x40"


@pytest.mark.parametrize(
    "output,tail",
    [
        (b"", bytes(32)),
        (b"\xab", bytes(31) + b"\x01" + b"\xab" + bytes(31)),
        (bytes(range(32)), bytes(31) + b"\x20" + bytes(range(32))),
        (bytes(range(33)), bytes(31) + b"\x21" + bytes(range(32)) + b"\x20" + bytes(31)),
    ],
    ids=["empty", "1 byte", "32 bytes", "33 bytes"],
)
def test_abi_encoding_of_bytes32_and_bytes(output, tail):
    encoded = abi_encode_bytes32_bytes(b"\x11" * 32, output)
    assert encoded == b"\x11" * 32 + WORD_0X40 + tail
    assert len(encoded) % 32 == 0
    assert result_message_hash(TASK_ID, output) == keccak256(encoded)


def test_result_message_hash_changes_with_output_and_task():
    assert result_message_hash(TASK_ID, b"a") != result_message_hash(TASK_ID, b"b")
    assert result_message_hash(TASK_ID, b"a") != result_message_hash("0x" + "12" * 32, b"a")
    # Trailing zero bytes are part of the output: the length word keeps them distinct.
    assert result_message_hash(TASK_ID, b"a") != result_message_hash(TASK_ID, b"a\x00")


def test_type_hashes_are_of_the_documented_type_strings():
    assert EIP712_DOMAIN_TYPEHASH.hex() == "8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"
    assert keccak256(b"ECDSACertificate(uint32 referenceTimestamp,bytes32 messageHash)") == (
        ECDSA_CERTIFICATE_TYPEHASH
    )
    assert keccak256(b"BN254Certificate(uint32 referenceTimestamp,bytes32 messageHash)") == (
        BN254_CERTIFICATE_TYPEHASH
    )


def test_domain_separator_matches_the_eip712_specification_example():
    separator = eip712_domain_separator("Ether Mail", "1", 1, "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC")
    assert separator.hex() == MAIL_DOMAIN_SEPARATOR


def test_domain_separator_matches_hand_assembled_words():
    verifier = "0x" + "ab" * 20
    hand = keccak256(
        bytes.fromhex("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f")
        + keccak256(b"EigenLayer")
        + keccak256(b"v1.0.0")
        + bytes(31)
        + b"\x01"
        + bytes(12)
        + b"\xab" * 20
    )
    assert eip712_domain_separator("EigenLayer", "v1.0.0", 1, verifier) == hand
    assert eip712_domain_separator("EigenLayer", "v1.0.0", 2, verifier) != hand


def test_ecdsa_certificate_digest_matches_hand_assembled_bytes():
    separator = b"\x5a" * 32
    message_hash = b"\x77" * 32
    struct_hash = keccak256(
        keccak256(b"ECDSACertificate(uint32 referenceTimestamp,bytes32 messageHash)")
        + bytes(28)
        + b"\x00\x00\x01\x00"
        + message_hash
    )
    expected = keccak256(b"\x19\x01" + separator + struct_hash)
    assert ecdsa_certificate_digest(separator, 256, message_hash) == expected
    assert ecdsa_certificate_digest(b"\x5b" * 32, 256, message_hash) != expected
    assert ecdsa_certificate_digest(separator, 257, message_hash) != expected


def test_bn254_certificate_digest_matches_hand_assembled_bytes():
    message_hash = b"\x77" * 32
    expected = keccak256(
        keccak256(b"BN254Certificate(uint32 referenceTimestamp,bytes32 messageHash)")
        + bytes(28)
        + b"\x00\x00\x01\x00"
        + message_hash
    )
    assert bn254_certificate_digest(256, message_hash) == expected


def test_certificate_digests_validate_their_inputs():
    with pytest.raises(ValueError, match="reference timestamp"):
        bn254_certificate_digest(2**32, bytes(32))
    with pytest.raises(ValueError, match="message hash"):
        ecdsa_certificate_digest(bytes(32), 1, b"short")
    with pytest.raises(ValueError, match="domain separator"):
        ecdsa_certificate_digest(b"short", 1, bytes(32))


def test_auth_message_is_the_documented_160_bytes():
    result_signature = b"\x99" * 65
    message = auth_message(TASK_ID, AVS, EXECUTOR, 5, result_signature)
    expected = (
        b"\x11" * 32
        + bytes(12) + b"\x22" * 20
        + bytes(12) + b"\x33" * 20
        + bytes(31) + b"\x05"
        + keccak256(result_signature)
    )  # fmt: skip
    assert len(message) == 160
    assert message == expected
    assert auth_digest(TASK_ID, AVS, EXECUTOR, 5, result_signature) == keccak256(expected)


def test_challenge_digest_is_keccak_of_keccak_of_the_utf8_token():
    token = "ab" * 32
    assert challenge_digest(token) == keccak256(keccak256(token.encode()))
    assert challenge_digest(token) != keccak256(token.encode())
    # keccak256(keccak256("")): keccak256("") is c5d24601...5d85a470
    assert challenge_digest("") == keccak256(
        bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    )
