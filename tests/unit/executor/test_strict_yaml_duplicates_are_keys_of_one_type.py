"""strict_yaml reports a duplicate only for keys YAML reads as equal (same tag and text), never merge keys."""

from __future__ import annotations

import textwrap

import pytest
from hourglass_executor.strict_yaml import YamlProblem, parse_yaml

pytestmark = pytest.mark.unit


def test_an_integer_key_and_the_same_digits_as_a_string_are_two_keys() -> None:
    data, duplicates = parse_yaml('1: integer\n"1": string\n')
    assert data == {1: "integer", "1": "string"}
    assert duplicates == []


def test_two_merge_keys_in_one_mapping_are_not_duplicates() -> None:
    text = textwrap.dedent(
        """\
        base: &base {x: 1}
        more: &more {y: 2}
        merged:
          <<: *base
          <<: *more
          z: 3
        """
    )
    data, duplicates = parse_yaml(text)
    assert duplicates == []
    assert data["merged"]["z"] == 3 and data["merged"]["x"] == 1


def test_the_same_text_twice_is_a_duplicate_at_the_second_keys_position() -> None:
    _, duplicates = parse_yaml('a: 1\n"a": 2\n')
    assert duplicates == [YamlProblem("line 2, column 1", 'duplicate key "a"')]
