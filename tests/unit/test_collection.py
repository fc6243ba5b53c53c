"""The repository as the Ansible collection hourglass.operator: `ansible-galaxy collection build`
makes a tarball of the collection content only, `ansible-galaxy collection install` installs it
into any directory, and from there (with nothing of the checkout on Ansible's path) ansible-doc
documents every module and every role (their meta/argument_specs.yml)."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
import yaml
from ansible_collections.hourglass.operator.plugins.module_utils import performer_tasks

from tests.support import collection
from tests.support.paths import REPO

MODULES = sorted(f"hourglass.operator.{p.stem}" for p in (REPO / "plugins" / "modules").glob("*.py"))
ROLES = sorted(f"hourglass.operator.{p.name}" for p in (REPO / "roles").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> collection.InstalledCollection:
    return collection.build_and_install(tmp_path_factory.mktemp("collection"))


def ansible_doc(installed: collection.InstalledCollection, cwd, *args: str) -> dict:
    result = subprocess.run(
        [str(collection.BIN / "ansible-doc"), "-j", *args],
        capture_output=True, text=True, env=installed.env(), cwd=cwd, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_tarball_holds_the_collection_content_and_nothing_else(tmp_path):
    tarball = collection.build(tmp_path)
    with tarfile.open(tarball) as archive:
        top = {name.split("/")[0] for name in archive.getnames()}
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
    assert top == {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.md", "meta", "roles",
                   "plugins", "playbooks", "config", "crds", "watches.yaml", "requirements.yml"}  # fmt: skip
    assert (manifest["namespace"], manifest["name"]) == ("hourglass", "operator")
    pinned = {
        c["name"]: c["version"]
        for c in yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]
    }
    assert set(manifest["dependencies"]) == set(pinned)


def test_ansible_doc_documents_every_module_of_the_installed_collection(installed, tmp_path):
    docs = ansible_doc(installed, tmp_path, "-t", "module", *MODULES)
    assert sorted(docs) == MODULES
    for name, entry in docs.items():
        assert entry["doc"]["filename"] == str(
            installed.path / "plugins" / "modules" / f"{name.split('.')[-1]}.py"
        )
        assert entry["doc"]["description"] and entry["examples"], name
    assert {"kubeconfig", "context"} <= set(docs["hourglass.operator.performer_apply"]["doc"]["options"])


def test_each_module_documents_the_options_its_argument_spec_declares(installed, tmp_path):
    """What ansible-test's validate-modules checks: every option documented with the type, default,
    choices and requiredness the module's argument spec gives it (a documented type that is not one
    of Ansible's, say a description line slipped under `type:`, fails here)."""
    specs = {
        "hourglass.operator.performer_apply": performer_tasks.APPLY_ARGUMENT_SPEC,
        "hourglass.operator.performer_status": performer_tasks.STATUS_ARGUMENT_SPEC,
        "hourglass.operator.performer_reconcile": performer_tasks.RECONCILE_ARGUMENT_SPEC,
    }
    docs = ansible_doc(installed, tmp_path, "-t", "module", *specs)
    for name, spec in specs.items():
        documented = docs[name]["doc"]["options"]
        assert set(documented) == set(spec), name
        for option, declared in spec.items():
            doc = documented[option]
            where = f"{name} {option}"
            assert doc.get("type", "str") == declared.get("type", "str"), where
            assert doc.get("elements") == declared.get("elements"), where
            assert doc.get("default") == declared.get("default"), where
            assert doc.get("choices") == declared.get("choices"), where
            assert bool(doc.get("required")) == bool(declared.get("required")), where


def test_every_role_has_an_argument_spec_that_ansible_doc_reads(installed, tmp_path):
    assert {
        "hourglass.operator.performer",
        "hourglass.operator.operator",
        "hourglass.operator.executor",
    } <= set(ROLES)
    for role in ROLES:
        assert (REPO / "roles" / role.split(".")[-1] / "meta" / "argument_specs.yml").is_file(), role
        docs = ansible_doc(installed, tmp_path, "-t", "role", role)
        options = docs[role]["entry_points"]["main"]["options"]
        assert options, role
    defaults = yaml.safe_load((REPO / "roles" / "performer" / "defaults" / "main.yml").read_text())
    spec = ansible_doc(installed, tmp_path, "-t", "role", "hourglass.operator.performer")
    assert set(spec["hourglass.operator.performer"]["entry_points"]["main"]["options"]) == set(defaults)
