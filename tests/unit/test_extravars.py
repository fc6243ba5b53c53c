"""Extra vars mark every string from the cluster unsafe, keep other types, and round-trip as JSON."""

from __future__ import annotations

import json

from hourglass_operator.extravars import dump_unsafe, mark_unsafe


def test_strings_are_wrapped_and_other_values_kept():
    value = {"a": "{{ x }}", "n": 1, "b": True, "z": None, "l": ["0x11", {"k": "v"}]}
    assert mark_unsafe(value) == {
        "a": {"__ansible_unsafe": "{{ x }}"}, "n": 1, "b": True, "z": None,
        "l": [{"__ansible_unsafe": "0x11"}, {"k": {"__ansible_unsafe": "v"}}],
    }  # fmt: skip


def test_dump_is_json():
    assert json.loads(dump_unsafe({"a": "b"})) == {"a": {"__ansible_unsafe": "b"}}
