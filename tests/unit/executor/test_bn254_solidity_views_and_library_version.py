"""BN254 Solidity views check every coordinate and shape; another library interface version is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hourglass_executor.signing import bn254

pytestmark = pytest.mark.unit

P = bn254.FIELD_MODULUS
# The G2 generator in gnark's encoding X.A1‖X.A0‖Y.A1‖Y.A0 (EIP-197's generator).
G2_X0 = 0x1800DEEF121F1E76426A00665E5C4479674322D4F75EDADD46DEBD5CD992F6ED
G2_X1 = 0x198E9393920D483A7260BFB731FB5D25F1AA493335A9E71297E485B7AEF312C2
G2_Y0 = 0x12C85EA5DB8C6DEB4AAB71808DCB408FE3D1E7690C43D37B4CE6CC0166FA7DAA
G2_Y1 = 0x090689D0585FF075EC9E99AD690C3395BC4B313370B38EF355ACDADCD122975B


def _g2(x1: int, x0: int, y1: int, y0: int) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in (x1, x0, y1, y0))


@pytest.mark.parametrize("position", range(4))
def test_g2_to_solidity_refuses_any_coordinate_outside_the_field(position: int) -> None:
    words = [G2_X1, G2_X0, G2_Y1, G2_Y0]
    assert bn254.g2_to_solidity(_g2(*words)) == ((G2_X1, G2_X0), (G2_Y1, G2_Y0))
    words[position] = P
    with pytest.raises(bn254.Bn254Error, match="outside the BN254 field"):
        bn254.g2_to_solidity(_g2(*words))


@pytest.mark.parametrize(
    ("x", "y"),
    [((G2_X1, G2_X0), (G2_Y1,)), ((G2_X1, G2_X0), (G2_Y1, G2_Y0, 0)), ((G2_X1,), (G2_Y1, G2_Y0))],
)
def test_g2_from_solidity_needs_two_coordinates_in_x_and_in_y(x: tuple[int, ...], y: tuple[int, ...]) -> None:
    with pytest.raises(bn254.Bn254Error, match="X and Y must have two coordinates each"):
        bn254.g2_from_solidity(x, y)


class _FakeFunction:
    def __init__(self, result: int) -> None:
        self.result = result
        self.argtypes: Any = None
        self.restype: Any = None

    def __call__(self, *args: Any) -> int:
        return self.result


class _FakeLibrary:
    def __init__(self, version: int) -> None:
        for name in bn254._SIGNATURES:
            setattr(self, name, _FakeFunction(version if name == "hg_bn254_abi_version" else -4))


@pytest.mark.parametrize("version", [0, 2])
def test_a_library_of_another_interface_version_is_refused(
    version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / bn254.LIBRARY_NAME
    library.write_bytes(b"stand-in")
    monkeypatch.setenv(bn254.LIBRARY_ENV, str(library))
    monkeypatch.setattr(bn254, "_library", None)
    monkeypatch.setattr(bn254.ctypes, "CDLL", lambda path: _FakeLibrary(version))
    with pytest.raises(
        bn254.Bn254LibraryError, match=f"has interface version {version}, this executor needs 1"
    ):
        bn254.hash_to_g1(b"message")
    assert not bn254.available()
