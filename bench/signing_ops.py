"""Per-operation times of the executor's signing primitives (part of the executor benchmark): BN254
sign / verify (standard hash-to-G1) and sign_solidity / verify_solidity through the native library,
ECDSA sign / recover (coincurve); and, for comparison, BN254 sign_solidity / verify_solidity in pure
Python with py_ecc (optimized_bn128; a dev/bench dependency only, never used by the executor).

    .venv/bin/python -m bench.signing_ops            # the table alone
    .venv/bin/python -m bench.executor_bench         # includes it (JSON key "signing_ops")

Targets (issue 10): BN254 verify <= 5 ms, sign <= 2 ms per operation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hourglass_executor.signing import bn254, keccak256  # noqa: E402
from hourglass_executor.signing.ecdsa import EcdsaSigner, recover_address_bytes  # noqa: E402

BN254_KEY = keccak256(b"bench bn254 key")[1:].rjust(32, b"\x00")  # below the group order
ECDSA_KEY = keccak256(b"bench ecdsa key")
MESSAGE_HASH = keccak256(b"a certificate digest")
TARGETS_MS = {
    "bn254 sign": 2.0,
    "bn254 verify": 5.0,
    "bn254 sign_solidity": 2.0,
    "bn254 verify_solidity": 5.0,
}


def per_op_ms(operation: Callable[[], object], seconds: float, min_runs: int = 3) -> dict[str, float]:
    """Runs `operation` for about `seconds` (at least `min_runs` times); mean and p50 in milliseconds."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < deadline:
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return {
        "runs": len(times),
        "mean_ms": round(statistics.fmean(times) * 1e3, 4),
        "p50_ms": round(statistics.median(times) * 1e3, 4),
    }


def native_operations() -> dict[str, Callable[[], object]]:
    public_key = bn254.public_key_g2(BN254_KEY)
    signature = bn254.sign(BN254_KEY, MESSAGE_HASH)
    solidity_signature = bn254.sign_solidity(BN254_KEY, MESSAGE_HASH)
    assert bn254.verify(public_key, MESSAGE_HASH, signature)
    assert bn254.verify_solidity(public_key, MESSAGE_HASH, solidity_signature)
    ecdsa = EcdsaSigner(ECDSA_KEY)
    ecdsa_signature = ecdsa.sign_digest(MESSAGE_HASH)
    return {
        "bn254 sign": lambda: bn254.sign(BN254_KEY, MESSAGE_HASH),
        "bn254 verify": lambda: bn254.verify(public_key, MESSAGE_HASH, signature),
        "bn254 sign_solidity": lambda: bn254.sign_solidity(BN254_KEY, MESSAGE_HASH),
        "bn254 verify_solidity": lambda: bn254.verify_solidity(public_key, MESSAGE_HASH, solidity_signature),
        "ecdsa sign": lambda: ecdsa.sign_digest(MESSAGE_HASH),
        "ecdsa recover": lambda: recover_address_bytes(MESSAGE_HASH, ecdsa_signature),
    }


def py_ecc_operations() -> dict[str, Callable[[], object]] | None:
    """The Solidity-compatible pair in pure Python (py_ecc has no BN254 SvdW hash-to-G1), checked
    against the native library's bytes first."""
    try:
        from py_ecc import optimized_bn128 as curve
    except ImportError:
        return None
    p = bn254.FIELD_MODULUS
    scalar = int.from_bytes(BN254_KEY, "big")

    def hash_to_g1(message_hash: bytes):
        x = int.from_bytes(message_hash, "big") % p
        while True:
            beta = (pow(x, 3, p) + 3) % p
            y = pow(beta, (p + 1) // 4, p)
            if y * y % p == beta:
                return (curve.FQ(x), curve.FQ(y), curve.FQ.one())
            x = (x + 1) % p

    def encode(point: Any) -> bytes:
        x, y = curve.normalize(point)
        return int(x).to_bytes(32, "big") + int(y).to_bytes(32, "big")

    def sign():
        return curve.multiply(hash_to_g1(MESSAGE_HASH), scalar)

    public_key = curve.multiply(curve.G2, scalar)
    signature = sign()
    native = bn254.sign_solidity(BN254_KEY, MESSAGE_HASH)
    assert encode(signature) == native, "py_ecc disagrees with the native library"

    def verify():
        # e(signature, G2) · e(-H(m), public key) == 1, with one final exponentiation.
        product = curve.pairing(curve.G2, signature, final_exponentiate=False) * curve.pairing(
            public_key, curve.neg(hash_to_g1(MESSAGE_HASH)), final_exponentiate=False
        )
        return curve.final_exponentiate(product) == curve.FQ12.one()

    assert verify()
    return {"bn254 sign_solidity": sign, "bn254 verify_solidity": verify}


def measure(seconds: float = 1.0, py_ecc_seconds: float = 2.0) -> dict[str, Any]:
    """{"native": {op: timing}, "py_ecc": {op: timing} | None, "load_average": [1, 5, 15 min]}."""
    results: dict[str, Any] = {"load_average_before": [round(v, 2) for v in os.getloadavg()]}
    results["native"] = {name: per_op_ms(op, seconds) for name, op in native_operations().items()}
    slow = py_ecc_operations() if py_ecc_seconds > 0 else None
    results["py_ecc"] = (
        {name: per_op_ms(op, py_ecc_seconds, min_runs=2) for name, op in slow.items()} if slow else None
    )
    results["targets_ms"] = TARGETS_MS
    results["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return results


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    py_ecc = results.get("py_ecc") or {}
    out = [("operation", "native (mean / p50)", "py_ecc (mean)", "target")]
    for name, timing in results["native"].items():
        slow = py_ecc.get(name)
        target = TARGETS_MS.get(name)
        out.append(
            (
                name,
                f"{timing['mean_ms']:.3f} / {timing['p50_ms']:.3f} ms",
                f"{slow['mean_ms']:.0f} ms ({slow['runs']} runs)" if slow else "",
                f"<= {target:g} ms" if target else "",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.executor_bench import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per native operation (default 1)")
    parser.add_argument(
        "--py-ecc-seconds", type=float, default=2.0, help="per py_ecc operation; 0 skips py_ecc (default 2)"
    )
    args = parser.parse_args(argv)
    results = measure(args.seconds, args.py_ecc_seconds)
    print(table(rows(results)))
    print(f"(load average {results['load_average_before']} before, {results['load_average_after']} after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
