"""The CEL evaluator of the one-off deploy's check (plugins/module_utils/cel_rules.py): CEL's
precedence, `&&`/`||` and the macros absorbing an error on the side that does not decide, RE2 partial
matching, the Kubernetes format and quantity libraries, errors at run time as failed rules, anything
it does not read refused when a rule is compiled, and hack/crd/generate.py stopping on such a rule."""

from __future__ import annotations

import importlib.util

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.cel_rules import (
    CelEvalError,
    CelSyntaxError,
    compile_rule,
    evaluate,
)

from tests.support.paths import REPO

SELF = {"n": 2, "on": True, "list": [1, 2, 3], "labels": {"app": "avs"}, "empty": {}}


@pytest.mark.parametrize(
    "rule",
    [
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "10 - 4 - 3 == 3",
        "7 % 4 * 2 == 6",
        "-7 % 3 == -1",  # Go's remainder: the dividend's sign
        "7 / -2 == -3",  # and truncating division
        "-self.n + 1 == -1",
        "!false || false",
        "!(true || true) == false",
        "true || false && false",  # && binds tighter than ||
        "!(false && true || false)",
        "false ? false : 1 == 1",  # ?: takes the lowest precedence; its else branch is `1 == 1`
        "(true ? 1 : 2) == 1",
        "true ? (false ? false : true) : false",
        "1 < 2 == true",
        "!self.on in [false]",  # ! binds tighter than in, member access tighter than !
        "'a' + 'b' == 'ab' && [1] + [2] == [1, 2]",
        "self.list[1] == 2 && size(self.list) == 3 && self.list.size() == 3",
        "'app' in self.labels && !('avs' in self.labels)",  # a map: its keys
        "2 in self.list && !(4 in self.list)",
        "has(self.labels) && !has(self.missing) && !has(self.empty.x)",
        "self.labels['app'] == 'avs' && self.labels.app == 'avs'",
        "self.labels.all(k, k == 'app') && self.list.exists(x, x == 3)",
        "self.list.all(x, self.list.exists(y, y == x))",
        "size('é') == 1 && size(self.labels) == 1",
        "string(5) == '5' && string(true) == 'true' && string('x') == 'x'",
        "'hugepages-2Mi'.substring(10) == '2Mi' && 'abc'.substring(1, 2) == 'b'",
        "'a.b/c'.contains('/') && 'abc'.startsWith('ab') && 'abc'.endsWith('bc')",
        "1 != '1' && self.on != 1 && [1] != [true] && null == null",  # other types are never equal
        "-9223372036854775808 == -9223372036854775807 - 1",
        "0x10 == 16",
        "'\\\\s\\x41\\u00e9\\101\\'' == '\\\\' + 's' + 'A' + 'é' + 'A' + \"'\"",
    ],
)
def test_operators_and_functions(rule):
    assert evaluate(rule, SELF) is True


@pytest.mark.parametrize(
    ("rule", "result"),
    [
        ("false && self.missing", False),
        ("self.missing && false", False),
        ("true || self.missing", True),
        ("self.missing || true", True),
        ("true ? 1 : self.missing", 1),
        ("[0, 20].all(x, 10 / x > 1)", False),  # a false after an error
        ("[0, 5].exists(x, 10 / x > 1)", True),  # a true after an error
        ("[1, 2].exists(x, self.missing)", CelEvalError),
        ("true && self.missing", CelEvalError),
        ("self.missing || false", CelEvalError),
        ("self.missing", CelEvalError),
        ("self.list[3] == 1", CelEvalError),
        ("self.labels['absent'] == 'x'", CelEvalError),
        ("has(self.missing.x)", CelEvalError),
        ("9223372036854775807 + 1 > 0", CelEvalError),
        ("-9223372036854775808 / -1 > 0", CelEvalError),
        ("5 % 0 == 0", CelEvalError),
        ("'abc'.substring(4) == ''", CelEvalError),
        ("'abc'.substring(2, 1) == ''", CelEvalError),
        ("size(self.n) == 1", CelEvalError),
        ("self.n < 'a'", CelEvalError),
        ("!self.n", CelEvalError),
        ("self.n && true", CelEvalError),
        ("string(null) == ''", CelEvalError),
    ],
)
def test_short_circuits_absorb_errors_and_other_errors_fail(rule, result):
    if result is CelEvalError:
        with pytest.raises(CelEvalError):
            evaluate(rule, SELF)
    else:
        assert evaluate(rule, SELF) == result


