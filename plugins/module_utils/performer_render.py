"""Renders the performer role's Jinja templates (`performer_render`; also the filter of that name,
plugins/filter/performer_render.py, and what performer_reconcile renders with)
(`roles/performer/templates/performers.yaml.j2` and the pod/ and service/ templates it includes)
for every Performer of a batch, returning one document per Performer: its `pod` and `service`, or
the `error` that kept it from having them.

Why not Ansible's `template` lookup: Ansible's templar wraps every value it touches (lazy
containers, trust tags), which cost about 40 ms per Performer on these templates, 40 times what
plain Jinja2 takes; a batch of 1000 spent most of its run rendering. Here the same template files
are rendered by a plain Jinja2 environment with the few Ansible filters they use. Data from the
cluster stays data: plain Jinja2 never renders a value as a template, and every value is emitted
through `to_json`, so no CR string becomes YAML structure either.

Each Performer is rendered on its own: a template error for one becomes that Performer's `error`
and does not fail the batch. Admins who edit the templates can use the Jinja2 built-ins and the
filters registered below (`to_json`, `combine`, `hash`, `dict2items`, `unique`), and `contract`: the
names of the Performer contract (`performer_contract.template_names()`) the children carry.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_contract as contract
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import yaml_safe_json

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "performer" / "templates"
ENTRY = "performers.yaml.j2"
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _to_json(value: Any, **kwargs: Any) -> str:
    """JSON that a YAML loader reads back as the same value, whatever Unicode it holds (every escape
    but astral surrogate pairs stays, so an unchanged text keeps the spec hash of every pod rendered
    before)."""
    return yaml_safe_json(value, **kwargs)


def _combine(*dicts: dict) -> dict:
    merged: dict = {}
    for d in dicts:
        merged.update(d)
    return merged


def _hash(value: Any, algorithm: str = "sha1") -> str:
    return hashlib.new(algorithm, str(value).encode()).hexdigest()


def _dict2items(value: dict, key_name: str = "key", value_name: str = "value") -> list[dict]:
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _unique(values: list) -> list:
    seen: list = []
    for value in values:
        if value not in seen:  # items are dicts (tolerations): not hashable
            seen.append(value)
    return seen


def _environment(directory: str) -> jinja2.Environment:
    """The environment of the templates in `directory`, one per directory however it is named: a run
    names the role's templates by its role path, which may reach them through a link (a collection
    installed as a link to its source), where the warm Ansible named them by their own path."""
    return _environment_of(os.path.realpath(directory))


@cache
def _environment_of(directory: str) -> jinja2.Environment:
    # Whitespace handling as in Ansible's template engine, so the output (and the spec hash of the
    # pod, which covers the rendered text) is the same as the role's earlier template lookup.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        trim_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters.update(to_json=_to_json, combine=_combine, hash=_hash, dict2items=_dict2items, unique=_unique)
    return env


def warm_up(templates: str = str(TEMPLATES)) -> None:
    """Compiles the role's templates (about 30 ms), so that a process forked afterwards renders
    without compiling them: the warm Ansible calls it before it forks runs.
    A template file edited later is still seen: Jinja2 compares each file's modification time
    whenever a render loads it, and compiles it again when it changed. A template that does not
    compile is left to the renders, which report its error for each Performer."""
    env = _environment(templates)
    for name in env.list_templates(extensions=["j2"]):
        try:
            env.get_template(name)
        except jinja2.TemplateError:
            continue


def _identity(item: dict) -> tuple[str, str]:
    meta = ((item or {}).get("_hourglass_eigenlayer_io_performer") or {}).get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


# What rendering one Performer may raise: a template error, or a Performer of a shape no template
# expects (a list where a mapping belongs), which fails that Performer alone.
_RENDER_ERRORS = (jinja2.TemplateError, yaml.YAMLError, AttributeError, TypeError, ValueError, KeyError)


def performer_render(batch: list[dict], settings: dict, templates: str = str(TEMPLATES)) -> list[dict]:
    """One document per batch item: {namespace, name, pod, service} or {namespace, name, error}.
    `settings` holds the role's knobs the templates read (performer_*); `templates` the role's
    templates directory."""
    template = _environment(templates).get_template(ENTRY)
    settings = {**settings, "contract": contract.template_names()}
    documents = []
    for item in batch:
        try:
            text = template.render(settings, _performer_batch=[item])
            documents.extend(doc for doc in yaml.load_all(text, Loader=Loader) if doc)
        except _RENDER_ERRORS as error:
            namespace, name = _identity(item)
            documents.append({"namespace": namespace, "name": name, "error": f"rendering failed: {error}"})
    return documents
