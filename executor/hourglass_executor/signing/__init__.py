"""Signing primitives for the executor: keccak256, addresses, ECDSA and BN254 keys (`bn254`), keystores,
and the §5 byte layouts."""

from .address import addresses_equal, is_address, parse_address, to_checksum_address, to_lower_address
from .bn254 import Bn254Error, Bn254Signer
from .ecdsa import EcdsaSigner, SignatureError, recover_address, signed_by
from .keccak import keccak256
from .signer import BN254, CURVE_TYPES, ECDSA, CurveType, Signer, Signers

__all__ = [
    "BN254",
    "CURVE_TYPES",
    "ECDSA",
    "Bn254Error",
    "Bn254Signer",
    "CurveType",
    "EcdsaSigner",
    "SignatureError",
    "Signer",
    "Signers",
    "addresses_equal",
    "is_address",
    "keccak256",
    "parse_address",
    "recover_address",
    "signed_by",
    "to_checksum_address",
    "to_lower_address",
]
