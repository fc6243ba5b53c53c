"""Kubernetes' own value formats, checked as the API server checks them, for the one-off deploy's
check of a Performer from a file: regular expressions as Go's regexp (RE2) reads them, the names of
the CEL `format` library (DNS-1123 labels and subdomains, DNS-1035 labels, qualified names, label
values: k8s.io/apimachinery's validation) and resource quantities as resource.ParseQuantity reads
them. plugins/module_utils/cel_rules.py calls them for the CRD's CEL rules, structural_schema.py
uses `re2` for the schema's patterns.

A quantity keeps what the CEL quantity library can tell from the API server's representation of it:
`isInteger()` is true only when ParseQuantity held the value as a whole int64 (so `1000m`, `1.0`
and `1Ei` are not integers while `2k` is), and a binary suffix caps a value at 2^63-1 where a
decimal one (`10E`, `1e400`) does not.
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_UP, Context, Decimal
from functools import cache

MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)


class QuantityError(ValueError):
    """A string resource.ParseQuantity refuses."""


# RE2's \s is [\t\n\f\r ], without Python's \v.
_RE2_SPACE = "\\t\\n\\f\\r "


@cache
def re2(pattern: str) -> re.Pattern[str]:
    """`pattern` as Go's regexp (RE2) reads it: `$` and `\\z` end the input (Python's `$` also
    matches before a trailing newline), `\\s` is RE2's, and the classes are ASCII."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
            if char == "s":
                out[-1] = _RE2_SPACE if in_class else f"[{_RE2_SPACE}]"
                continue
            if char == "S" and not in_class:
                out[-1] = f"[^{_RE2_SPACE}]"
                continue
            if char in "SZ":
                raise re.error(f"\\{char} is not supported here")
            if char == "z":
                char = "Z"
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out), re.ASCII)


_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_DNS1123_SUBDOMAIN_RE = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_DNS1035_LABEL_RE = re.compile("[a-z]([-a-z0-9]*[a-z0-9])?")
_NAME_PART_RE = re.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _too_long(value: str, limit: int) -> list[str]:
    # Go measures bytes.
    return [f"must be no more than {limit} characters"] if len(value.encode()) > limit else []


def dns1123_label_errors(value: str) -> list[str]:
    errors = _too_long(value, 63)
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append("a lowercase RFC 1123 label must consist of lower case alphanumerics or '-'")
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = _too_long(value, 253)
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
        )
    return errors


def dns1035_label_errors(value: str) -> list[str]:
    errors = _too_long(value, 63)
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errors.append("a DNS-1035 label must consist of lower case alphanumeric characters or '-'")
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """A label key: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63
    alphanumerics, '-', '_' or '.', beginning and ending with an alphanumeric."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name must have at most one '/'"]
    errors = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors += [f"prefix part {error}" for error in dns1123_subdomain_errors(prefix)]
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    else:
        errors += [f"name part {error}" for error in _too_long(name, 63)]
    if not _NAME_PART_RE.fullmatch(name):
        errors.append("name part must consist of alphanumeric characters, '-', '_' or '.'")
    return errors


def label_value_errors(value: str) -> list[str]:
    errors = _too_long(value, 63)
    if value and not _NAME_PART_RE.fullmatch(value):
        errors.append("a label value must be empty or consist of alphanumeric characters, '-', '_' or '.'")
    return errors


class Quantity:
    """A parsed resource quantity: its exact `value`, and `integer`, what the API server's AsInt64()
    gives (None where it fails: a fraction, a negative scale, a value held as a big decimal)."""

    __slots__ = ("integer", "value")

    def __init__(self, value: Decimal, integer: int | None) -> None:
        self.value, self.integer = value, integer

    def __repr__(self) -> str:
        return f"Quantity({self.value}, integer={self.integer})"


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARACTERS = frozenset("eEinumkKMGTP")
_INT64_TEXT = re.compile(r"[+-]?[0-9]+")
# Exact arithmetic: only the digits a value has are kept, whatever its exponent.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_UP)
_NANO = Decimal("1e-9")


def _split(text: str) -> tuple[bool, str, str, str, str]:
    """resource.ParseQuantity's reading of `text`: (positive, numerator digits without leading zeros,
    fraction digits, the number as written, the suffix)."""
    end, pos, positive = len(text), 0, True
    if text[0] in "+-":
        positive, pos = text[0] == "+", 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos == end:
        return positive, "0", "", "0", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    numerator = text[start:pos] or "0"
    fraction = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        fraction = text[start:pos]
    number, suffix_start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_CHARACTERS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError("quantities must match the regular expression of a resource quantity")
    return positive, numerator, fraction, number, text[suffix_start:]


def _suffix(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a quantity's suffix."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE" and _INT64_TEXT.fullmatch(suffix[1:]):
        exponent = int(suffix[1:])
        if MIN_INT64 <= exponent <= MAX_INT64:
            return 10, (exponent + 2**31) % 2**32 - 2**31, "DecimalExponent"  # Go's int32(...)
    raise QuantityError("unable to parse quantity's suffix")


def _scaled_int64(value: int, scale: int) -> int | None:
    """int64Amount.AsInt64: value * 10^scale when it is a whole int64."""
    if scale < 0:
        return None
    if value == 0 or scale == 0:
        return value
    if scale > 19:
        return None
    result = value * 10**scale
    return result if MIN_INT64 < result <= MAX_INT64 else None


@cache
def parse_quantity(text: str) -> Quantity:
    """`text` as resource.ParseQuantity reads it; QuantityError when it refuses it."""
    if not text:
        raise QuantityError("quantities must match the regular expression of a resource quantity")
    if text == "0":
        return Quantity(Decimal(0), 0)
    positive, numerator, fraction, number, suffix = _split(text)
    base, exponent, form = _suffix(suffix)
    mantissa, scale = 1, 0
    if form == "BinarySI":
        if exponent >= 0 and not fraction:
            mantissa = 1 << exponent
            precision = 15 - len(numerator) - int(exponent * 3 / 10) - 1
        else:
            precision = -1
    else:
        scale = exponent
        precision = 18 - len(numerator) - len(fraction)
    if precision >= 0 and scale - len(fraction) >= -9:
        scale -= len(fraction)
        result = int(numerator + fraction) * mantissa
        if result <= MAX_INT64:
            result = result if positive else -result
            return Quantity(_EXACT.scaleb(Decimal(result), scale), _scaled_int64(result, scale))
    if not any(char in _DIGITS for char in number):
        raise QuantityError("unable to parse quantity's numeric part")
    amount = Decimal(f"{numerator}.{fraction or '0'}")
    amount = _EXACT.scaleb(amount, exponent) if base == 10 else _EXACT.multiply(amount, 1 << exponent)
    if amount and amount.as_tuple().exponent < -9:
        amount = amount.quantize(_NANO, context=_EXACT)
    if form == "BinarySI" and amount > MAX_INT64:
        amount = Decimal(MAX_INT64)
    return Quantity(amount if positive else -amount, None)
