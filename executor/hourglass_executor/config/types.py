"""The configuration's value types: each is `Annotated[<type>, BeforeValidator(check)]`, where the
check refuses a value with a message saying the rule (`errors.fail`), never the value (it may be a
secret). Shared rules (addresses, Kubernetes names, image references, ...) come from
`hourglass_executor.validation`; the ones only the configuration has (durations, ports, URLs) are here.

A string type refuses a number or a boolean with a hint to quote it: YAML reads an unquoted `0x...`
as a number. Durations are Go duration strings ("30s", "1m30s") from 1ms (`timedelta` has no
nanoseconds, and every duration here is a timeout) to Go's longest, 2562047h47m16.854775807s; a bare
number is refused because upstream reads it as nanoseconds.

An integer setting is at most a uint256 (2^256 - 1, 78 digits; chain ids included): `int()` refuses
more than 4300 digits, so a longer one would otherwise be a traceback. A file path refuses a NUL
character, which no operating system call takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr

from hourglass_executor import validation
from hourglass_executor.config.errors import fail
from hourglass_executor.strict_yaml import LongInteger

CRD_VERSION_RE = re.compile(r"v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?")
IMPORT_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
RPC_URL_RE = re.compile(r"(https?|wss?)://\S+")
HTTP_URL_RE = re.compile(r"https?://\S+")
HOST_PORT_RE = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):([0-9]{1,5})")
DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
NANOSECONDS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
NANOSECONDS["h"] = 60 * NANOSECONDS["m"]
MIN_DURATION_NS = 10**6  # 1ms
MAX_DURATION_NS = 2**63 - 1  # Go's time.Duration: int64 nanoseconds
MAX_INTEGER = 2**256 - 1  # a uint256: no integer setting is larger
MAX_INTEGER_DIGITS = len(str(MAX_INTEGER))  # 78
MAX_RETRIES = 1000  # chain.retries: with the back-off capped at 1 s, already over 16 minutes of retrying


def _string(value: Any) -> str:
    """The value if it is a string; YAML turns unquoted 0x... into numbers, hence the hint."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise fail("must be a string (YAML read true/false here; quote the value)")
    if isinstance(value, int | float | LongInteger):
        raise fail("must be a string (YAML read a number here; quote the value)")
    raise fail("must be a string")


def _matching(rule: re.Pattern[str] | Callable[[str], bool], message: str) -> BeforeValidator:
    """A string that `rule` (a pattern to match in full, or a predicate) accepts."""
    accepts = rule if callable(rule) else lambda text: rule.fullmatch(text) is not None

    def check(value: Any) -> str:
        text = _string(value)
        if not accepts(text):
            raise fail(message)
        return text

    return BeforeValidator(check)


def _non_empty(value: Any) -> str:
    text = _string(value)
    if not text.strip():
        raise fail("must not be empty")
    return text


