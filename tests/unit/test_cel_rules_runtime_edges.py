"""CEL at run time where Python would answer otherwise: equality, order, overflow, bounds, type errors."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.cel_rules import CelEvalError, evaluate

SELF = {"n": 2, "s": "abc", "on": True, "list": [1, 2, 3], "labels": {"app": "avs"}, "empty": {}}


@pytest.mark.parametrize(
    ("rule", "result"),
    [
        ("[1] == [1, 2]", False),
        ("[1, 2] == [1]", False),
        ("self.empty == self.labels", False),
        ("self.labels == self.empty", False),
        ("self.labels != self.empty", True),
        ("false < true && !(true < false) && true <= true && false >= false", True),
        ("1 <= 1 && 1 >= 1 && 'a' <= 'a' && 'b' >= 'b'", True),
        ("2 >= 3", False),
        ("'abc'.substring(0) == 'abc'", True),
        ("'abc'.substring(3) == ''", True),
        ("'abc'.substring(1, 1) == ''", True),
        ("'abc'.substring(0, 3) == 'abc'", True),
        ("-9223372036854775808 % 1 == 0", True),
        ("quantity('1').isLessThan(quantity('1'))", False),
        ("quantity('1').isGreaterThan(quantity('1'))", False),
    ],
)
def test_values_compare_as_cel_compares_them(rule: str, result: bool) -> None:
    assert evaluate(rule, SELF) is result


@pytest.mark.parametrize(
    "rule",
    [
        "-9223372036854775807 - 2 < 0",
        "9223372036854775807 * 2 > 0",
        "-9223372036854775808 * -1 > 0",
        "-9223372036854775808 % -1 == 0",  # the API server: "integer overflow"
        "-(-9223372036854775807 - 1) > 0",
        "self.list[-1] == 3",
        "self.list[true] == 2",
        "has(self.n.x)",
        "has(self.s.x)",
        "-self.on == -1",
        "-self.s == self.s",
        "string(self.list) == '[1, 2, 3]'",
        "quantity(' 1').isInteger()",
        "'abc'.substring(true) == 'bc'",
        "'abc'.substring('1') == 'bc'",
        "'abc'.substring(0, true) == 'a'",
        "self.n ? true : false",
        "false || self.n",
        "true && self.s",
        "[1].exists(x, x)",
        "[1].all(x, 'yes')",
    ],
)
def test_errors_at_run_time_fail_the_rule(rule: str) -> None:
    with pytest.raises(CelEvalError):
        evaluate(rule, SELF)


@pytest.mark.parametrize("macro", ["all", "exists"])
def test_a_macro_reports_its_first_error_as_the_api_server_does(macro: str) -> None:
    # The API server answered `self.all(x, x == 0 ? self[5] == 1 : self[7] == 1)` on [0, 1] with
    # "index out of bounds: 5": the first item's error, not the last one's.
    with pytest.raises(CelEvalError) as failed:
        evaluate(f"[5, 7].{macro}(i, self[i] == 1)", [0, 1])
    assert "5" in str(failed.value) and "7" not in str(failed.value)


@pytest.mark.parametrize("operator", ["||", "&&"])
def test_when_both_sides_fail_the_left_sides_error_is_said_as_the_api_server_does(operator: str) -> None:
    # The API server answered `self.a == 'x' || self.b == 'y'` on {} with "no such key: a".
    with pytest.raises(CelEvalError) as failed:
        evaluate(f"self.a == 'x' {operator} self.b == 'y'", {})
    assert "no such key: a" in str(failed.value)
