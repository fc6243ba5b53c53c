"""An evaluator of the part of CEL (the Common Expression Language) that the Performer CRD's
validation rules (x-kubernetes-validations) are written in, for the one-off deploy's check of a
Performer from a file, which no API server sees: structural_schema.py evaluates each rule of the
generated schema module (performer_schema.py) where the API server would, and hack/crd/generate.py
compiles every rule when it writes that module, so that a rule this evaluator cannot read stops the
generator rather than going unchecked.

What it reads: int, string, bool and null literals and lists; `self` and the variables of the `all`
and `exists` macros; field selection, `has()`, indexing; the operators `?:`, `||`, `&&`, `==`, `!=`,
`<`, `<=`, `>`, `>=`, `in`, `+`, `-`, `*`, `/`, `%`, `!` and unary `-`, with CEL's precedence; the
functions `size`, `string`, `matches`, `contains`, `startsWith`, `endsWith`, `substring`, Kubernetes'
`format` library (`format.<name>().validate(s)`, `hasValue()`, `value()`) and its `quantity` library
(`quantity`, `isQuantity`, `isInteger`, `asInteger`, `compareTo`, `isLessThan`, `isGreaterThan`,
`sign`), implemented in kube_formats.py. Anything else (doubles, maps, other functions and macros,
`oldSelf`) is refused when a rule is compiled (CelSyntaxError).

Evaluation follows cel-go as the API server runs it: `matches` finds the pattern anywhere in the
string (RE2, with its `$`), `&&` and `||` short-circuit and absorb an error on their other side
(`false && error` is false), `all` and `exists` likewise, ints are int64 (overflow is an error) and
divide as Go does, and `==` between values of different types is false. An error at run time (no
such key, a string that is no quantity, an overflow) raises CelEvalError: the API server refuses the
object then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.kube_formats import (
    MAX_INT64,
    MIN_INT64,
    Quantity,
    QuantityError,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    parse_quantity,
    qualified_name_errors,
    re2,
)

Env = dict[str, Any]
Program = Callable[[Env], Any]
Node = tuple


class CelSyntaxError(ValueError):
    """A rule this evaluator cannot read: a syntax error, or a part of CEL it does not support."""


class CelEvalError(Exception):
    """An error while a rule is evaluated: the API server counts the rule as failed."""


class _Format:
    __slots__ = ("check", "name")

    def __init__(self, name: str, check: Callable[[str], list[str]]) -> None:
        self.name, self.check = name, check


class _Optional:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


FORMATS = {
    "dns1123Label": dns1123_label_errors,
    "dns1123Subdomain": dns1123_subdomain_errors,
    "dns1035Label": dns1035_label_errors,
    "qualifiedName": qualified_name_errors,
    "labelValue": label_value_errors,
}

# --- tokens ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>[ \t\n\r\f]+)
    |(?P<number>0x[0-9a-fA-F]+|[0-9]+)  # as cel-go: a lower-case 0x only; 010 is ten
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<quote>['"])
    |(?P<op>\|\||&&|==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])""",
    re.VERBOSE,
)
_ESCAPES = {
    "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?",
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "X": 2, "u": 4, "U": 8}
_RESERVED = {
    "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop",
    "package", "namespace", "return", "var", "void", "while",
}  # fmt: skip


