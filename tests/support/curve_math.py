"""Textbook arithmetic on curves y² = x³ + b over a prime field (secp256k1, BN254 G1): an
independent reference the signing tests check the libraries against. Points are (x, y) tuples,
None is the point at infinity. Slow and not constant-time: for tests only."""

from __future__ import annotations

Point = tuple[int, int] | None


def add(a: Point, b: Point, p: int) -> Point:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % p == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, p) % p
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, p) % p
    x = (slope * slope - a[0] - b[0]) % p
    return x, (slope * (a[0] - x) - a[1]) % p


def multiply(point: Point, k: int, p: int) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = add(result, point, p)
        point = add(point, point, p)
        k >>= 1
    return result
