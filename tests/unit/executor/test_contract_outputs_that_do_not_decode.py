"""Return data that does not decode as a function's outputs is an AbiDecodingError, invalid UTF-8 included."""

from __future__ import annotations

import pytest
from eth_abi import encode
from hourglass_executor.chain.contracts import AbiDecodingError, function

pytestmark = pytest.mark.unit

GET_OPERATOR_SOCKET = function("TaskAVSRegistrar", "getOperatorSocket")


def test_a_socket_string_of_invalid_utf8_is_a_decoding_error() -> None:
    valid = encode(["string"], ["10.0.0.1:9000"])
    assert GET_OPERATOR_SOCKET.decode(valid) == ("10.0.0.1:9000",)
    invalid = encode(["bytes"], [b"\xff\xfe:9000"])  # a string's encoding is that of its bytes
    with pytest.raises(AbiDecodingError, match=r"do not decode as \(string\)"):
        GET_OPERATOR_SOCKET.decode(invalid)


def test_truncated_return_data_is_a_decoding_error() -> None:
    with pytest.raises(AbiDecodingError, match="31 bytes do not decode"):
        GET_OPERATOR_SOCKET.decode(bytes(31))
