"""The performer_render filter itself: one document per Performer, a Performer that cannot be
rendered gets an error without failing the others, and CR strings are never templates."""

from __future__ import annotations

import os
import shutil

import jinja2
import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils.performer_render import (
    TEMPLATES,
    performer_render,
    warm_up,
)

from tests.support.paths import REPO

SETTINGS = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
AVS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def item(name: str, **spec) -> dict:
    cr = {
        "apiVersion": "hourglass.eigenlayer.io/v1alpha1",
        "kind": "Performer",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"avsAddress": AVS, "image": "img:1", **spec},
    }
    return {"_hourglass_eigenlayer_io_performer": cr}


def test_every_performer_gets_its_pod_and_service():
    docs = performer_render([item("a"), item("b", config={"grpcPort": 7000})], SETTINGS)
    assert [
        (d["name"], d["pod"]["metadata"]["name"], d["service"]["spec"]["ports"][0]["port"]) for d in docs
    ] == [
        ("a", "performer-a", 8080),
        ("b", "performer-b", 7000),
    ]
    assert docs[0]["pod"]["metadata"]["ownerReferences"][0]["uid"] == "uid-a"


def test_a_performer_that_cannot_be_rendered_does_not_fail_the_others():
    broken = item("broken")
    del broken["_hourglass_eigenlayer_io_performer"]["spec"]
    docs = performer_render([item("a"), broken, item("c")], SETTINGS)
    assert [d["name"] for d in docs] == ["a", "broken", "c"]
    assert "pod" in docs[0] and "pod" in docs[2]
    assert docs[1]["error"].startswith("rendering failed:") and "spec" in docs[1]["error"]


def test_a_tee_type_without_tee_required_selects_nothing():
    """The CRD refuses it (and the one-off deploy's check); a Performer an older CRD admitted gets no TEE."""
    [doc] = performer_render([item("t", hardwareRequirements={"teeType": "sev"})], SETTINGS)
    spec = doc["pod"]["spec"]
    assert "nodeSelector" not in spec and "runtimeClassName" not in spec


def test_cr_strings_stay_data():
    jinja = "{{ lookup('pipe', 'id') }}"
    yaml_injection = 'x"\nkind: Secret\n'
    [doc] = performer_render([item("j", config={"environment": {"A": jinja, "B": yaml_injection}})], SETTINGS)
    env = {e["name"]: e["value"] for e in doc["pod"]["spec"]["containers"][0]["env"]}
    assert env == {"A": jinja, "B": yaml_injection}
    assert doc["pod"]["kind"] == "Pod"


# Outside the Basic Multilingual Plane (emoji, CJK extension B, musical symbols), characters YAML
# does not allow raw (DEL, C1 controls, U+FFFE) and ones it would read as line breaks (NEL, U+2028).
UNICODE = [
    "😀 🚀",
    "𠜎𝄞",
    "tab\tnew\nline",
    "del\x7f c1\x80\x9f nel\x85 ls\u2028 ps\u2029 bom\ufeff nc\ufffe",
]


def test_any_unicode_reaches_the_pod_verbatim():
    config = {
        "environment": {f"V{i}": value for i, value in enumerate(UNICODE)},
        "args": UNICODE,
        "command": ["/bin/🚀", *UNICODE],
    }
    [doc] = performer_render([item("u", image="registry.example/🚀:v1", config=config)], SETTINGS)
    assert "error" not in doc, doc.get("error")
    container = doc["pod"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/🚀:v1"
    assert {e["name"]: e["value"] for e in container["env"]} == config["environment"]
    assert container["args"] == UNICODE
    assert container["command"] == config["command"]


def test_escaped_backslashes_before_u_stay_text():
    value = "\\ud83d\\ude00 \\\\ud83d\\ude00"  # backslashes and letters, no surrogates
    [doc] = performer_render([item("b", config={"args": [value]})], SETTINGS)
    assert doc["pod"]["spec"]["containers"][0]["args"] == [value]


def test_after_warm_up_rendering_compiles_nothing(tmp_path, monkeypatch):
    """What the warm Ansible's forked runs inherit: every template the role renders, compiled."""
    templates = shutil.copytree(TEMPLATES, tmp_path / "templates")
    warm_up(str(templates))

    def compile_(*_args, **_kwargs):
        raise AssertionError("a template was compiled after warm_up")

    monkeypatch.setattr(jinja2.Environment, "compile", compile_)
    [doc] = performer_render([item("w")], SETTINGS, str(templates))
    assert doc["pod"]["metadata"]["name"] == "performer-w" and doc["service"]["kind"] == "Service"


def test_warmed_templates_reached_through_a_link_are_not_compiled_again(tmp_path, monkeypatch):
    """A run names the templates by its role path, which reaches them through a link when the
    collection is installed as a link to its source; the warm Ansible named them by their own path."""
    templates = shutil.copytree(TEMPLATES, tmp_path / "templates")
    (tmp_path / "linked").symlink_to(templates, target_is_directory=True)
    warm_up(str(templates))

    def compile_(*_args, **_kwargs):
        raise AssertionError("a template was compiled again")

    monkeypatch.setattr(jinja2.Environment, "compile", compile_)
    [doc] = performer_render([item("l")], SETTINGS, str(tmp_path / "linked"))
    assert doc["pod"]["metadata"]["name"] == "performer-l"


EDITS = {  # a template file, a text in it and its replacement, what the edit changes
    "service": ("service/service.yaml.j2", "type: ClusterIP", "type: NodePort"),
    "entry": ("performers.yaml.j2", "{% include 'service/service.yaml.j2' %}", ""),
}


@pytest.mark.parametrize("edited", EDITS)
def test_a_template_edited_after_warm_up_is_rendered_as_edited(tmp_path, edited):
    templates = shutil.copytree(TEMPLATES, tmp_path / "templates")
    warm_up(str(templates))
    [before] = performer_render([item("e")], SETTINGS, str(templates))
    name, old, new = EDITS[edited]
    path = templates / name
    path.write_text(path.read_text().replace(old, new))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a newer mtime, whatever its resolution
    [after] = performer_render([item("e")], SETTINGS, str(templates))
    assert before["service"]["spec"]["type"] == "ClusterIP"
    expected = {"service": "NodePort", "entry": None}[edited]  # the entry edit dropped the Service
    assert (after.get("service") or {}).get("spec", {}).get("type") == expected


def test_a_template_that_does_not_compile_fails_the_renders_not_the_warm_up(tmp_path):
    templates = shutil.copytree(TEMPLATES, tmp_path / "templates")
    service = templates / "service" / "service.yaml.j2"
    service.write_text(service.read_text() + "{% if %}\n")
    warm_up(str(templates))  # the warm Ansible goes on preloading
    [doc] = performer_render([item("s")], SETTINGS, str(templates))
    assert doc["error"].startswith("rendering failed:") and "pod" not in doc
