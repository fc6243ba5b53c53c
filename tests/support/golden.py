"""The golden vectors hack/golden writes with the upstream Go code (crypto-libs v0.0.4 and
go-ethereum), and the keystores among them that the key-loading tests decrypt."""

from __future__ import annotations

import json

from tests.support.paths import REPO

VECTORS_FILE = REPO / "tests" / "unit" / "executor" / "golden" / "crypto-libs-v0.0.4.json"
VECTORS = json.loads(VECTORS_FILE.read_text())
EIP2335 = {vector["name"]: vector for vector in VECTORS["keystores"]["eip2335"]}
WEB3V3 = {vector["name"]: vector for vector in VECTORS["keystores"]["web3v3"]}
BLS_KEYSTORE = EIP2335["scrypt-light"]  # a BN254 key, EIP-2335
ECDSA_KEYSTORE = WEB3V3["scrypt-light"]  # an ECDSA key, web3 v3
