"""BN254 BLS signatures exactly as the Go executor makes them (crypto-libs v0.0.4 on gnark-crypto).

Byte formats are gnark-crypto's `Marshal`: a private key is a 32-byte big-endian scalar in [1, r-1];
G1 points (public keys, signatures) are 64 bytes X‖Y; G2 points (public keys) are 128 bytes
X.A1‖X.A0‖Y.A1‖Y.A0, all big-endian field elements; the point at infinity is all zeros.

Two hash-to-G1 maps, as in crypto-libs:
- `sign`/`verify`: gnark `HashToG1(message, DST)` (RFC 9380 expand_message_xmd with SHA-256, then the
  Shallue-van de Woestijne map gnark uses for BN254) — what the Go signer's `SignMessage` does with
  the keccak256 digest of its input;
- `sign_solidity`/`verify_solidity`: EigenLayer BN254.sol `hashToG1` (try-and-increment from the
  32-byte hash), what the certificate verifiers check on chain (`SignMessageForSolidity`).

The arithmetic runs in a small native library of this project (executor/native/bn254, gnark-crypto
behind a C API, loaded with ctypes, which releases the GIL during each call): a pairing check takes
about half a millisecond there, against hundreds of milliseconds in pure Python. The library is
loaded on first use from `$HOURGLASS_BN254_LIBRARY`, else from `_native/libhourglass_bn254.so` next
to this file (executor/native/bn254/build.sh puts it there); importing this module never needs it,
so executors that only sign ECDSA run without it. A BN254 call without the library raises
`Bn254LibraryError` saying how to build it. Once loaded, the library's Go runtime does not survive a
`fork()` without `exec` (subprocesses are fine; multiprocessing's "fork" start method is not).

Verification never accepts the point at infinity as a public key (every signature would verify
against it; crypto-libs does accept it). No error message contains key material.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Final

from .signer import BN254, CurveType

DST: Final = b"BLS_SIG_BN254G1_XMD:SHA-256_SSWU_RO_NUL_"
FIELD_MODULUS: Final = 21888242871839275222246405745257275088696311157297823662689037894645226208583
GROUP_ORDER: Final = 21888242871839275222246405745257275088548364400416034343698204186575808495617
PRIVATE_KEY_SIZE: Final = 32
HASH_SIZE: Final = 32
G1_SIZE: Final = 64
G2_SIZE: Final = 128
LIBRARY_ENV: Final = "HOURGLASS_BN254_LIBRARY"
LIBRARY_NAME: Final = "libhourglass_bn254.so"
BUNDLED_LIBRARY: Final = Path(__file__).parent / "_native" / LIBRARY_NAME
BUILD_HINT: Final = (
    "build it with executor/native/bn254/build.sh (`make venv` runs it; needs Go and gcc), "
    f"or point {LIBRARY_ENV} at a built {LIBRARY_NAME}"
)
_ABI_VERSION = 1  # hg_bn254_abi_version() of the library this module was written for

# Negative results of the library's functions (bn254.go).
_ERRORS = {
    -1: "the private key must be a 32-byte big-endian integer between 1 and the BN254 group order - 1",
    -2: "not a G1 point: expected gnark's 64-byte X‖Y encoding of a point on the BN254 curve",
    -3: "not a G2 point: expected gnark's 128-byte encoding of a point of the BN254 G2 subgroup",
    -4: "hashing the message to G1 failed",
    -5: "nothing to aggregate",
}


class Bn254Error(ValueError):
    """A malformed key, point or hash: wrong length, not on the curve or not in the subgroup."""


class Bn254LibraryError(RuntimeError):
    """The native BN254 library is missing or is not the version this module needs."""


_library: ctypes.CDLL | None = None
_library_lock = threading.Lock()

_BYTES = ctypes.c_char_p
_SIGNATURES = {
    "hg_bn254_abi_version": (),
    "hg_bn254_public_keys": (_BYTES, _BYTES, _BYTES),
    "hg_bn254_sign": (_BYTES, _BYTES, ctypes.c_size_t, _BYTES),
    "hg_bn254_sign_solidity": (_BYTES, _BYTES, _BYTES),
    "hg_bn254_verify": (_BYTES, _BYTES, ctypes.c_size_t, _BYTES),
    "hg_bn254_verify_solidity": (_BYTES, _BYTES, _BYTES),
    "hg_bn254_hash_to_g1": (_BYTES, ctypes.c_size_t, _BYTES),
    "hg_bn254_hash_to_g1_solidity": (_BYTES, _BYTES),
    "hg_bn254_check_g1": (_BYTES,),
    "hg_bn254_check_g2": (_BYTES,),
    "hg_bn254_aggregate_g1": (_BYTES, ctypes.c_size_t, _BYTES),
    "hg_bn254_aggregate_g2": (_BYTES, ctypes.c_size_t, _BYTES),
}


def library_path() -> Path:
    """Where the native library is looked for: `$HOURGLASS_BN254_LIBRARY`, else next to this module."""
    configured = os.environ.get(LIBRARY_ENV)
    return Path(configured) if configured else BUNDLED_LIBRARY


def _load() -> ctypes.CDLL:
    global _library
    if _library is not None:
        return _library
    with _library_lock:
        if _library is None:
            path = library_path()
            if not path.is_file():
                source = f"{LIBRARY_ENV}={path}" if os.environ.get(LIBRARY_ENV) else str(path)
                raise Bn254LibraryError(f"the native BN254 library is missing ({source}): {BUILD_HINT}")
            try:
                # The file checked above, not one dlopen finds by a bare name on its search path.
                library = ctypes.CDLL(str(path.resolve()))
                for name, argtypes in _SIGNATURES.items():
                    function = getattr(library, name)
                    function.argtypes = argtypes
                    function.restype = ctypes.c_int
            except (OSError, AttributeError) as error:
                raise Bn254LibraryError(
                    f"cannot load the native BN254 library {path}: {error}; {BUILD_HINT}"
                ) from None
            version = library.hg_bn254_abi_version()
            if version != _ABI_VERSION:
                raise Bn254LibraryError(
                    f"the native BN254 library {path} has interface version {version}, this executor "
                    f"needs {_ABI_VERSION}: rebuild it ({BUILD_HINT})"
                )
            _library = library
    return _library


def available() -> bool:
    """True when the native library can be loaded (BN254 operations will work)."""
    try:
        _load()
    except Bn254LibraryError:
        return False
    return True


def _bytes(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise Bn254Error(f"{what} must be bytes")
    value = bytes(value)
    if len(value) != size:
        raise Bn254Error(f"{what} must be {size} bytes, got {len(value)}")
    return value


def _message(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise Bn254Error("the message must be bytes")
    return bytes(value)


def _check(result: int) -> int:
    if result < 0:
        raise Bn254Error(_ERRORS.get(result, f"BN254 library error {result}"))
    return result


def public_key_g1(private_key: bytes) -> bytes:
    """The G1 public key ([sk]·G1 generator), 64 bytes."""
    return _public_keys(private_key)[0]


def public_key_g2(private_key: bytes) -> bytes:
    """The G2 public key ([sk]·G2 generator), 128 bytes: what signatures are verified against."""
    return _public_keys(private_key)[1]


def _public_keys(private_key: bytes) -> tuple[bytes, bytes]:
    secret = _bytes(private_key, PRIVATE_KEY_SIZE, "the private key")
    g1, g2 = ctypes.create_string_buffer(G1_SIZE), ctypes.create_string_buffer(G2_SIZE)
    _check(_load().hg_bn254_public_keys(secret, g1, g2))
    return g1.raw, g2.raw


def sign(private_key: bytes, message: bytes) -> bytes:
    """crypto-libs `PrivateKey.Sign(message)`: [sk]·HashToG1(message, DST), 64 bytes."""
    secret = _bytes(private_key, PRIVATE_KEY_SIZE, "the private key")
    message = _message(message)
    out = ctypes.create_string_buffer(G1_SIZE)
    _check(_load().hg_bn254_sign(secret, message, len(message), out))
    return out.raw


def verify(public_key_g2: bytes, message: bytes, signature: bytes) -> bool:
    """crypto-libs `Signature.Verify`: e(signature, G2) == e(HashToG1(message, DST), public key).
    Bn254Error when the key or the signature is not an encoded point."""
    key = _bytes(public_key_g2, G2_SIZE, "the G2 public key")
    message = _message(message)
    signature = _bytes(signature, G1_SIZE, "the signature")
    return _check(_load().hg_bn254_verify(key, message, len(message), signature)) == 1


def sign_solidity(private_key: bytes, message_hash: bytes) -> bytes:
    """crypto-libs `SignSolidityCompatible`: [sk]·BN254.sol hashToG1(message_hash), 64 bytes."""
    secret = _bytes(private_key, PRIVATE_KEY_SIZE, "the private key")
    digest = _bytes(message_hash, HASH_SIZE, "the message hash")
    out = ctypes.create_string_buffer(G1_SIZE)
    _check(_load().hg_bn254_sign_solidity(secret, digest, out))
    return out.raw


def verify_solidity(public_key_g2: bytes, message_hash: bytes, signature: bytes) -> bool:
    """crypto-libs `VerifySolidityCompatible`: the check the on-chain certificate verifier makes."""
    key = _bytes(public_key_g2, G2_SIZE, "the G2 public key")
    digest = _bytes(message_hash, HASH_SIZE, "the message hash")
    signature = _bytes(signature, G1_SIZE, "the signature")
    return _check(_load().hg_bn254_verify_solidity(key, digest, signature)) == 1


def hash_to_g1(message: bytes) -> bytes:
    """gnark `HashToG1(message, DST)`, the point `sign` multiplies (64 bytes)."""
    message = _message(message)
    out = ctypes.create_string_buffer(G1_SIZE)
    _check(_load().hg_bn254_hash_to_g1(message, len(message), out))
    return out.raw


def hash_to_g1_solidity(message_hash: bytes) -> bytes:
    """BN254.sol `hashToG1(message_hash)`, the point `sign_solidity` multiplies (64 bytes)."""
    digest = _bytes(message_hash, HASH_SIZE, "the message hash")
    out = ctypes.create_string_buffer(G1_SIZE)
    _check(_load().hg_bn254_hash_to_g1_solidity(digest, out))
    return out.raw


def _aggregate(points: Iterable[bytes], size: int, function: str, what: str) -> bytes:
    items = [_bytes(point, size, f"{what} {i}") for i, point in enumerate(points)]
    if not items:
        raise Bn254Error(f"nothing to aggregate: no {what}s")
    out = ctypes.create_string_buffer(size)
    _check(getattr(_load(), function)(b"".join(items), len(items), out))
    return out.raw


def aggregate_g1(points: Iterable[bytes]) -> bytes:
    """The sum of G1 points (signatures or G1 public keys), 64 bytes."""
    return _aggregate(points, G1_SIZE, "hg_bn254_aggregate_g1", "G1 point")


def aggregate_g2(points: Iterable[bytes]) -> bytes:
    """The sum of G2 points (public keys), 128 bytes."""
    return _aggregate(points, G2_SIZE, "hg_bn254_aggregate_g2", "G2 point")


def check_g1(point: bytes) -> bytes:
    """`point` when it encodes a G1 point; Bn254Error otherwise."""
    point = _bytes(point, G1_SIZE, "the G1 point")
    _check(_load().hg_bn254_check_g1(point))
    return point


def check_g2(point: bytes) -> bytes:
    """`point` when it encodes a point of the G2 subgroup; Bn254Error otherwise."""
    point = _bytes(point, G2_SIZE, "the G2 point")
    _check(_load().hg_bn254_check_g2(point))
    return point


# --- Solidity / ABI views -----------------------------------------------------------------------
# EigenLayer's BN254.G1Point{X, Y} and G2Point{X[2], Y[2]} with X[0], Y[0] the imaginary parts (A1):
# the order of KeyRegistrar.getBN254Key and the certificate verifiers. These conversions check that
# every coordinate is a field element; whether the point is on the curve (and, for G2, in the
# subgroup) is checked by the library when the point is used, or by check_g1/check_g2.


def _words(point: bytes) -> list[int]:
    return [int.from_bytes(point[i : i + 32], "big") for i in range(0, len(point), 32)]


def _field_elements(values: Sequence[object], what: str) -> bytes:
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < FIELD_MODULUS:
            raise Bn254Error(f"{what}: every coordinate must be an integer in [0, p) (the BN254 field)")
        out.append(value.to_bytes(32, "big"))
    return b"".join(out)


def g1_to_solidity(point: bytes) -> tuple[int, int]:
    """(X, Y) of a 64-byte G1 point."""
    point = _bytes(point, G1_SIZE, "the G1 point")
    x, y = _words(point)
    if x >= FIELD_MODULUS or y >= FIELD_MODULUS:
        raise Bn254Error("the G1 point has a coordinate outside the BN254 field")
    return x, y


def g1_from_solidity(x: int, y: int) -> bytes:
    """The 64-byte G1 encoding of BN254.G1Point(X, Y)."""
    return _field_elements((x, y), "the G1 point")


def g2_to_solidity(point: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """((X[0], X[1]), (Y[0], Y[1])) of a 128-byte G2 point, X[0]/Y[0] the imaginary parts."""
    point = _bytes(point, G2_SIZE, "the G2 point")
    x1, x0, y1, y0 = _words(point)
    if max(x1, x0, y1, y0) >= FIELD_MODULUS:
        raise Bn254Error("the G2 point has a coordinate outside the BN254 field")
    return (x1, x0), (y1, y0)


def g2_from_solidity(x: Sequence[int], y: Sequence[int]) -> bytes:
    """The 128-byte G2 encoding of BN254.G2Point(X[2], Y[2]) (X[0], Y[0] the imaginary parts)."""
    if len(x) != 2 or len(y) != 2:
        raise Bn254Error("the G2 point: X and Y must have two coordinates each")
    return _field_elements((x[0], x[1], y[0], y[1]), "the G2 point")


class Bn254Signer:
    """Signs with an in-memory BN254 private key. The key never appears in reprs or errors.

    Raises Bn254Error for a bad key and Bn254LibraryError when the native library is missing.
    """

    __slots__ = ("_key", "_public_key_g1", "_public_key_g2")
    curve: ClassVar[CurveType] = BN254

    def __init__(self, private_key: bytes) -> None:
        self._key = _bytes(private_key, PRIVATE_KEY_SIZE, "the private key")
        self._public_key_g1, self._public_key_g2 = _public_keys(self._key)

    @property
    def public_key_g1(self) -> bytes:
        return self._public_key_g1

    @property
    def public_key_g2(self) -> bytes:
        return self._public_key_g2

    def sign_digest(self, digest: bytes) -> bytes:
        """What the Go signer's `SignMessage(data)` returns when keccak256(data) is `digest`."""
        return sign(self._key, _bytes(digest, HASH_SIZE, "the digest"))

    def sign_certificate_digest(self, digest: bytes) -> bytes:
        """What a BN254 certificate verifier checks: the Solidity-compatible signature of `digest`."""
        return sign_solidity(self._key, digest)

    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's `sign_digest` signature over `digest` (False when it is
        not, or is no encoded point)."""
        try:
            return verify(self._public_key_g2, _bytes(digest, HASH_SIZE, "the digest"), signature)
        except Bn254Error:
            return False

    def __repr__(self) -> str:
        return f"Bn254Signer(public_key_g1=0x{self._public_key_g1.hex()})"