def _string(text: str, start: int) -> tuple[str, int]:
    """The string literal at `start` (its quote) and the position after it."""
    quote, pos, out = text[start], start + 1, []
    if text.startswith(quote * 3, start):
        raise CelSyntaxError(f"triple-quoted strings are not supported (at {start})")
    while True:
        if pos >= len(text) or text[pos] in "\r\n":
            raise CelSyntaxError(f"unterminated string (at {start})")
        char = text[pos]
        if char == quote:
            return "".join(out), pos + 1
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        escape = text[pos + 1 : pos + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            pos += 2
        elif escape and escape in _HEX_ESCAPES:
            digits = text[pos + 2 : pos + 2 + _HEX_ESCAPES[escape]]
            if not re.fullmatch(f"[0-9a-fA-F]{{{_HEX_ESCAPES[escape]}}}", digits):
                raise CelSyntaxError(f"bad \\{escape} escape (at {pos})")
            out.append(chr(int(digits, 16)))
            pos += 2 + len(digits)
        elif escape and escape in "0123":
            digits = text[pos + 1 : pos + 4]
            if not re.fullmatch("[0-3][0-7][0-7]", digits):
                raise CelSyntaxError(f"bad octal escape (at {pos})")
            out.append(chr(int(digits, 8)))
            pos += 4
        else:
            raise CelSyntaxError(f"unknown escape \\{escape} (at {pos})")


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    """(kind, value, position) of each token: kinds int, str, name, op and end."""
    tokens: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise CelSyntaxError(f"unexpected character {text[pos]!r} (at {pos})")
        kind, value = match.lastgroup, match.group()
        after = text[match.end() : match.end() + 2]
        if kind == "number":
            if after[:1] in ("u", "U"):
                raise CelSyntaxError(f"unsigned integer literals are not supported (at {pos})")
            if re.match(r"\.[0-9]|[eE][-+0-9]", after):
                raise CelSyntaxError(f"floating-point literals are not supported (at {pos})")
            tokens.append(("int", int(value[2:], 16) if value[:2] == "0x" else int(value, 10), pos))
        elif kind == "name":
            if after[:1] in ("'", '"') and value.lower() in ("r", "b", "rb", "br"):
                raise CelSyntaxError(f"raw and bytes string literals are not supported (at {pos})")
            tokens.append(("name", value, pos))
        elif kind == "quote":
            string, end = _string(text, pos)
            tokens.append(("str", string, pos))
            pos = end
            continue
        elif kind == "op":
            if value == "." and after[:1].isdigit():
                raise CelSyntaxError(f"floating-point literals are not supported (at {pos})")
            tokens.append(("op", value, pos))
        pos = match.end()
    tokens.append(("end", None, len(text)))
    return tokens


# --- parser --------------------------------------------------------------------------------------

# Functions by name: the numbers of arguments each takes.
_FUNCTIONS = {"size": {1}, "string": {1}, "matches": {2}, "quantity": {1}, "isQuantity": {1}}
_METHODS = {
    "size": {0}, "matches": {1}, "contains": {1}, "startsWith": {1}, "endsWith": {1}, "substring": {1, 2},
    "validate": {1}, "hasValue": {0}, "value": {0},
    "isInteger": {0}, "asInteger": {0}, "compareTo": {1}, "isLessThan": {1}, "isGreaterThan": {1},
    "sign": {0},
}  # fmt: skip
_MACROS = {"all", "exists"}
_RELATIONS = {"==", "!=", "<", "<=", ">", ">=", "in"}


class _Parser:
    """Recursive descent over CEL's grammar, lowest precedence first: `?:`, `||`, `&&`, relations,
    `+ -`, `* / %`, unary `! -`, member (`.f`, `.f()`, `[i]`), primary."""

    def __init__(self, text: str) -> None:
        self.tokens, self.at, self.scope = _tokens(text), 0, ["self"]

    def peek(self, offset: int = 0) -> tuple[str, Any, int]:
        return self.tokens[min(self.at + offset, len(self.tokens) - 1)]

    def take(self) -> tuple[str, Any, int]:
        token = self.peek()
        self.at += 1
        return token

    def accept(self, op: str) -> bool:
        kind, value, _ = self.peek()
        if kind in ("op", "name") and value == op:
            self.at += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.accept(op):
            self.fail(f"expected {op!r}")

    def fail(self, what: str) -> None:
        kind, value, pos = self.peek()
        found = "the end" if kind == "end" else repr(value)
        raise CelSyntaxError(f"{what}, found {found} (at {pos})")

    def name(self) -> str:
        kind, value, _ = self.peek()
        if kind != "name":
            self.fail("expected a name")
        self.at += 1
        return value

    def parse(self) -> Node:
        node = self.expression()
        if self.peek()[0] != "end":
            self.fail("expected the end of the rule")
        return node

    def expression(self) -> Node:
        condition = self.disjunction()
        if not self.accept("?"):
            return condition
        then = self.disjunction()
        self.expect(":")
        return ("cond", condition, then, self.expression())

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.accept("||"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.relation()
        while self.accept("&&"):
            node = ("and", node, self.relation())
        return node

    def relation(self) -> Node:
        node = self.addition()
        while self.peek()[1] in _RELATIONS and self.peek()[0] in ("op", "name"):
            op = self.take()[1]
            node = ("binary", op, node, self.addition())
        return node

    def addition(self) -> Node:
        node = self.multiplication()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            node = ("binary", op, node, self.multiplication())
        return node

    def multiplication(self) -> Node:
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%"):
            op = self.take()[1]
            node = ("binary", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("!"):
            count = 1
            while self.accept("!"):
                count += 1
            node = self.member()
            for _ in range(count):
                node = ("not", node)
            return node
        if self.accept("-"):
            count = 1
            while self.accept("-"):
                count += 1
            if self.peek()[0] == "int" and self.peek(1)[1] not in (".", "["):
                node, count = self.integer(-self.take()[1]), count - 1  # -9223372036854775808 is one
            else:
                node = self.member()
            for _ in range(count):
                node = ("neg", node)
            return node
        return self.member()

    def integer(self, value: int) -> Node:
        if not MIN_INT64 <= value <= MAX_INT64:
            raise CelSyntaxError(f"integer literal {value} is out of the int64 range")
        return ("lit", value)

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                field = self.name()
                node = self.method(node, field) if self.accept("(") else ("select", node, field)
            elif self.accept("["):
                index = self.expression()
                self.expect("]")
                node = ("index", node, index)
            else:
                return node

    def arguments(self) -> list[Node]:
        args: list[Node] = []
        if self.accept(")"):
            return args
        while True:
            args.append(self.expression())
            if self.accept(")"):
                return args
            self.expect(",")

    def method(self, target: Node, name: str) -> Node:
        if name in _MACROS:
            variable = self.name()
            if variable in ("self", "format"):
                raise CelSyntaxError(f"{name}() cannot bind {variable}")
            self.expect(",")
            self.scope.append(variable)
            predicate = self.expression()
            self.scope.pop()
            self.expect(")")
            return (name, target, variable, predicate)
        if name not in _METHODS:
            raise CelSyntaxError(f"the function {name}() is not supported")
        args = self.arguments()
        if len(args) not in _METHODS[name]:
            raise CelSyntaxError(f"{name}() takes {' or '.join(map(str, sorted(_METHODS[name])))} arguments")
        return ("method", name, target, args)

    def primary(self) -> Node:
        kind, value, pos = self.take()
        if kind == "int":
            return self.integer(value)
        if kind == "str":
            return ("lit", value)
        if kind == "op" and value == "(":
            node = self.expression()
            self.expect(")")
            return node
        if kind == "op" and value == "[":
            items: list[Node] = []
            while not self.accept("]"):
                items.append(self.expression())
                if not self.accept(","):
                    self.expect("]")
                    break
            return ("list", items)
        if kind == "op" and value == "{":
            raise CelSyntaxError(f"map literals are not supported (at {pos})")
        if kind != "name":
            self.at -= 1
            self.fail("expected a value")
        if value in ("true", "false", "null"):
            return ("lit", {"true": True, "false": False, "null": None}[value])
        if value == "has" and self.accept("("):
            argument = self.expression()
            self.expect(")")
            if argument[0] != "select":
                raise CelSyntaxError(f"has() takes a field selection such as has(self.field) (at {pos})")
            return ("has", argument[1], argument[2])
        if value == "format":
            return self.format_name(pos)
        if self.accept("("):
            if value not in _FUNCTIONS:
                raise CelSyntaxError(f"the function {value}() is not supported (at {pos})")
            args = self.arguments()
            if len(args) not in _FUNCTIONS[value]:
                raise CelSyntaxError(f"{value}() takes {min(_FUNCTIONS[value])} arguments (at {pos})")
            return ("call", value, args)
        if value in self.scope:
            return ("var", value)
        if value in _RESERVED:
            raise CelSyntaxError(f"{value} is a reserved word (at {pos})")
        if value == "oldSelf":
            raise CelSyntaxError(f"oldSelf (transition rules) is not supported (at {pos})")
        raise CelSyntaxError(f"unknown name {value} (at {pos})")

    def format_name(self, pos: int) -> Node:
        self.expect(".")
        name = self.name()
        if name not in FORMATS:
            raise CelSyntaxError(f"format.{name} is not supported (at {pos})")
        self.expect("(")
        self.expect(")")
        return ("lit", _Format(name, FORMATS[name]))


# --- values and operations ---------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__.lstrip("_").lower()


def _overload(name: str, *values: Any) -> CelEvalError:
    return CelEvalError(f"no such overload: {name}({', '.join(_kind(v) for v in values)})")


def _equal(left: Any, right: Any) -> bool:
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "list":
        return len(left) == len(right) and all(map(_equal, left, right))
    if kind == "map":
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if kind == "quantity":
        return left.value == right.value
    if kind == "optional":
        return _equal(left.value, right.value)
    if kind == "format":
        return left.name == right.name
    return left == right


def _int(value: int) -> int:
    if not MIN_INT64 <= value <= MAX_INT64:
        raise CelEvalError("integer overflow")
    return value


def _both(op: str, left: Any, right: Any, kinds: Sequence[str]) -> str:
    kind = _kind(left)
    if kind != _kind(right) or kind not in kinds:
        raise _overload(op, left, right)
    return kind


def _truncated(left: int, right: int) -> int:
    quotient = abs(left) // abs(right)
    return quotient if (left < 0) == (right < 0) else -quotient


def _binary(op: str, left: Any, right: Any) -> Any:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op == "in":
        if isinstance(right, list | tuple):
            return any(_equal(left, item) for item in right)
        if isinstance(right, dict):
            return isinstance(left, str) and left in right
        raise _overload("in", left, right)
    if op in ("<", "<=", ">", ">="):
        _both(op, left, right, ("int", "string", "bool"))
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if op == "+":
        kind = _both(op, left, right, ("int", "string", "list"))
        return _int(left + right) if kind == "int" else left + right
    _both(op, left, right, ("int",))
    if op == "-":
        return _int(left - right)
    if op == "*":
        return _int(left * right)
    if right == 0:
        raise CelEvalError("division by zero" if op == "/" else "modulus by zero")
    if left == MIN_INT64 and right == -1:
        raise CelEvalError("integer overflow")
    quotient = _truncated(left, right)
    return quotient if op == "/" else left - right * quotient


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _overload(where, value)
    return value


def _string_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise _overload("string", value)


def _size(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise _overload("size", value)


def _matches(text: Any, pattern: Any) -> bool:
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise _overload("matches", text, pattern)
    try:
        return re2(pattern).search(text) is not None
    except re.error as error:
        raise CelEvalError(f"invalid regular expression: {error}") from None


def _quantity(text: Any) -> Quantity:
    if not isinstance(text, str):
        raise _overload("quantity", text)
    try:
        return parse_quantity(text)
    except QuantityError as error:
        raise CelEvalError(str(error)) from None


def _is_quantity(text: Any) -> bool:
    if not isinstance(text, str):
        raise _overload("isQuantity", text)
    try:
        parse_quantity(text)
    except QuantityError:
        return False
    return True


def _substring(text: Any, start: Any, end: Any = None) -> str:
    end = len(text) if end is None and isinstance(text, str) else end
    if not isinstance(text, str) or _kind(start) != "int" or _kind(end) != "int":
        raise _overload("substring", text, start)
    if not 0 <= start <= len(text) or not start <= end <= len(text):
        raise CelEvalError(f"index out of range: substring({start}, {end}) of a string of {len(text)}")
    return text[start:end]


def _text_method(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def method(text: Any, other: Any) -> bool:
        if not isinstance(text, str) or not isinstance(other, str):
            raise _overload(name, text, other)
        return test(text, other)

    return method


def _quantities(name: str, left: Any, right: Any) -> int:
    if not isinstance(left, Quantity) or not isinstance(right, Quantity):
        raise _overload(name, left, right)
    return (left.value > right.value) - (left.value < right.value)


def _integer(value: Any) -> int:
    if not isinstance(value, Quantity):
        raise _overload("asInteger", value)
    if value.integer is None:
        raise CelEvalError("cannot convert value to integer")
    return value.integer


def _quantity_method(name: str, value: Any) -> Any:
    if not isinstance(value, Quantity):
        raise _overload(name, value)
    if name == "isInteger":
        return value.integer is not None
    return (value.value > 0) - (value.value < 0)


def _validate(form: Any, text: Any) -> _Optional:
    if not isinstance(form, _Format) or not isinstance(text, str):
        raise _overload("validate", form, text)
    return _Optional(form.check(text) or None)


def _optional(name: str, value: Any) -> Any:
    if not isinstance(value, _Optional):
        raise _overload(name, value)
    if name == "hasValue":
        return value.value is not None
    if value.value is None:
        raise CelEvalError("optional.none() dereference")
    return value.value


_METHOD_IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "matches": _matches,
    "contains": _text_method("contains", lambda text, part: part in text),
    "startsWith": _text_method("startsWith", str.startswith),
    "endsWith": _text_method("endsWith", str.endswith),
    "substring": _substring,
    "validate": _validate,
    "hasValue": lambda value: _optional("hasValue", value),
    "value": lambda value: _optional("value", value),
    "isInteger": lambda value: _quantity_method("isInteger", value),
    "asInteger": _integer,
    "sign": lambda value: _quantity_method("sign", value),
    "compareTo": lambda left, right: _quantities("compareTo", left, right),
    "isLessThan": lambda left, right: _quantities("isLessThan", left, right) < 0,
    "isGreaterThan": lambda left, right: _quantities("isGreaterThan", left, right) > 0,
}
_FUNCTION_IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "string": _string_of,
    "matches": _matches,
    "quantity": _quantity,
    "isQuantity": _is_quantity,
}


def _select(value: Any, field: str) -> Any:
    if not isinstance(value, dict):
        raise _overload(f".{field}", value)
    if field not in value:
        raise CelEvalError(f"no such key: {field}")
    return value[field]


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, list | tuple) and _kind(key) == "int":
        if not 0 <= key < len(value):
            raise CelEvalError(f"index out of range: {key} of a list of {len(value)}")
        return value[key]
    if isinstance(value, dict):
        if not isinstance(key, str) or key not in value:
            raise CelEvalError("no such key")
        return value[key]
    raise _overload("[]", value, key)


def _items(value: Any, macro: str) -> Sequence[Any]:
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, dict):
        return list(value)
    raise _overload(macro, value)


# --- compilation -------------------------------------------------------------------------------


def _compile(node: Node) -> Program:
    kind = node[0]
    if kind == "lit":
        value = node[1]
        return lambda env: value
    if kind == "var":
        name = node[1]
        return lambda env: env[name]
    if kind == "list":
        items = [_compile(item) for item in node[1]]
        return lambda env: [item(env) for item in items]
    if kind == "select":
        target, field = _compile(node[1]), node[2]
        return lambda env: _select(target(env), field)
    if kind == "has":
        target, field = _compile(node[1]), node[2]

        def has(env: Env) -> bool:
            value = target(env)
            if not isinstance(value, dict):
                raise _overload("has", value)
            return value.get(field) is not None  # a field given null is absent to the API server too

        return has
    if kind == "index":
        target, key = _compile(node[1]), _compile(node[2])
        return lambda env: _index(target(env), key(env))
    if kind == "not":
        operand = _compile(node[1])
        return lambda env: not _bool(operand(env), "!")
    if kind == "neg":
        operand = _compile(node[1])

        def negate(env: Env) -> int:
            value = operand(env)
            if _kind(value) != "int":
                raise _overload("-", value)
            return _int(-value)

        return negate
    if kind in ("and", "or"):
        return _logic(kind, _compile(node[1]), _compile(node[2]))
    if kind == "cond":
        condition, then, otherwise = (_compile(part) for part in node[1:])
        return lambda env: then(env) if _bool(condition(env), "?:") else otherwise(env)
    if kind == "binary":
        op, left, right = node[1], _compile(node[2]), _compile(node[3])
        return lambda env: _binary(op, left(env), right(env))
    if kind in _MACROS:
        return _macro(kind, _compile(node[1]), node[2], _compile(node[3]))
    if kind == "call":
        return _call(_FUNCTION_IMPLEMENTATIONS[node[1]], node[1], node[2])
    if kind == "method":
        return _call(_METHOD_IMPLEMENTATIONS[node[1]], node[1], [node[2], *node[3]])
    raise AssertionError(f"no compilation for {kind}")


def _call(function: Callable[..., Any], name: str, arguments: list[Node]) -> Program:
    if name == "matches" and arguments[1][0] == "lit" and isinstance(arguments[1][1], str):
        try:
            re2(arguments[1][1])
        except re.error as error:
            raise CelSyntaxError(f"matches(): invalid regular expression: {error}") from None
    compiled = [_compile(argument) for argument in arguments]
    return lambda env: function(*(argument(env) for argument in compiled))


def _logic(kind: str, left: Program, right: Program) -> Program:
    """`&&` (kind "and") or `||`: the side that decides wins over an error on the other."""
    deciding = kind == "or"
    where = "||" if deciding else "&&"

    def logic(env: Env) -> bool:
        try:
            first = _bool(left(env), where)
        except CelEvalError as error:
            try:
                second = _bool(right(env), where)
            except CelEvalError:
                second = None  # both sides failed: the left one's error is said, as cel-go does
            if second is deciding:
                return deciding
            raise error from None
        return deciding if first is deciding else _bool(right(env), where)

    return logic


def _macro(kind: str, target: Program, variable: str, predicate: Program) -> Program:
    """`all` (every item, or key of a map, satisfies the predicate) or `exists` (one does): the
    first item that decides wins over an error on another."""
    deciding = kind == "exists"

    def macro(env: Env) -> bool:
        failure = None
        for item in _items(target(env), kind):
            try:
                if _bool(predicate({**env, variable: item}), kind) is deciding:
                    return deciding
            except CelEvalError as error:
                failure = failure or error
        if failure:
            raise failure
        return not deciding

    return macro


@cache
def compile_rule(rule: str) -> Program:
    """`rule` compiled once per process: a function of the variables (`self`); CelSyntaxError when
    the rule is no CEL this module reads."""
    return _compile(_Parser(rule).parse())


def evaluate(rule: str, value: Any) -> Any:
    """The value of `rule` with `self` bound to `value`; CelEvalError when its evaluation fails."""
    return compile_rule(rule)({"self": value})
