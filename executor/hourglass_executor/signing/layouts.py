"""The exact byte layouts the Hourglass signatures cover (upstream contract §5); all hashes keccak256.

Each `*_message` function returns the bytes that are hashed, each `*_digest` the 32-byte digest that
is signed. Malformed inputs raise ValueError naming the field and the rule it breaks.
"""

from __future__ import annotations

from typing import Any

from hourglass_executor.validation import is_task_id

from .address import parse_address
from .keccak import keccak256

WORD = 32

EIP712_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
ECDSA_CERTIFICATE_TYPEHASH = keccak256(b"ECDSACertificate(uint32 referenceTimestamp,bytes32 messageHash)")
BN254_CERTIFICATE_TYPEHASH = keccak256(b"BN254Certificate(uint32 referenceTimestamp,bytes32 messageHash)")


def task_id_bytes(task_id: str) -> bytes:
    """The 32 bytes of a task id, which must be "0x" followed by 64 hex digits (66 characters)."""
    if not is_task_id(task_id):
        raise ValueError(f"task id must be '0x' followed by 64 hex digits (66 characters), got {task_id!r}")
    return bytes.fromhex(task_id[2:])


def uint_word(value: int, bits: int, what: str) -> bytes:
    """A uint<bits> as one big-endian 32-byte ABI word."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise ValueError(f"{what} must be an integer in [0, 2^{bits}), got {value!r}")
    return value.to_bytes(WORD, "big")


def address_word(address: str, what: str) -> bytes:
    """A "0x" address as one 32-byte word, left-padded with zeros."""
    return parse_address(address, what).rjust(WORD, b"\x00")


def bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != WORD:
        raise ValueError(f"{what} must be {WORD} bytes")
    return bytes(value)


def abi_encode_bytes32_bytes(word: bytes, data: bytes) -> bytes:
    """Solidity `abi.encode(bytes32 word, bytes data)`: head word, offset 0x40, length, data zero-padded."""
    data = bytes(data)
    padding = -len(data) % WORD
    return (
        bytes32(word, "bytes32 value")
        + uint_word(2 * WORD, 256, "offset")
        + uint_word(len(data), 256, "length")
        + data
        + b"\x00" * padding
    )


def aggregator_message(
    task_id: str,
    avs_address: str,
    executor_address: str,
    operator_set_id: int,
    reference_timestamp: int,
    task_block_number: int,
    payload: bytes,
) -> bytes:
    """The 224 bytes an aggregator signs (hashed) for `TaskSubmission.signature`, version 1."""
    return b"".join(
        (
            task_id_bytes(task_id),
            address_word(avs_address, "avs address"),
            address_word(executor_address, "executor address"),
            uint_word(operator_set_id, 32, "operator set id"),
            uint_word(reference_timestamp, 32, "reference timestamp"),
            uint_word(task_block_number, 64, "task block number"),
            keccak256(payload),
        )
    )


def aggregator_digest(*fields: Any, **named: Any) -> bytes:
    """keccak256 of `aggregator_message(...)` (same arguments): the digest an aggregator signs."""
    return keccak256(aggregator_message(*fields, **named))


def result_message_hash(task_id: str, output: bytes) -> bytes:
    """`keccak256(abi.encode(bytes32 taskId, bytes output))`, the message a result certificate covers."""
    return keccak256(abi_encode_bytes32_bytes(task_id_bytes(task_id), output))


def eip712_domain_separator(name: str, version: str, chain_id: int, verifying_contract: str) -> bytes:
    """The standard EIP-712 domain separator for EIP712Domain(name, version, chainId, verifyingContract)."""
    return keccak256(
        EIP712_DOMAIN_TYPEHASH
        + keccak256(name.encode("utf-8"))
        + keccak256(version.encode("utf-8"))
        + uint_word(chain_id, 256, "chain id")
        + address_word(verifying_contract, "verifying contract")
    )


def ecdsa_certificate_digest(domain_separator: bytes, reference_timestamp: int, message_hash: bytes) -> bytes:
    """The EIP-712 digest an ECDSA operator signs for a certificate over `message_hash`."""
    struct_hash = keccak256(
        ECDSA_CERTIFICATE_TYPEHASH
        + uint_word(reference_timestamp, 32, "reference timestamp")
        + bytes32(message_hash, "message hash")
    )
    return keccak256(b"\x19\x01" + bytes32(domain_separator, "domain separator") + struct_hash)


def bn254_certificate_digest(reference_timestamp: int, message_hash: bytes) -> bytes:
    """The digest a BN254 operator signs for a certificate over `message_hash` (no EIP-712 domain)."""
    return keccak256(
        BN254_CERTIFICATE_TYPEHASH
        + uint_word(reference_timestamp, 32, "reference timestamp")
        + bytes32(message_hash, "message hash")
    )


def auth_message(
    task_id: str, avs_address: str, operator_address: str, operator_set_id: int, result_signature: bytes
) -> bytes:
    """The 160 bytes (hashed) behind `TaskResult.auth_signature`."""
    return b"".join(
        (
            task_id_bytes(task_id),
            address_word(avs_address, "avs address"),
            address_word(operator_address, "operator address"),
            uint_word(operator_set_id, 32, "operator set id"),
            keccak256(result_signature),
        )
    )


def auth_digest(
    task_id: str, avs_address: str, operator_address: str, operator_set_id: int, result_signature: bytes
) -> bytes:
    return keccak256(auth_message(task_id, avs_address, operator_address, operator_set_id, result_signature))


def challenge_digest(token: str) -> bytes:
    """What a management client signs to prove it holds the executor's key:
    keccak256(keccak256(utf8(token))). Hashed twice: the Go client's `ConstructSignedMessage` returns
    keccak256(token), and its signer's `SignMessage` hashes that again before signing."""
    return keccak256(keccak256(token.encode("utf-8")))
