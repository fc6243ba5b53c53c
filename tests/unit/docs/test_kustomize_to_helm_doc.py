"""docs/kustomize-to-helm.md against what it moves: every object `kubectl kustomize config/default`
builds that the chart charts/hourglass-operator also renders (for the release `hourglass-operator`
in `hourglass-system`) is either given Helm's ownership metadata by the doc's commands (so that
`helm install` adopts it) or, when a field that cannot change differs between the two (the
Deployment's selector, a binding's roleRef), deleted by them before `helm install`.

kubectl as the other kustomize tests find it (HOURGLASS_TEST_KUBECTL, the local control plane's, or
the one on PATH), helm as hack/helm/build.sh builds it; skipped when either is missing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.docs_commands import shell_blocks
from tests.support.helm import NAMESPACE, RELEASE, Helm, helm_binary, kustomize
from tests.support.paths import REPO

DOC = REPO / "docs" / "kustomize-to-helm.md"
# What the doc explains it leaves out: the CRD (`--skip-crds`) and the namespace (outside the release).
NOT_IN_THE_CHART = {"Namespace", "CustomResourceDefinition"}
# Fields an update cannot change: an object whose value differs must be deleted, not adopted.
IMMUTABLE: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "selector"),
    "RoleBinding": ("roleRef",),
    "ClusterRoleBinding": ("roleRef",),
}
LOOP = re.compile(r"^for object in (?P<objects>.*?); do\n(?P<body>.*?)\ndone$", re.MULTILINE | re.DOTALL)
DELETE = re.compile(
    r'^kubectl (?P<namespaced>-n "\$namespace" )?delete (?P<kind>[a-z]+) (?P<name>\S+)', re.MULTILINE
)

Key = tuple[str, str, str | None]  # (kind, name, namespace or None for a cluster-scoped object)


def key(obj: dict[str, Any]) -> Key:
    return obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")


def field(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj.get(part) or {}
    return obj


@pytest.fixture(scope="module")
def kustomized() -> dict[Key, dict[str, Any]]:
    try:
        objects = kustomize(REPO / "config" / "default")
    except RuntimeError as error:  # no kubectl anywhere
        pytest.skip(str(error))
    return {key(o): o for o in objects}


@pytest.fixture(scope="module")
def charted(tmp_path_factory: pytest.TempPathFactory) -> dict[Key, dict[str, Any]]:
    helm = Helm(helm_binary(), tmp_path_factory.mktemp("helm"))
    return {key(o): o for o in helm.objects(release=RELEASE, namespace=NAMESPACE)}


def the_commands(doc: Path) -> str:
    """The shell block that runs `helm install`, its continued lines joined."""
    blocks = [b.text for b in shell_blocks(doc) if "helm install" in b.text]
    assert len(blocks) == 1, (
        f"{doc.name}: expected one command block with `helm install`, found {len(blocks)}"
    )
    return blocks[0].replace("\\\n", " ")


def adopted(commands: str) -> set[tuple[str, str, bool]]:
    """(kind in lower case, name, namespaced) of the objects a loop gives Helm's ownership metadata."""
    found = set()
    for loop in LOOP.finditer(commands):
        body = loop["body"]
        if not all(
            part in body
            for part in (
                'annotate "$object" meta.helm.sh/release-name="$release"',
                'meta.helm.sh/release-namespace="$namespace"',
                'label "$object" app.kubernetes.io/managed-by=Helm',
            )
        ):
            continue
        namespaced = body.count('kubectl -n "$namespace" ') == 2
        for word in loop["objects"].split():
            kind, _, name = word.partition("/")
            found.add((kind, name, namespaced))
    return found


def deleted_before_install(commands: str) -> set[tuple[str, str, bool]]:
    before = commands[: commands.index("helm install")]
    return {(m["kind"], m["name"], bool(m["namespaced"])) for m in DELETE.finditer(before)}


def test_every_object_both_create_is_adopted_or_deleted_before_helm_install(
    kustomized: dict[Key, dict[str, Any]], charted: dict[Key, dict[str, Any]]
) -> None:
    # The doc's claim this rests on: the chart creates every object of config/default but these.
    left = {k for k in kustomized if k not in charted and k[0] not in NOT_IN_THE_CHART}
    assert not left, f"objects of config/default the chart does not create (the doc says it does): {left}"
    commands = the_commands(DOC)
    assert f"namespace={NAMESPACE} release={RELEASE}\n" in commands
    assert 'helm install "$release" charts/hourglass-operator -n "$namespace"' in commands
    adopts, deletes = adopted(commands), deleted_before_install(commands)
    missing, wrong = [], []
    for k in sorted(kustomized.keys() & charted.keys(), key=str):
        kind, name, namespace = k
        word = (kind.lower(), name, namespace is not None)
        path = IMMUTABLE.get(kind)
        if path and field(kustomized[k], path) != field(charted[k], path):
            if word not in deletes:
                wrong.append(
                    f"{kind}/{name}: its {'.'.join(path)} differs and cannot change, delete it first"
                )
        elif word not in adopts:
            missing.append(f"{kind}/{name}" + (f" in {namespace}" if namespace else " (cluster-scoped)"))
    assert (missing, wrong) == ([], []), (
        f"{DOC.name}: not annotated and labelled, so `helm install` refuses them: {missing}; "
        f"not deleted before `helm install`: {wrong}"
    )
