"""Every string of the extra vars is marked unsafe in whatever sequence it comes (a tuple is written
as a JSON list like any other), so no CR string reaches Ansible as a template."""

from __future__ import annotations

import json

from hourglass_operator.extravars import dump_unsafe, mark_unsafe

JINJA = "{{ lookup('pipe', 'id') }}"


def test_strings_in_a_tuple_are_marked_unsafe():
    assert mark_unsafe(("a", (JINJA, 1))) == [{"__ansible_unsafe": "a"}, [{"__ansible_unsafe": JINJA}, 1]]
    dumped = json.loads(dump_unsafe({"args": (JINJA,), "nested": {"pair": ("x", None)}}))
    assert dumped == {
        "args": [{"__ansible_unsafe": JINJA}],
        "nested": {"pair": [{"__ansible_unsafe": "x"}, None]},
    }
