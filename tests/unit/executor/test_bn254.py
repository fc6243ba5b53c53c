"""BN254 signatures through the native library: keys, both hash-to-G1 maps, sign/verify, aggregation,
the Solidity views, error handling, and the executor without the library.

The byte-for-byte comparison with crypto-libs is test_golden_vectors.py; here an independent
pure-Python G1 (affine arithmetic, the BN254.sol try-and-increment) checks the library's results.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from hourglass_executor.signing import bn254
from hourglass_executor.signing.bn254 import Bn254Error, Bn254LibraryError, Bn254Signer
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.signer import Signer

from tests.support import curve_math
from tests.support.paths import REPO

pytestmark = pytest.mark.unit

P, R = bn254.FIELD_MODULUS, bn254.GROUP_ORDER
# EIP-197's G2 generator: X = X1·i + X0, Y = Y1·i + Y0.
G2_X1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634
G2_X0 = 10857046999023057135944570762232829481370756359578518086990519993285655852781
G2_Y1 = 4082367875863433681332203403145435568316851327593401208105741076214120093531
G2_Y0 = 8495653923123431417604973247489272438418190587263600148770280649306958101930

SK_A = bytes.fromhex("1f2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f001")
SK_B = (123456789).to_bytes(32, "big")


def scalar(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture(scope="module", autouse=True)
def native_library():
    if not bn254.available():
        pytest.fail(f"the native BN254 library is not built: {bn254.BUILD_HINT}")


# --- an independent affine G1 (y^2 = x^3 + 3 over F_p) ---------------------------------------------

G1 = (1, 2)


def g1_mul(point, k):
    return curve_math.multiply(point, k, P)


def encode(point) -> bytes:
    return bytes(64) if point is None else point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def decode(data: bytes):
    x, y = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big")
    return None if x == y == 0 else (x, y)


def solidity_hash_to_g1(message_hash: bytes):
    """BN254.sol hashToG1: x = hash mod p, increment until x^3 + 3 has the root beta^((p+1)/4)."""
    x = int.from_bytes(message_hash, "big") % P
    while True:
        beta = (pow(x, 3, P) + 3) % P
        y = pow(beta, (P + 1) // 4, P)
        if y * y % P == beta:
            return x, y
        x = (x + 1) % P


# --- keys --------------------------------------------------------------------------------------------


def test_the_key_one_has_the_generators_as_public_keys():
    assert bn254.g1_to_solidity(bn254.public_key_g1(scalar(1))) == (1, 2)
    assert bn254.g2_to_solidity(bn254.public_key_g2(scalar(1))) == ((G2_X1, G2_X0), (G2_Y1, G2_Y0))
    assert bn254.public_key_g2(scalar(1)) == b"".join(
        v.to_bytes(32, "big") for v in (G2_X1, G2_X0, G2_Y1, G2_Y0)
    )


@pytest.mark.parametrize("k", [2, 3, 0xDEADBEEF, R - 1, int.from_bytes(SK_A, "big")])
def test_the_g1_public_key_is_the_scalar_times_the_generator(k):
    assert bn254.public_key_g1(scalar(k)) == encode(g1_mul(G1, k))


def test_public_keys_add_like_their_scalars():
    a, b = int.from_bytes(SK_A, "big"), int.from_bytes(SK_B, "big")
    total = scalar((a + b) % R)
    assert bn254.aggregate_g1([bn254.public_key_g1(SK_A), bn254.public_key_g1(SK_B)]) == bn254.public_key_g1(
        total
    )
    assert bn254.aggregate_g2([bn254.public_key_g2(SK_A), bn254.public_key_g2(SK_B)]) == bn254.public_key_g2(
        total
    )


@pytest.mark.parametrize("k", [0, R, R + 1, 2**256 - 1])
def test_a_private_key_outside_1_to_r_minus_1_is_refused(k):
    with pytest.raises(Bn254Error, match="between 1 and the BN254 group order"):
        bn254.public_key_g2(scalar(k))
    with pytest.raises(Bn254Error, match="between 1 and the BN254 group order"):
        bn254.sign(scalar(k), b"message")


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33), "11" * 32, None])
def test_a_private_key_must_be_32_bytes(key):
    with pytest.raises(Bn254Error, match="private key must be"):
        bn254.sign(key, b"m")


# --- the two hash-to-G1 maps and signatures ----------------------------------------------------------


@pytest.mark.parametrize(
    "message_hash",
    [bytes(32), b"\xff" * 32, keccak256(b"hourglass"), (P + 5).to_bytes(32, "big")],
    ids=["zero", "all-ones", "keccak", "above-p"],
)
def test_the_solidity_hash_to_g1_is_bn254_sol_try_and_increment(message_hash):
    assert bn254.hash_to_g1_solidity(message_hash) == encode(solidity_hash_to_g1(message_hash))


def test_a_solidity_signature_is_the_key_times_the_solidity_hash():
    message_hash = keccak256(b"certificate")
    expected = g1_mul(solidity_hash_to_g1(message_hash), int.from_bytes(SK_A, "big"))
    assert bn254.sign_solidity(SK_A, message_hash) == encode(expected)


def test_a_standard_signature_is_the_key_times_the_standard_hash():
    message = b"task submission digest"
    point = decode(bn254.hash_to_g1(message))
    assert point is not None and point != solidity_hash_to_g1(keccak256(message))
    assert (point[1] ** 2 - point[0] ** 3 - 3) % P == 0
    assert bn254.sign(SK_A, message) == encode(g1_mul(point, int.from_bytes(SK_A, "big")))


def test_hash_to_g1_depends_on_every_message_byte():
    assert bn254.hash_to_g1(b"") != bn254.hash_to_g1(b"\x00") != bn254.hash_to_g1(b"\x00\x00")


@pytest.mark.parametrize("message", [b"", b"a", bytes(32), os.urandom(200)])
def test_a_signature_verifies_for_its_key_and_message_only(message):
    public_key = bn254.public_key_g2(SK_A)
    signature = bn254.sign(SK_A, message)
    assert bn254.verify(public_key, message, signature)
    assert not bn254.verify(public_key, message + b"x", signature)
    assert not bn254.verify(bn254.public_key_g2(SK_B), message, signature)
    assert not bn254.verify(public_key, message, bn254.sign(SK_B, message))


def test_the_two_hash_maps_are_not_interchangeable():
    public_key, digest = bn254.public_key_g2(SK_A), keccak256(b"x")
    solidity = bn254.sign_solidity(SK_A, digest)
    standard = bn254.sign(SK_A, digest)
    assert bn254.verify_solidity(public_key, digest, solidity)
    assert not bn254.verify_solidity(public_key, digest, standard)
    assert not bn254.verify(public_key, digest, solidity)
    assert bn254.verify(public_key, digest, standard)


def test_signatures_are_deterministic():
    assert bn254.sign(SK_A, b"m") == bn254.sign(SK_A, b"m")


def test_aggregated_signatures_verify_against_the_aggregated_key():
    digest = keccak256(b"one message, two operators")
    signature = bn254.aggregate_g1([bn254.sign_solidity(SK_A, digest), bn254.sign_solidity(SK_B, digest)])
    key = bn254.aggregate_g2([bn254.public_key_g2(SK_A), bn254.public_key_g2(SK_B)])
    assert bn254.verify_solidity(key, digest, signature)
    assert not bn254.verify_solidity(bn254.public_key_g2(SK_A), digest, signature)


def test_a_point_and_its_negation_aggregate_to_infinity():
    point = decode(bn254.public_key_g1(SK_A))
    negated = encode((point[0], P - point[1]))
    assert bn254.aggregate_g1([bn254.public_key_g1(SK_A), negated]) == bytes(64)


def test_the_infinity_key_verifies_nothing():
    # e(O, G2) == e(H, O) holds for every message: crypto-libs would accept this pair; we do not.
    assert not bn254.verify(bytes(128), b"m", bytes(64))
    assert not bn254.verify_solidity(bytes(128), bytes(32), bytes(64))


# --- malformed points ---------------------------------------------------------------------------------


def off_curve_g1() -> bytes:
    return (1).to_bytes(32, "big") + (3).to_bytes(32, "big")


def test_a_signature_that_is_not_a_point_is_an_error():
    public_key = bn254.public_key_g2(SK_A)
    with pytest.raises(Bn254Error, match="not a G1 point"):
        bn254.verify(public_key, b"m", off_curve_g1())
    with pytest.raises(Bn254Error, match="not a G1 point"):
        bn254.verify(public_key, b"m", P.to_bytes(32, "big") + (2).to_bytes(32, "big"))  # x not reduced
    with pytest.raises(Bn254Error, match="not a G1 point"):
        bn254.verify(public_key, b"m", b"\x80" + bn254.sign(SK_A, b"m")[1:])  # a compression flag
    with pytest.raises(Bn254Error, match="signature must be 64 bytes, got 63"):
        bn254.verify(public_key, b"m", bytes(63))


def test_a_public_key_that_is_not_in_g2_is_an_error():
    good = bytearray(bn254.public_key_g2(SK_A))
    good[127] ^= 1
    with pytest.raises(Bn254Error, match="not a G2 point"):
        bn254.verify(bytes(good), b"m", bn254.sign(SK_A, b"m"))
    with pytest.raises(Bn254Error, match="not a G2 point"):
        bn254.check_g2(bytes(good))
    with pytest.raises(Bn254Error, match="G2 public key must be 128 bytes"):
        bn254.verify(bytes(64), b"m", bytes(64))


def test_aggregation_refuses_an_empty_list_and_bad_points():
    with pytest.raises(Bn254Error, match="nothing to aggregate"):
        bn254.aggregate_g1([])
    with pytest.raises(Bn254Error, match="not a G1 point"):
        bn254.aggregate_g1([bn254.public_key_g1(SK_A), off_curve_g1()])
    with pytest.raises(Bn254Error, match="G2 point 1 must be 128 bytes"):
        bn254.aggregate_g2([bn254.public_key_g2(SK_A), bytes(64)])


def test_check_g1_accepts_points_and_infinity():
    assert bn254.check_g1(bn254.public_key_g1(SK_A)) == bn254.public_key_g1(SK_A)
    assert bn254.check_g1(bytes(64)) == bytes(64)
    with pytest.raises(Bn254Error):
        bn254.check_g1(off_curve_g1())


# --- the Solidity views -------------------------------------------------------------------------------


def test_solidity_views_round_trip():
    g1, g2 = bn254.public_key_g1(SK_A), bn254.public_key_g2(SK_A)
    assert bn254.g1_from_solidity(*bn254.g1_to_solidity(g1)) == g1
    x, y = bn254.g2_to_solidity(g2)
    assert bn254.g2_from_solidity(list(x), list(y)) == g2
    assert bn254.g2_to_solidity(g2)[0] == (int.from_bytes(g2[:32], "big"), int.from_bytes(g2[32:64], "big"))


@pytest.mark.parametrize("bad", [P, -1, True, "1"])
def test_solidity_coordinates_must_be_field_elements(bad):
    with pytest.raises(Bn254Error, match=r"integer in \[0, p\)"):
        bn254.g1_from_solidity(bad, 2)
    with pytest.raises(Bn254Error, match=r"integer in \[0, p\)"):
        bn254.g2_from_solidity([1, bad], [1, 2])
    with pytest.raises(Bn254Error, match="two coordinates"):
        bn254.g2_from_solidity([1], [1, 2])
    with pytest.raises(Bn254Error, match="outside the BN254 field"):
        bn254.g1_to_solidity(P.to_bytes(32, "big") + bytes(32))


# --- the signer ---------------------------------------------------------------------------------------


def test_the_signer_signs_like_the_go_in_memory_signer():
    signer = Bn254Signer(SK_A)
    assert isinstance(signer, Signer)
    assert signer.curve == "BN254"
    assert signer.public_key_g1 == bn254.public_key_g1(SK_A)
    assert signer.public_key_g2 == bn254.public_key_g2(SK_A)
    digest = keccak256(b"data")
    assert signer.sign_digest(digest) == bn254.sign(SK_A, digest)
    assert signer.sign_certificate_digest(digest) == bn254.sign_solidity(SK_A, digest)
    assert signer.verify_digest(digest, signer.sign_digest(digest))
    assert not signer.verify_digest(digest, signer.sign_certificate_digest(digest))
    assert not signer.verify_digest(digest, bytes(65))
    assert not signer.verify_digest(digest, off_curve_g1())
    with pytest.raises(Bn254Error, match="digest must be 32 bytes"):
        signer.sign_digest(b"short")


def test_the_signer_never_shows_its_key():
    signer = Bn254Signer(SK_A)
    assert SK_A.hex() not in repr(signer)
    with pytest.raises(Bn254Error) as error:
        Bn254Signer(scalar(R))
    assert R.to_bytes(32, "big").hex() not in str(error.value)


# --- without the library ------------------------------------------------------------------------------


def test_a_missing_library_is_a_clear_error_and_importing_still_works(tmp_path):
    """In a fresh interpreter with HOURGLASS_BN254_LIBRARY pointing nowhere: the signing package and
    ECDSA work, and a BN254 call says how to build the library."""
    missing = tmp_path / "missing.so"
    script = (
        "from hourglass_executor.signing import EcdsaSigner, bn254\n"
        "from hourglass_executor.server import components\n"
        "EcdsaSigner('11' * 32).sign_digest(bytes(32))\n"
        "assert not bn254.available()\n"
        "try:\n"
        "    bn254.Bn254Signer(bytes(31) + b'\\x01')\n"
        "except bn254.Bn254LibraryError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, bn254.LIBRARY_ENV: str(missing)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert f"the native BN254 library is missing ({bn254.LIBRARY_ENV}={missing})" in result.stdout
    assert "executor/native/bn254/build.sh" in result.stdout


def test_a_library_that_is_not_ours_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(bn254, "_library", None)
    monkeypatch.setenv(bn254.LIBRARY_ENV, "/lib/x86_64-linux-gnu/libm.so.6")
    with pytest.raises(Bn254LibraryError, match="cannot load the native BN254 library"):
        bn254.sign(SK_A, b"m")
    not_a_library = tmp_path / "libhourglass_bn254.so"
    not_a_library.write_bytes(b"not an ELF file")
    monkeypatch.setenv(bn254.LIBRARY_ENV, str(not_a_library))
    with pytest.raises(Bn254LibraryError, match="cannot load"):
        bn254.sign(SK_A, b"m")


def test_a_library_named_relative_to_the_working_directory_is_the_file_loaded(monkeypatch, tmp_path):
    """dlopen looks a bare name up on its search path, not in the working directory checked first."""
    shutil.copy(bn254.BUNDLED_LIBRARY, tmp_path / "libhourglass_bn254.so")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bn254, "_library", None)
    monkeypatch.setenv(bn254.LIBRARY_ENV, "libhourglass_bn254.so")
    assert len(bn254.sign(SK_A, b"m")) == 64