@pytest.mark.parametrize(
    ("value", "found"),
    [("xabcx", True), ("abc", True), ("ab", False), ("abc\n", True)],
)
def test_matches_is_a_partial_match(value, found):
    assert evaluate("self.matches('abc')", value) is found
    assert evaluate("matches(self, 'abc')", value) is found


@pytest.mark.parametrize(("value", "found"), [("abc", True), ("abc\n", False), ("xabc", False)])
def test_matches_reads_dollar_as_re2_does(value, found):
    assert evaluate("self.matches('^abc$')", value) is found


def test_matches_reads_backslash_s_as_re2_does():
    rule = "self.matches('^[^\\\\s{}]+$')"  # as in the CRD's YAML: '^[^\\s{}]+$'
    assert evaluate(rule, "a b") is False
    assert evaluate(rule, "a\vb") is True


def format_rule(name: str) -> str:
    return f"!format.{name}().validate(self).hasValue()"


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("dns1123Label", "a" * 63, True),
        ("dns1123Label", "a" * 64, False),
        ("dns1123Label", "a.b", False),
        ("dns1123Subdomain", ".".join(["a" * 63] * 3 + ["b" * 61]), True),
        ("dns1123Subdomain", ".".join(["a" * 63] * 3 + ["b" * 62]), False),
        ("qualifiedName", "example.com/" + "a" * 63, True),
        ("qualifiedName", "example.com/" + "a" * 64, False),
        ("qualifiedName", "a" * 63, True),
        ("qualifiedName", "a" * 64, False),
        ("qualifiedName", "Example.com/a", False),
        ("qualifiedName", "", False),
        ("labelValue", "", True),
        ("labelValue", "a" * 63, True),
        ("labelValue", "a" * 64, False),
        ("dns1035Label", "1a", False),
    ],
)
def test_the_format_library(name, value, valid):
    assert evaluate(format_rule(name), value) is valid


def test_a_formats_errors_are_its_value():
    assert evaluate("format.dns1123Label().validate(self).value()", "a.b") == ["must not contain dots"]
    with pytest.raises(CelEvalError):
        evaluate("format.dns1123Label().validate(self).value()", "ab")


@pytest.mark.parametrize(
    ("rule", "result"),
    [
        ("quantity('1.5').isInteger()", False),
        ("quantity('1500m').isInteger()", False),
        ("quantity('2k').isInteger()", True),
        ("quantity('2k').asInteger() == 2000", True),
        ("quantity('1Gi').asInteger() % quantity('2Mi').asInteger() == 0", True),
        ("quantity('9223372036854775807').isInteger()", False),
        ("isQuantity('1e400') && isQuantity('+1.5') && !isQuantity('200K') && !isQuantity('')", True),
        ("quantity('200M').compareTo(quantity('0.2G')) == 0", True),
        ("quantity('50M').compareTo(quantity('50Mi')) == -1", True),
        ("quantity('50Mi').compareTo(quantity('50M')) == 1", True),
        ("quantity('150Mi').isGreaterThan(quantity('100Mi'))", True),
        ("quantity('100M').isLessThan(quantity('50M'))", False),
        ("quantity('-1').isLessThan(quantity('0'))", True),
        ("quantity('1e400').isGreaterThan(quantity('9223372036854775807'))", True),
        ("quantity('16Ei').isGreaterThan(quantity('9223372036854775807'))", False),
        ("quantity('-1').sign() == -1 && quantity('0').sign() == 0", True),
        ("quantity('1') == quantity('1000m')", True),
        ("quantity(string(self)).asInteger() == 4194304", True),
    ],
)
def test_the_quantity_library(rule, result):
    assert evaluate(rule, 4194304) is result


