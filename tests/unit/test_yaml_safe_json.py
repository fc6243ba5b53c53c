"""The two encoders that hand JSON to YAML parsers (the performer_render filter's `to_json`, whose
output the role loads as YAML, and the modules' apply-patch bodies, which the API server reads as
YAML) must give back every value exactly: characters outside the Basic Multilingual Plane, which
json.dumps escapes as surrogate pairs that YAML parsers refuse, included."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import yaml_safe_json
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import _to_json

VALUES = [
    "😀 🚀 𠜎 𝄞",
    {"env": [{"name": "A", "value": "x😀y"}], "args": ["🚀", "plain"]},
    'tab\tnew\nline quote" backslash\\',
    "del\x7f c1\x80\x9f nel\x85 ls\u2028 ps\u2029 bom\ufeff nc\ufffe é ß",
    "\\ud83d\\ude00 \\\\ud83d\\ude00",  # backslashes and letters that look like escapes
]


@pytest.mark.parametrize("encode", [yaml_safe_json, _to_json], ids=["hourglass_kube", "performer_render"])
@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_yaml_and_json_read_the_value_back(encode, value):
    text = encode(value)
    assert yaml.load(text, Loader=yaml.CSafeLoader) == value
    assert yaml.load(text, Loader=yaml.SafeLoader) == value
    assert json.loads(text) == value


def test_text_without_astral_characters_is_what_json_dumps_writes():
    # An unchanged text keeps the spec hash of every pod rendered before the fix.
    for value in VALUES[2:]:
        assert yaml_safe_json(value) == _to_json(value) == json.dumps(value)