def integer_value(value: Any) -> int | None:
    """`value` as an integer field reads it (an int, or a string of decimal digits), else None; None
    too beyond MAX_INTEGER. `rules.py` reads integers with it too, so that the rules and the model agree."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        digits = value.strip().lstrip("0") or "0"
        if len(digits) > MAX_INTEGER_DIGITS:  # int() would refuse beyond 4300 digits
            return None
        value = int(digits)
    if isinstance(value, int) and not isinstance(value, bool) and value <= MAX_INTEGER:
        return value
    return None


def _is_integer(value: Any) -> bool:
    """Whether `value` is an integer as YAML or a quoted string writes it, of any size."""
    if isinstance(value, str):
        return re.fullmatch(r"[0-9]+", value.strip()) is not None
    return isinstance(value, int | LongInteger) and not isinstance(value, bool)


def _integer(value: Any, low: int, high: int | None, message: str) -> int:
    """An integer from `low` to `high` (None: to MAX_INTEGER, and then a too large one says so)."""
    number = integer_value(value)
    if number is None and high is None and _is_integer(value):
        raise fail(f"{message} of at most 2^256 - 1 (a uint256)")
    if number is None or number < low or (high is not None and number > high):
        raise fail(message)
    return number


def _port(value: Any) -> int:
    return _integer(value, 1, 65535, "must be a port number (1-65535)")


def _port_or_zero(value: Any) -> int:
    return _integer(value, 0, 65535, "must be a port number (1-65535), or 0 to share the grpcPort server")


def _positive(value: Any) -> int:
    return _integer(value, 1, None, "must be a positive integer")


def _non_negative(value: Any) -> int:
    return _integer(value, 0, None, "must be a non-negative integer")


def _retries(value: Any) -> int:
    return _integer(value, 0, MAX_RETRIES, f"must be a number of retries from 0 to {MAX_RETRIES}")


def _performer_env_name(value: Any) -> str:
    text = _string(value)
    if not validation.is_env_name(text):
        raise fail("must be a non-empty name of printable ASCII characters without '='")
    if len(text) > validation.ENV_NAME_MAX_LENGTH:
        raise fail(f"must be at most {validation.ENV_NAME_MAX_LENGTH} characters (the Performer CRD's limit)")
    return text


def _path(value: Any) -> str:
    text = _non_empty(value)
    if "\0" in text:
        raise fail("must not contain a NUL character")
    return text


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail("must be true or false")
    return value


def _duration(value: Any) -> timedelta:
    message = 'must be a duration such as "30s", "5m" or "1m30s"'
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise fail(
            message + ' (a bare number is not accepted: upstream reads it as nanoseconds; write "30s")'
        )
    text = _string(value).strip()
    parts = DURATION_PART_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise fail(message)
    # Decimal: exact, and no overflow on "9999999999999h" (timedelta's OverflowError is not a
    # ValueError, so pydantic would not report it).
    nanoseconds = sum(Decimal(number) * NANOSECONDS[unit] for number, unit in parts)
    if nanoseconds <= 0:
        raise fail("must be a positive duration")
    if nanoseconds < MIN_DURATION_NS:
        raise fail("must be at least 1ms")
    if nanoseconds > MAX_DURATION_NS:
        raise fail("too large: at most 2562047h47m16.854775807s (the longest Go duration)")
    return timedelta(microseconds=int(nanoseconds) // 1000)


def _private_key(value: Any) -> SecretStr:
    # Messages never include the value: it is a secret.
    text = _string(value).strip()
    if not validation.is_private_key_hex(text):
        raise fail(
            "must be a secp256k1 private key: 64 hexadecimal digits (32 bytes), optionally 0x-prefixed"
        )
    return SecretStr(text)


def _rpc_url(value: Any) -> SecretStr:
    text = _string(value)
    if not RPC_URL_RE.fullmatch(text):
        raise fail("must be an http(s):// or ws(s):// URL")
    return SecretStr(text)


_IMAGE_HINTS = {
    "must not include a tag or digest": "must not include a tag or digest (use image.tag and image.digest)"
}


def _image_repository(value: Any) -> str:
    text = _non_empty(value)
    if problem := validation.image_repository_problem(text):
        raise fail(_IMAGE_HINTS.get(problem, problem))
    return text


def _endpoint(value: Any) -> str:
    text = _string(value)
    match = HOST_PORT_RE.fullmatch(text)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise fail("must be host:port (for example localhost:9090)")
    return text


Address = Annotated[
    str, _matching(validation.is_address, "must be an Ethereum address: 0x followed by 40 hexadecimal digits")
]
Text = Annotated[str, BeforeValidator(_string)]
NonEmpty = Annotated[str, BeforeValidator(_non_empty)]
FilePath = Annotated[str, BeforeValidator(_path)]
Secret = Annotated[SecretStr, BeforeValidator(lambda v: SecretStr(_string(v)))]
NonEmptySecret = Annotated[SecretStr, BeforeValidator(lambda v: SecretStr(_non_empty(v)))]
PrivateKey = Annotated[SecretStr, BeforeValidator(_private_key)]
Port = Annotated[int, BeforeValidator(_port)]
PortOrZero = Annotated[int, BeforeValidator(_port_or_zero)]
PositiveInt = Annotated[int, BeforeValidator(_positive)]
NonNegativeInt = Annotated[int, BeforeValidator(_non_negative)]
RetryCount = Annotated[int, BeforeValidator(_retries)]
Bool = Annotated[bool, BeforeValidator(_boolean)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
DnsLabel = Annotated[
    str, _matching(validation.is_dns1123_label, "must be a DNS-1123 label (lower-case alphanumerics and '-')")
]
DnsSubdomain = Annotated[
    str,
    _matching(
        validation.is_dns1123_subdomain,
        "must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.'; at most 253 characters)",
    ),
]
EnvName = Annotated[
    str,
    _matching(validation.is_env_name, "must be a non-empty name of printable ASCII characters without '='"),
]
# A performer's variable: also a name in the Performer resource, where the CRD limits its length.
PerformerEnvName = Annotated[str, BeforeValidator(_performer_env_name)]
LabelValue = Annotated[
    str,
    _matching(
        validation.is_label_value,
        "must be a Kubernetes label value: 1-63 of [A-Za-z0-9-_.], "
        "starting and ending with a letter or digit",
    ),
]
ImportPath = Annotated[
    str,
    _matching(IMPORT_PATH_RE, 'must be "module:callable", e.g. "mypackage.endpoints:resolve"'),
]
ConfigKey = Annotated[
    str,
    _matching(
        validation.is_config_key, "must be a key of alphanumerics, '-', '_' or '.' (at most 253 characters)"
    ),
]
RpcUrl = Annotated[SecretStr, BeforeValidator(_rpc_url)]
HttpUrl = Annotated[str, _matching(HTTP_URL_RE, "must be an http(s):// URL")]
Endpoint = Annotated[str, BeforeValidator(_endpoint)]
CrdVersion = Annotated[
    str, _matching(CRD_VERSION_RE, "must be a Kubernetes API version such as v1alpha1 or v1")
]
ImageRepository = Annotated[str, BeforeValidator(_image_repository)]
ImageTag = Annotated[
    str,
    _matching(
        validation.is_image_tag,
        "must be an image tag: letters, digits, '_', '.', '-' (at most 128, not starting with . or -)",
    ),
]
ImageDigest = Annotated[
    str, _matching(validation.is_image_digest, "must be an image digest such as sha256:<64 hex digits>")
]
