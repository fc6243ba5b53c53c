"""ParseQuantity's and RE2's edges: suffixes, int32 exponents, the int64 fast path, the binary cap."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.kube_formats import (
    MAX_INT64,
    QuantityError,
    dns1035_label_errors,
    dns1123_subdomain_errors,
    parse_quantity,
    re2,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1n", "1e-9"),
        ("1u", "1e-6"),
        ("1m", "1e-3"),
        ("1k", "1e3"),
        ("1M", "1e6"),
        ("1G", "1e9"),
        ("1T", "1e12"),
        ("1P", "1e15"),
        ("1E", "1e18"),
        ("1Ki", "1024"),
        ("1Mi", str(2**20)),
        ("1Gi", str(2**30)),
        ("1Ti", str(2**40)),
        ("1Pi", str(2**50)),
        ("1E3", "1000"),  # an upper-case exponent, as ParseQuantity reads it
        ("1e+3", "1000"),
    ],
)
def test_each_suffix_scales_the_number(text: str, value: str) -> None:
    assert parse_quantity(text).value == Decimal(value)


@pytest.mark.parametrize(
    ("text", "value", "integer"),
    [
        # Go keeps the exponent as an int32: 2^32 wraps to 0 (the API server accepts 1e4294967296 as 1
        # where a quantity must be at most 2^63-1), 2^32+1 to 1.
        ("1e4294967296", "1", 1),
        ("1e4294967297", "10", 10),
        ("1e-4294967295", "10", 10),
        # The fast int64 path takes 18 digits at most; beyond, a big decimal that is no integer.
        ("123456789012345678", "123456789012345678", 123456789012345678),
        ("1234567890123456789", "1234567890123456789", None),
        # Leading zeros do not count towards those digits.
        ("0000000000000000001", "1", 1),
        # A binary suffix leaves fewer digits: 11 with Ki, 12 are held as a big decimal.
        ("12345678901Ki", str(12345678901 * 1024), 12345678901 * 1024),
        ("123456789012Ki", str(123456789012 * 1024), None),
        ("0.0", "0", None),  # held at scale -1: not an integer on the API server
        ("-8Ei", str(-MAX_INT64), None),  # capped at 2^63-1, the sign kept
        ("8Ei", str(MAX_INT64), None),
        ("-1.5Gi", "-1610612736", None),
        ("-1e400", "-1e400", None),
    ],
)
def test_quantities_at_the_edges_of_parse_quantity(text: str, value: str, integer: int | None) -> None:
    quantity = parse_quantity(text)
    assert (quantity.value, quantity.integer) == (Decimal(value), integer)


@pytest.mark.parametrize("text", ["1e9223372036854775808", "1e-9223372036854775809", "1,5", "1.5,", "1Kb"])
def test_what_parse_quantity_refuses_at_the_edges(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("^[$]+$", "$$", True),  # `$` in a class is the character
        ("^[a$]$", "a", True),
        (r"^\d+$", "١٢", False),  # RE2's \d and \w are ASCII
        (r"^\w+$", "é", False),
        (r"^\w+$", "a_1", True),
    ],
)
def test_re2_classes(pattern: str, text: str, found: bool) -> None:
    assert (re2(pattern).search(text) is not None) is found


@pytest.mark.parametrize("pattern", [r"[\S]", r"a\Z"])
def test_re2_escapes_python_would_read_otherwise_are_refused(pattern: str) -> None:
    with pytest.raises(re.error):
        re2(pattern)


@pytest.mark.parametrize(
    ("check", "value", "valid"),
    [
        (dns1035_label_errors, "a-", False),
        (dns1035_label_errors, "a-0", True),
        (dns1123_subdomain_errors, "a_b", False),
        (dns1123_subdomain_errors, "a-b.c", True),
        (dns1123_subdomain_errors, "ab", True),
    ],
)
def test_dns_names_at_their_last_characters(check, value: str, valid: bool) -> None:
    assert (check(value) == []) is valid, check(value)
