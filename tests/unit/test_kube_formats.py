"""Kubernetes' value formats as the API server checks them (plugins/module_utils/kube_formats.py):
the names of the CEL `format` library at their length bounds and in their prefix/name forms, resource
quantities as resource.ParseQuantity reads them (including which ones it holds as whole int64s, what
the CEL quantity library's isInteger() reports), and regular expressions as RE2 reads them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.kube_formats import (
    MAX_INT64,
    QuantityError,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    parse_quantity,
    qualified_name_errors,
    re2,
)

SUBDOMAIN_253 = ".".join(["a" * 63] * 3 + ["b" * 61])


@pytest.mark.parametrize(
    ("check", "value", "valid"),
    [
        (dns1123_label_errors, "a" * 63, True),
        (dns1123_label_errors, "a" * 64, False),
        (dns1123_label_errors, "0-a", True),
        (dns1123_label_errors, "", False),
        (dns1123_label_errors, "a.b", False),
        (dns1123_label_errors, "A", False),
        (dns1123_label_errors, "a-", False),
        (dns1123_label_errors, "a\n", False),
        (dns1035_label_errors, "a" * 63, True),
        (dns1035_label_errors, "a" * 64, False),
        (dns1035_label_errors, "0a", False),
        (dns1123_subdomain_errors, SUBDOMAIN_253, True),
        (dns1123_subdomain_errors, SUBDOMAIN_253 + "b", False),
        (dns1123_subdomain_errors, "a" * 253, True),  # no bound on a label's length here
        (dns1123_subdomain_errors, "a" * 254, False),
        (dns1123_subdomain_errors, "a..b", False),
        (dns1123_subdomain_errors, "a.-b", False),
        (dns1123_subdomain_errors, "", False),
        (qualified_name_errors, "a" * 63, True),
        (qualified_name_errors, "a" * 64, False),
        (qualified_name_errors, "My_Name.v-1", True),
        (qualified_name_errors, "_a", False),
        (qualified_name_errors, "a.", False),
        (qualified_name_errors, "example.com/" + "a" * 63, True),
        (qualified_name_errors, "example.com/" + "a" * 64, False),
        (qualified_name_errors, "a" * 253 + "/x", True),
        (qualified_name_errors, "a" * 254 + "/x", False),
        (qualified_name_errors, "Example.com/x", False),
        (qualified_name_errors, "/x", False),
        (qualified_name_errors, "example.com/", False),
        (qualified_name_errors, "a/b/c", False),
        (qualified_name_errors, "", False),
        (label_value_errors, "", True),
        (label_value_errors, "a" * 63, True),
        (label_value_errors, "a" * 64, False),
        (label_value_errors, "gold_1.a-B", True),
        (label_value_errors, "-a", False),
        (label_value_errors, "a b", False),
        (label_value_errors, "é", False),
    ],
)
def test_each_name_format_at_its_bounds(check, value, valid):
    assert (check(value) == []) is valid, check(value)


def test_a_name_is_measured_in_bytes_as_go_does():
    assert label_value_errors("é" * 32)[0] == "must be no more than 63 characters"


@pytest.mark.parametrize(
    ("text", "value", "integer"),
    [
        ("0", "0", 0),
        ("2", "2", 2),
        ("1.5", "1.5", None),
        ("1500m", "1.5", None),
        ("1000m", "1", None),  # whole, but held at scale -3: isInteger() is false on the API server
        ("1.0", "1", None),
        ("2k", "2000", 2000),
        ("1.5k", "1500", 1500),
        ("1Ki", "1024", 1024),
        ("2Mi", "2097152", 2097152),
        ("1.5Gi", "1610612736", None),  # a binary fraction is held as a big decimal
        ("1Ei", str(2**60), None),
        ("16Ei", str(MAX_INT64), None),  # binary suffixes are capped
        ("10E", "1e19", None),  # decimal ones are not
        ("9223372036854775808", str(2**63), None),
        ("1e3", "1000", 1000),
        ("9e18", "9e18", 9 * 10**18),
        ("1e19", "1e19", None),
        ("1e400", "1e400", None),
        ("1e-3", "0.001", None),
        ("0.0000000001", "1e-9", None),  # rounded up to a nano
        ("+1.5", "1.5", None),
        ("-1", "-1", -1),
        ("007", "7", 7),
        ("1.", "1", 1),
        (".5", "0.5", None),
        ("+", "0", 0),
        ("Mi", "0", 0),  # no digits before a suffix: ParseQuantity reads 0
    ],
)
def test_quantities_as_parse_quantity_reads_them(text, value, integer):
    quantity = parse_quantity(text)
    assert (quantity.value, quantity.integer) == (Decimal(value), integer)


@pytest.mark.parametrize(
    "text", ["", "lots", "1.5.5", "1 ", " 1", "200K", "1ki", "1e", "1Ee3", "1e+", "1Mi2", "-.e-10", "1e3Ki"]
)
def test_what_parse_quantity_refuses(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("^abc$", "abc", True),
        ("^abc$", "abc\n", False),  # RE2's $ is the end of the input
        ("abc", "xabcx", True),
        (r"\s", "a b", True),
        (r"\s", "a\vb", False),  # RE2's \s has no vertical tab
        (r"^[^\s{}]+$", "a\vb", True),
        (r"^\S+$", "a\vb", True),
        (r"^[0-9]+\z", "1\n", False),
    ],
)
def test_regular_expressions_as_re2_reads_them(pattern, text, found):
    assert (re2(pattern).search(text) is not None) is found