@pytest.mark.parametrize(
    "rule",
    [
        "quantity('1e400').asInteger() > 0",  # beyond int64
        "quantity('1.5').asInteger() > 0",
        "quantity('lots').isInteger()",
        "quantity(self).isInteger()",  # not a string
    ],
)
def test_quantity_errors_fail_the_rule(rule):
    with pytest.raises(CelEvalError):
        evaluate(rule, 4194304)


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("self.map(x, x)", "map() is not supported"),
        ("self.filter(x, x)", "filter() is not supported"),
        ("self.exists_one(x, x)", "exists_one() is not supported"),
        ("self.lowerAscii() == self", "lowerAscii() is not supported"),
        ("int('1') == 1", "int() is not supported"),
        ("1.5 > 1", "floating-point literals are not supported"),
        ("self > .5", "floating-point literals are not supported"),
        ("1e3 > 1", "floating-point literals are not supported"),
        ("1u > 0u", "unsigned integer literals are not supported"),
        ("{'a': 1} == self", "map literals are not supported"),
        ("r'a' == self", "raw and bytes string literals are not supported"),
        ("'''a''' == self", "triple-quoted strings are not supported"),
        ("'\\s' == self", "unknown escape"),
        ("oldSelf == self", "oldSelf (transition rules) is not supported"),
        ("other == self", "unknown name other"),
        ("self.all(k, j == 1)", "unknown name j"),
        ("has(self)", "has() takes a field selection"),
        ("format.uri().validate(self).hasValue()", "format.uri is not supported"),
        ("self.matches('(')", "invalid regular expression"),
        ("size(self, 1) == 1", "size() takes 1 arguments"),
        ("self.startsWith() ", "startsWith() takes 1 arguments"),
        ("9223372036854775808 > 0", "out of the int64 range"),
        ("self ==", "expected a value, found the end"),
        ("(self", "expected ')'"),
        ("self self", "expected the end of the rule"),
        ("self # 1", "unexpected character '#'"),
        ("'open", "unterminated string"),
    ],
)
def test_what_it_does_not_read_is_refused_when_compiled(rule, said):
    with pytest.raises(CelSyntaxError) as refused:
        compile_rule(rule)
    assert said in str(refused.value)


def test_each_rule_is_compiled_once():
    compile_rule.cache_clear()
    evaluate("self == 1", 1)
    evaluate("self == 1", 2)
    assert compile_rule.cache_info().misses == 1


def generator():
    spec = importlib.util.spec_from_file_location("crd_generate", REPO / "hack" / "crd" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_rule_the_evaluator_cannot_read_stops_the_generator_naming_it(monkeypatch):
    generate = generator()
    toleration = generate.toleration

    def with_unreadable_rule() -> dict:
        schema = toleration()
        schema["x-kubernetes-validations"].append(generate.rule("self.key.lowerAscii() == self.key", "lower"))
        return schema

    monkeypatch.setattr(generate, "toleration", with_unreadable_rule)
    with pytest.raises(SystemExit) as stopped:
        generate.render_schema_module()
    said = str(stopped.value)
    assert said.startswith(".spec.scheduling.tolerations[]: plugins/module_utils/cel_rules.py cannot check")
    assert "self.key.lowerAscii() == self.key" in said and "lowerAscii() is not supported" in said


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ({"rule": "true", "messageExpression": "'x'"}, "does not check the keys messageExpression"),
        ({"rule": "true"}, "does not check a rule without a message"),
        ({"rule": "true", "message": "m", "fieldPath": ".a[0]"}, "does not follow the fieldPath '.a[0]'"),
    ],
)
def test_a_rule_the_validator_cannot_report_stops_the_generator(entry, said):
    with pytest.raises(SystemExit) as stopped:
        generator().structural({"type": "string", "x-kubernetes-validations": [entry]}, ".spec.x")
    assert str(stopped.value).startswith(".spec.x: ") and said in str(stopped.value)


def test_the_generator_keeps_each_rule_for_the_validator():
    entry = {"reason": "FieldValueRequired", "fieldPath": ".a", "message": "m", "rule": "has(self.a)"}
    schema = generator().structural({"type": "object", "x-kubernetes-validations": [entry]})
    assert schema["x-kubernetes-validations"] == [entry]
