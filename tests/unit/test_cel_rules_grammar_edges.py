"""How the CEL evaluator reads rules at their edges: escapes, prefix operators, nested ?:, macro scopes."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.cel_rules import (
    CelSyntaxError,
    compile_rule,
    evaluate,
)


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("'\\n' == self", "\n"),
        ("'\\r' == self", "\r"),
        ("'\\U0001F600' == self", "\U0001f600"),
        ("'a\\x41\\u00e9' == self", "aAé"),
    ],
)
def test_escapes_read_as_cel_reads_them(rule: str, value: str) -> None:
    assert evaluate(rule, value) is True
    assert evaluate(rule, value + "x") is False


@pytest.mark.parametrize(
    ("rule", "result"),
    [
        ("!!self.on", True),
        ("!!!self.on", False),
        ("--self.n", 2),
        ("---self.n", -2),
        ("--1", 1),
        ("(false ? 1 : true ? 2 : 3)", 2),  # `?:` nests to the right in its last branch
        ("(false ? 1 : false ? 2 : 3)", 3),
        ("true ? (false ? 1 : 2) : 3", 2),
        ("[1, 2,] == [1, 2]", True),  # a trailing comma, as CEL allows
    ],
)
def test_prefix_operators_and_conditionals_nest(rule: str, result: object) -> None:
    assert evaluate(rule, {"on": True, "n": 2}) == result


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("'a\nb' == self", "unterminated string"),  # a newline ends no single-quoted string
        ("true ? false ? 1 : 2 : 3", "expected ':'"),  # the API server refuses it too
        ("[1 2] == self", "expected ']'"),
        ("self.all(x, x > 0) && x > 0", "unknown name x"),  # a macro's variable is its own
        ("self.exists(y, true) || self.all(z, y == z)", "unknown name y"),
        # The API server binds it; here `format` always names the library, so a rule binding it stops.
        ("self.all(format, true)", "cannot bind format"),
        ("self.all(self, true)", "cannot bind self"),
        ("if == self", "if is a reserved word"),
        ("self == while", "while is a reserved word"),
    ],
)
def test_what_cel_does_not_read_is_refused(rule: str, said: str) -> None:
    with pytest.raises(CelSyntaxError) as refused:
        compile_rule(rule)
    assert said in str(refused.value)


def test_integer_literals_read_as_cel_go_reads_them() -> None:
    # The API server took `self == 01` and refused `self == 0X10` (only a lower-case 0x is hex).
    assert evaluate("self == 010", 10) is True
    assert evaluate("self == 0x1F", 31) is True
    with pytest.raises(CelSyntaxError):
        compile_rule("self == 0X10")
